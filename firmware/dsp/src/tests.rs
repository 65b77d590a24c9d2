//! Golden vectors worked out by hand from the rules in the crate docs, and a
//! comparison with an independent wide-integer model of the same rules.

extern crate std;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::testvec::{FIRMWARE, Spec, Xorshift32};

fn filter(taps: &[i16], frame_len: usize, input: &[i16]) -> Vec<i16> {
    let mut out = vec![0; input.len()];
    fir_q15(taps, frame_len, input, &mut out).expect("valid shape");
    out
}

/// y = x/2: every tie shows the rounding direction.
#[test]
fn half_gain_rounds_to_nearest_ties_up() {
    let x = [2, 3, -3, 1, -1, 32767, -32768];
    // 1, 1.5→2, -1.5→-1, 0.5→1, -0.5→0, 16383.5→16384, -16384.
    assert_eq!(filter(&[0x4000], 7, &x), [1, 2, -1, 1, 0, 16384, -16384]);
}

/// (2^14·h·x) just below and above a rounding boundary.
#[test]
fn rounding_boundaries() {
    // 1·16383 = 16383 < 2^14 → 0; 1·16384 = 2^14 → 1 (a tie rounds up).
    assert_eq!(filter(&[1], 2, &[16383, 16384]), [0, 1]);
    // -16384 + 16384 = 0 → 0; -16385 + 16384 = -1 → floor(-1/2^15) = -1.
    assert_eq!(filter(&[-1], 2, &[16384, 16385]), [0, -1]);
}

#[test]
fn saturates_both_ways() {
    // -1.0 · -1.0 = +1.0, which Q15 cannot hold.
    assert_eq!(filter(&[i16::MIN], 1, &[i16::MIN]), [i16::MAX]);
    // 2 · 0.99997² ≈ 1.99988 → +32767; the first sample (one product) fits.
    assert_eq!(
        filter(&[i16::MAX, i16::MAX], 2, &[i16::MAX, i16::MAX]),
        [32766, i16::MAX]
    );
    // -2 · 0.99997 → -32768.
    assert_eq!(
        filter(&[i16::MAX, i16::MAX], 2, &[i16::MIN, i16::MIN]),
        [-32767, i16::MIN]
    );
    // Saturation applies to the final sum only: -0.75 - 0.75 clamps, but
    // -0.75 - 0.75 + 0.75 does not.
    assert_eq!(
        filter(&[0x6000, 0x6000, -0x6000], 3, &[i16::MIN; 3]),
        [-0x6000, i16::MIN, -0x6000]
    );
}

#[test]
fn frames_start_from_zero_history() {
    // A pure two-sample delay: each frame's first two outputs see zeros, not
    // the previous frame's tail.
    let x = [1000, 2000, 3000, 4000, 5000, 6000];
    assert_eq!(filter(&[0, 0, i16::MAX], 3, &x), [0, 0, 1000, 0, 0, 4000]);
}

#[test]
fn taps_longer_than_frame() {
    let taps = [0x4000; 8];
    assert_eq!(filter(&taps, 3, &[2, 2, 2]), [1, 2, 3]);
}

#[test]
fn rejects_bad_shapes() {
    let mut out = [7i16; 4];
    assert_eq!(
        fir_q15(&[], 2, &[0; 4], &mut out),
        Err(FirError::TapCount(0))
    );
    assert_eq!(
        fir_q15(&[0; MAX_TAPS + 1], 2, &[0; 4], &mut out),
        Err(FirError::TapCount(MAX_TAPS + 1))
    );
    assert_eq!(
        fir_q15(&[1], 0, &[0; 4], &mut out),
        Err(FirError::EmptyFrame)
    );
    assert_eq!(
        fir_q15(&[1], 3, &[0; 4], &mut out),
        Err(FirError::PartialFrame {
            len: 4,
            frame_len: 3
        })
    );
    assert_eq!(
        fir_q15(&[1], 2, &[0; 2], &mut out),
        Err(FirError::OutputLength {
            input: 2,
            output: 4
        })
    );
    assert_eq!(out, [7; 4], "a rejected call leaves the output alone");
}

/// The rules restated with i128 and explicit floor division, independent of
/// the slicing in `fir_sample`.
fn model(taps: &[i16], frame_len: usize, input: &[i16]) -> Vec<i16> {
    let mut out = Vec::with_capacity(input.len());
    for frame in input.chunks(frame_len) {
        for n in 0..frame.len() {
            let mut acc: i128 = 0;
            for (k, &h) in taps.iter().enumerate() {
                if k <= n {
                    acc += i128::from(h) * i128::from(frame[n - k]);
                }
            }
            let q = (acc + 16384).div_euclid(32768);
            out.push(q.clamp(-32768, 32767) as i16);
        }
    }
    out
}

#[test]
fn matches_wide_integer_model() {
    let mut rng = Xorshift32::new(7);
    for (taps, frame_len, frames) in [(1, 1, 5), (3, 17, 4), (16, 64, 8), (MAX_TAPS, 300, 2)] {
        let h: Vec<i16> = (0..taps).map(|_| rng.next_q15()).collect();
        let x: Vec<i16> = (0..frame_len * frames).map(|_| rng.next_q15()).collect();
        assert_eq!(filter(&h, frame_len, &x), model(&h, frame_len, &x));
    }
}

#[test]
fn fnv1a_reference_vectors() {
    // From the FNV reference test suite (draft-eastlake-fnv).
    assert_eq!(Fnv1a::new().finish(), 0x811c_9dc5);
    let mut h = Fnv1a::new();
    h.write_bytes(b"a");
    assert_eq!(h.finish(), 0xe40c_292c);
    let mut h = Fnv1a::new();
    h.write_bytes(b"foobar");
    assert_eq!(h.finish(), 0xbf9c_f968);
    // Samples hash as little-endian bytes: "fo", "ob", "ar".
    assert_eq!(
        digest(&[
            i16::from_le_bytes(*b"fo"),
            i16::from_le_bytes(*b"ob"),
            i16::from_le_bytes(*b"ar")
        ]),
        0xbf9c_f968
    );
}

fn firmware_output(spec: &Spec) -> (Vec<i16>, Vec<i16>, Vec<i16>) {
    let mut taps = vec![0; spec.taps];
    let mut input = vec![0; spec.len()];
    spec.fill(&mut taps, &mut input);
    let out = filter(&taps, spec.frame_len, &input);
    (taps, input, out)
}

/// The firmware vector exercises saturation in both directions, so the
/// QEMU digests cover the clamp.
#[test]
fn firmware_vector_saturates() {
    let (taps, input, out) = firmware_output(&FIRMWARE);
    let wide = model(&taps, FIRMWARE.frame_len, &input);
    assert_eq!(out, wide);
    let unclamped = |i: usize| {
        let n = i % FIRMWARE.frame_len;
        let frame = &input[i - n..];
        (0..=n.min(taps.len() - 1))
            .map(|k| i64::from(taps[k]) * i64::from(frame[n - k]))
            .sum::<i64>()
    };
    let high = (0..out.len()).filter(|&i| (unclamped(i) + 16384) >> 15 > 32767);
    let low = (0..out.len()).filter(|&i| (unclamped(i) + 16384) >> 15 < -32768);
    let (high, low) = (high.count(), low.count());
    assert!(high > 0 && low > 0);
}

/// Golden digest of the firmware vector: the value `qemu/expected/fir.txt`
/// holds. A change here is a change of arithmetic or of the test signal.
#[test]
fn firmware_vector_digest() {
    let (_, _, out) = firmware_output(&FIRMWARE);
    assert_eq!(digest(&out), FIRMWARE_DIGEST);
}

const FIRMWARE_DIGEST: u32 = 0xa9293a19;
