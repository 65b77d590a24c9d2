//! Q15 fixed-point FIR filtering, defined once and executed bit-exactly by
//! the firmware (Cortex-M3, RV32IMAC), the host CPU and the GPU kernels of
//! the `native` crate.
//!
//! # Arithmetic (modelled on CMSIS-DSP `arm_fir_q15`)
//!
//! Coefficients `h` and samples `x` are Q15 (`i16`, value = raw / 2^15, range
//! [-1, 1 - 2^-15]). Each frame is an independent signal whose history before
//! its first sample is zero. For a frame of `N` samples and `T` taps, output
//! sample `n` (0 ≤ n < N) is
//!
//! ```text
//! acc  = Σ_{k=0}^{min(n, T-1)} h[k] · x[n-k]        products Q30, summed exactly in i64 (Q34.30)
//! y[n] = sat16((acc + 2^14) >> 15)                 ">>" is an arithmetic shift (floor)
//! ```
//!
//! - **Accumulation**: every product is exact (|h·x| ≤ 2^30) and the sum of at
//!   most [`MAX_TAPS`] products is exact in `i64` (|acc| ≤ 2^38), so, as in
//!   `arm_fir_q15`, there is no intermediate overflow and the summation order
//!   does not matter.
//! - **Rounding**: unlike `arm_fir_q15`, which truncates, the Q30 sum is
//!   rounded to Q15 by adding 2^14 and shifting right arithmetically: round to
//!   nearest, ties toward +∞ (1.5 LSB → 2, -1.5 LSB → -1).
//! - **Saturation**: the rounded value is clamped to [-32768, 32767], as the
//!   `__SSAT(x, 16)` in `arm_fir_q15` does. `h = x = -1.0` gives +32767.
//!
//! A batch is `frames × frame_len` samples, frame after frame (row-major);
//! the output has the same shape.
//!
//! The digest of an output is FNV-1a (32-bit; offset basis 0x811C9DC5, prime
//! 0x01000193) over the samples as little-endian bytes, so the firmware can
//! print one word that the host recomputes.
#![no_std]

pub mod testvec;

/// The largest tap count accepted, which bounds |acc| to 2^38 and lets a GPU
/// keep all coefficients in on-chip memory.
pub const MAX_TAPS: usize = 256;

/// Why a filter call was rejected. Lengths are in samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirError {
    /// `taps` is empty or longer than [`MAX_TAPS`].
    TapCount(usize),
    /// `frame_len` is zero.
    EmptyFrame,
    /// `input.len()` is not a whole number of frames.
    PartialFrame { len: usize, frame_len: usize },
    /// `output.len()` differs from `input.len()`.
    OutputLength { input: usize, output: usize },
}

impl core::fmt::Display for FirError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TapCount(n) => write!(f, "{n} taps; expected 1 to {MAX_TAPS}"),
            Self::EmptyFrame => f.write_str("frame length is zero"),
            Self::PartialFrame { len, frame_len } => write!(
                f,
                "{len} input samples are not a whole number of {frame_len}-sample frames"
            ),
            Self::OutputLength { input, output } => {
                write!(f, "output holds {output} samples; input has {input}")
            }
        }
    }
}

/// Checks the shape of a batch call; every backend validates with this so
/// they reject the same inputs.
///
/// Errors: see [`FirError`].
pub fn check_batch(
    taps: usize,
    frame_len: usize,
    input: usize,
    output: usize,
) -> Result<(), FirError> {
    if taps == 0 || taps > MAX_TAPS {
        return Err(FirError::TapCount(taps));
    }
    if frame_len == 0 {
        return Err(FirError::EmptyFrame);
    }
    if !input.is_multiple_of(frame_len) {
        return Err(FirError::PartialFrame {
            len: input,
            frame_len,
        });
    }
    if input != output {
        return Err(FirError::OutputLength { input, output });
    }
    Ok(())
}

/// Rounds a Q34.30 accumulator to Q15 and saturates it: `sat16((acc + 2^14) >> 15)`.
#[inline]
pub const fn round_saturate(acc: i64) -> i16 {
    let r = (acc + (1 << 14)) >> 15;
    if r > i16::MAX as i64 {
        i16::MAX
    } else if r < i16::MIN as i64 {
        i16::MIN
    } else {
        r as i16
    }
}

/// Output sample `n` of `frame` (see the crate docs). `taps` must hold 1 to
/// [`MAX_TAPS`] coefficients and `n < frame.len()`.
#[inline]
pub fn fir_sample(taps: &[i16], frame: &[i16], n: usize) -> i16 {
    let history = &frame[n.saturating_sub(taps.len() - 1)..=n];
    // history[j] = x[n - k] with k = history.len() - 1 - j.
    let acc = history
        .iter()
        .rev()
        .zip(taps)
        .fold(0i64, |acc, (&x, &h)| acc + i64::from(x) * i64::from(h));
    round_saturate(acc)
}

/// Filters one frame of `input` into `output` (same length, checked by the
/// caller) with zero history.
#[inline]
pub fn fir_frame(taps: &[i16], input: &[i16], output: &mut [i16]) {
    for (n, y) in output.iter_mut().enumerate() {
        *y = fir_sample(taps, input, n);
    }
}

/// Filters a batch of `input.len() / frame_len` frames into `output`.
///
/// Errors: the shapes are invalid (see [`check_batch`]); `output` is then
/// left untouched.
pub fn fir_q15(
    taps: &[i16],
    frame_len: usize,
    input: &[i16],
    output: &mut [i16],
) -> Result<(), FirError> {
    check_batch(taps.len(), frame_len, input.len(), output.len())?;
    for (x, y) in input
        .chunks_exact(frame_len)
        .zip(output.chunks_exact_mut(frame_len))
    {
        fir_frame(taps, x, y);
    }
    Ok(())
}

/// FNV-1a, 32-bit (IETF draft-eastlake-fnv): the digest the firmware prints.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a(u32);

impl Fnv1a {
    const OFFSET_BASIS: u32 = 0x811C_9DC5;
    const PRIME: u32 = 0x0100_0193;

    pub const fn new() -> Self {
        Self(Self::OFFSET_BASIS)
    }

    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u32::from(b)).wrapping_mul(Self::PRIME);
        }
    }

    /// Hashes each sample as two little-endian bytes.
    pub fn write_samples(&mut self, samples: &[i16]) {
        for s in samples {
            self.write_bytes(&s.to_le_bytes());
        }
    }

    pub const fn finish(&self) -> u32 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

/// FNV-1a digest of `samples` (little-endian bytes).
pub fn digest(samples: &[i16]) -> u32 {
    let mut h = Fnv1a::new();
    h.write_samples(samples);
    h.finish()
}

#[cfg(test)]
mod tests;
