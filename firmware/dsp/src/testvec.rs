//! Deterministic test signals shared by the firmware `fir` image and the host
//! reference, so both sides filter the same batch without storing it.

use crate::MAX_TAPS;

/// Marsaglia xorshift32 (shifts 13, 17, 5). Cheap on a Cortex-M3 and RV32;
/// the state must be non-zero.
#[derive(Clone, Copy, Debug)]
pub struct Xorshift32(u32);

impl Xorshift32 {
    /// Errors: none; a zero seed is replaced by 1 (zero is a fixed point).
    pub const fn new(seed: u32) -> Self {
        Self(if seed == 0 { 1 } else { seed })
    }

    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// A full-scale Q15 sample: the high half of the next word.
    pub fn next_q15(&mut self) -> i16 {
        (self.next_u32() >> 16) as u16 as i16
    }
}

/// The shape of a generated batch: sizes in samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub seed: u32,
    pub frames: usize,
    pub frame_len: usize,
    pub taps: usize,
}

/// The batch the firmware `fir` image filters and digests: 4 frames of 64
/// samples, 16 taps (2 KiB of buffers, within the smallest board's RAM).
pub const FIRMWARE: Spec = Spec {
    seed: 0x5EED_F17E,
    frames: 4,
    frame_len: 64,
    taps: 16,
};

impl Spec {
    /// Number of input (and output) samples.
    pub const fn len(&self) -> usize {
        self.frames * self.frame_len
    }

    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `taps` (length `self.taps` ≤ [`MAX_TAPS`]) and `input` (length
    /// [`Self::len`]).
    ///
    /// Taps are Q15 values in [-0.125, 0.375), a low-pass with a DC gain near
    /// `taps / 8`, so loud input saturates. Frame 0 is full-scale noise,
    /// frame 1 a step to +full scale and frame 2 to -full scale (saturation in
    /// both directions once the gain passes 1), the rest is noise at a
    /// quarter of full scale.
    ///
    /// Panics: the slices have other lengths.
    pub fn fill(&self, taps: &mut [i16], input: &mut [i16]) {
        assert!(taps.len() == self.taps && self.taps <= MAX_TAPS);
        assert!(input.len() == self.len());
        let mut rng = Xorshift32::new(self.seed);
        for h in taps.iter_mut() {
            *h = (rng.next_q15() >> 2) + 0x1000;
        }
        for (f, frame) in input.chunks_exact_mut(self.frame_len).enumerate() {
            for x in frame.iter_mut() {
                *x = match f {
                    0 => rng.next_q15(),
                    1 => i16::MAX,
                    2 => i16::MIN,
                    _ => rng.next_q15() >> 2,
                };
            }
        }
    }
}
