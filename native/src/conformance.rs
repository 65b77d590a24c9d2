//! Bit-exactness checks of a backend against the CPU reference
//! (`dsp::fir_q15` on one thread), shared by the tests, the `selftest`
//! example that `cargo xtask native` runs, and GPU runners.

use dsp::testvec::{FIRMWARE, Spec, Xorshift32};

use crate::Context;

/// Shapes that cover the edges: one tap, taps longer than a frame, one-sample
/// frames, [`dsp::MAX_TAPS`], batches that need many thread blocks and the
/// CPU's parallel path. Each is (taps, frame_len, frames).
const SHAPES: [(usize, usize, usize); 8] = [
    (1, 1, 3),
    (1, 64, 4),
    (16, 64, 4),
    (31, 7, 5),
    (dsp::MAX_TAPS, 300, 3),
    (17, 4096, 64),
    (64, 1 << 16, 8),
    (8, 1, 1 << 17),
];

/// What [`check`] compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub batches: usize,
    pub samples: usize,
    /// Digest of the firmware test vector's output on this backend.
    pub firmware_digest: u32,
}

/// The reference output of `spec` and its inputs.
pub fn reference(spec: &Spec) -> (Vec<i16>, Vec<i16>, Vec<i16>) {
    let mut taps = vec![0; spec.taps];
    let mut input = vec![0; spec.len()];
    spec.fill(&mut taps, &mut input);
    let mut out = vec![0; input.len()];
    // `fill` produces a valid shape for every `Spec` used here.
    dsp::fir_q15(&taps, spec.frame_len, &input, &mut out).expect("valid test shape");
    (taps, input, out)
}

/// The conformance vectors: the firmware's, then one per shape in
/// `SHAPES` (full-scale noise, so the clamp is hit).
pub fn specs() -> Vec<Spec> {
    let shapes = SHAPES
        .iter()
        .enumerate()
        .map(|(i, &(taps, frame_len, frames))| Spec {
            seed: 0x9E37_79B9 ^ i as u32,
            frames,
            frame_len,
            taps,
        });
    std::iter::once(FIRMWARE).chain(shapes).collect()
}

/// Filters every vector of [`specs`] on `ctx` and compares each output
/// sample with the reference.
///
/// Errors: the first mismatch (batch, index, values) or a device error.
pub fn check(ctx: &mut Context) -> Result<Summary, String> {
    let mut summary = Summary {
        batches: 0,
        samples: 0,
        firmware_digest: 0,
    };
    for (i, spec) in specs().iter().enumerate() {
        let (taps, input, expected) = reference(spec);
        let mut got = vec![0x5555; input.len()];
        ctx.filter(&taps, spec.frame_len, &input, &mut got)
            .map_err(|e| format!("{spec:?}: {e}"))?;
        if let Some(at) = got.iter().zip(&expected).position(|(g, e)| g != e) {
            return Err(format!(
                "{}: {spec:?}: sample {at} (frame {}, n {}) is {}, the CPU reference gives {}",
                ctx.backend(),
                at / spec.frame_len,
                at % spec.frame_len,
                got[at],
                expected[at]
            ));
        }
        if i == 0 {
            summary.firmware_digest = dsp::digest(&got);
        }
        summary.batches += 1;
        summary.samples += got.len();
    }
    // Random taps on a random signal the generator did not shape.
    let mut rng = Xorshift32::new(0xC0FFEE);
    let taps: Vec<i16> = (0..33).map(|_| rng.next_q15()).collect();
    let input: Vec<i16> = (0..33 * 1000).map(|_| rng.next_q15()).collect();
    let mut expected = vec![0; input.len()];
    dsp::fir_q15(&taps, 1000, &input, &mut expected).map_err(|e| e.to_string())?;
    let mut got = vec![0; input.len()];
    ctx.filter(&taps, 1000, &input, &mut got)
        .map_err(|e| e.to_string())?;
    if got != expected {
        return Err(format!("{}: random 33-tap batch differs", ctx.backend()));
    }
    summary.batches += 1;
    summary.samples += got.len();
    Ok(summary)
}
