//! The GPU kernel sources as the backends embed them. Both kernels take
//! their arithmetic from `kernels/fir_q15.h`: `cuda/fir.cu` includes it when
//! nvcc builds the fatbin, and the build script inlines it into
//! `metal/fir.metal` because Metal compiles that source from a string. The
//! tests compile the same header for the host and compare it with
//! `dsp::fir_q15`.

/// The entry point of both kernels (`extern "C"` in CUDA, `kernel` in MSL).
pub const KERNEL: &str = "fir_q15";

/// `metal/fir.metal` with its quoted includes inlined (see `build.rs`).
#[cfg(any(test, target_os = "macos"))]
pub const MSL: &str = include_str!(concat!(env!("OUT_DIR"), "/fir.metal"));

#[cfg(test)]
mod tests;
