//! The CPU backend's inner loop, compiled for the widest SIMD this CPU has.
#![allow(unsafe_code)] // Calling the AVX2 build of the loop after run-time detection.

/// Outputs computed together: their accumulators stay in registers or L1.
const BLOCK: usize = 256;

/// Filters whole frames with the widest SIMD this CPU has: AVX2 (4 × i64
/// lanes) where detected at run time, else the target's baseline (SSE2).
/// The shape was checked by the caller.
pub fn filter_frames(taps: &[i16], frame_len: usize, input: &[i16], output: &mut [i16]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { filter_frames_avx2(taps, frame_len, input, output) };
    }
    filter_frames_portable(taps, frame_len, input, output)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn filter_frames_avx2(taps: &[i16], frame_len: usize, input: &[i16], output: &mut [i16]) {
    filter_frames_portable(taps, frame_len, input, output)
}

/// Instead of one dot product per output (as `dsp::fir_sample`), each tap is
/// applied to a block of outputs at once, an inner loop over contiguous
/// samples that the compiler vectorises. The sum is exact either way (see
/// `dsp`), so the order does not change the result.
#[inline(always)]
fn filter_frames_portable(taps: &[i16], frame_len: usize, input: &[i16], output: &mut [i16]) {
    let history = taps.len() - 1;
    // The frame behind `history` zeros, so that x[n - k] needs no bounds test.
    let mut padded = vec![0i16; history + frame_len];
    for (x, y) in input
        .chunks_exact(frame_len)
        .zip(output.chunks_exact_mut(frame_len))
    {
        padded[history..].copy_from_slice(x);
        for (b, y) in y.chunks_mut(BLOCK).enumerate() {
            let mut acc = [0i64; BLOCK];
            let acc = &mut acc[..y.len()];
            for (k, &h) in taps.iter().enumerate() {
                let h = i32::from(h);
                // padded[base + j + history - k] = x[base + j - k].
                let xs = &padded[b * BLOCK + history - k..][..y.len()];
                for (a, &x) in acc.iter_mut().zip(xs) {
                    // |h·x| ≤ 2^30 fits i32; only the sum needs i64.
                    *a += i64::from(h * i32::from(x));
                }
            }
            for (y, &a) in y.iter_mut().zip(acc.iter()) {
                *y = dsp::round_saturate(a);
            }
        }
    }
}
