//! The host-side shim: the Q15 FIR of the `dsp` crate over large batches on
//! the CPU, a CUDA GPU or a Metal GPU, bit-exact with the firmware.
//!
//! ```no_run
//! use native::{BackendKind, Context, Probe};
//!
//! let taps = [0x4000i16, 0x2000];
//! let input = vec![1000i16; 4 * 256]; // 4 frames of 256 samples
//! let mut output = vec![0i16; input.len()];
//! let backend = if native::probe(BackendKind::Cuda).status == Probe::Ready {
//!     BackendKind::Cuda
//! } else {
//!     BackendKind::Cpu
//! };
//! let mut ctx = Context::new(backend)?;
//! ctx.filter(&taps, 256, &input, &mut output)?;
//! # Ok::<(), native::Error>(())
//! ```
//!
//! A batch is `frames × frame_len` Q15 samples, frame after frame; every
//! frame is filtered with zero history. Rounding and saturation are those of
//! [`dsp`], on every backend; the CPU backend is the reference the others are
//! tested against.
//!
//! Backends, each an implementation of one internal `Backend` trait that
//! [`Context`] holds:
//! - [`BackendKind::Cpu`]: always built; the `dsp` code blocked for SIMD,
//!   frames spread over threads.
//! - [`BackendKind::Cuda`] (not on macOS): a fatbin (SASS for sm_75, 80, 86,
//!   89, 90 and PTX for compute_75) built by `cargo xtask native` and
//!   embedded at build time; the CUDA driver (`libcuda.so.1`, `nvcuda.dll`)
//!   is opened with dlopen at run time, so nothing links against CUDA.
//! - [`BackendKind::Metal`] (macOS only): MSL source embedded and compiled at
//!   run time with `newLibraryWithSource`.
//!
//! Both GPU kernels take their per-sample arithmetic from one C header,
//! `kernels/fir_q15.h`, which the tests also compile for the host and
//! compare bit for bit with `dsp::fir_q15`: the evidence for the GPU
//! arithmetic on machines without a GPU.

use std::fmt;
use std::time::Duration;

mod backend;
pub mod conformance;
mod cpu;
#[cfg(not(target_os = "macos"))]
mod cuda;
mod kernels;
#[cfg(target_os = "macos")]
mod metal;

use backend::{Backend, Batch};
pub use dsp::{FirError, MAX_TAPS};

/// Which execution backend: what [`probe`] and [`Context::new`] take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    Cpu,
    Cuda,
    Metal,
}

impl BackendKind {
    pub const ALL: [BackendKind; 3] = [BackendKind::Cpu, BackendKind::Cuda, BackendKind::Metal];

    /// `cpu`, `cuda` or `metal`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::Metal => "metal",
        }
    }

    /// Parses [`Self::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a backend can run here, and if not, the first reason found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Probe {
    /// A device is present and the kernel is loaded.
    Ready,
    /// This build has no kernel for the backend: the CUDA fatbin was not
    /// embedded (nvcc was not found), or Metal on a non-macOS target.
    NotBuilt,
    /// The driver library cannot be opened (CUDA: `libcuda.so.1`).
    NoDriver,
    /// The driver is present but reports no usable device (CUDA return codes
    /// 35, 100, 803, 804 and any other `cuInit` failure; Metal: no default
    /// device).
    NoDevice,
    /// The driver is older than the toolkit the kernel was built with (CUDA
    /// driver API version below 13.0, or `CUDA_ERROR_UNSUPPORTED_PTX_VERSION`).
    DriverTooOld,
    /// The device cannot run the embedded kernel: no SASS for its
    /// architecture and the PTX cannot be JIT-compiled (CUDA 200, 209, 218,
    /// 221), or the MSL source fails to compile.
    NoKernelImage,
}

impl Probe {
    /// The variant's name: `Ready`, `NotBuilt`, ….
    pub fn name(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::NotBuilt => "NotBuilt",
            Self::NoDriver => "NoDriver",
            Self::NoDevice => "NoDevice",
            Self::DriverTooOld => "DriverTooOld",
            Self::NoKernelImage => "NoKernelImage",
        }
    }
}

/// A probe status and what it was based on (device name, driver version,
/// error code), for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeReport {
    pub status: Probe,
    pub detail: String,
}

impl ProbeReport {
    fn new(status: Probe, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.status.name(), self.detail)
    }
}

/// Finds out whether `backend` can run here. Opens the driver and a device
/// context for GPU backends (tens of milliseconds); never panics.
pub fn probe(backend: BackendKind) -> ProbeReport {
    match open(backend) {
        Ok(b) => ProbeReport::new(Probe::Ready, b.probe_detail()),
        Err(report) => report,
    }
}

/// The one place that knows which backends this target builds.
fn open(kind: BackendKind) -> Result<Box<dyn Backend>, ProbeReport> {
    match kind {
        BackendKind::Cpu => Ok(Box::new(cpu::Cpu::new())),
        #[cfg(not(target_os = "macos"))]
        BackendKind::Cuda => Ok(Box::new(cuda::Cuda::open()?)),
        #[cfg(target_os = "macos")]
        BackendKind::Cuda => Err(ProbeReport::new(
            Probe::NotBuilt,
            "CUDA is not built on macOS",
        )),
        #[cfg(target_os = "macos")]
        BackendKind::Metal => Ok(Box::new(metal::Metal::open()?)),
        #[cfg(not(target_os = "macos"))]
        BackendKind::Metal => Err(ProbeReport::new(
            Probe::NotBuilt,
            "Metal is only built on macOS",
        )),
    }
}

/// Whether this build embeds a CUDA fatbin.
pub fn cuda_fatbin_embedded() -> bool {
    #[cfg(not(target_os = "macos"))]
    return cuda::FATBIN.is_some();
    #[cfg(target_os = "macos")]
    return false;
}

/// Why a call failed.
#[derive(Debug)]
pub enum Error {
    /// The batch shape is invalid.
    Shape(FirError),
    /// [`Context::new`] on a backend that does not probe [`Probe::Ready`].
    Unavailable(ProbeReport),
    /// The device failed during a call (allocation, copy, launch): the
    /// driver's error.
    Device(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shape(e) => write!(f, "invalid batch: {e}"),
            Self::Unavailable(r) => write!(f, "backend unavailable: {r}"),
            Self::Device(e) => write!(f, "device error: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<FirError> for Error {
    fn from(e: FirError) -> Self {
        Self::Shape(e)
    }
}

/// An open backend: a device context with its kernel loaded, reusable for
/// many batches.
pub struct Context {
    backend: Box<dyn Backend>,
}

impl Context {
    /// Opens `backend`.
    ///
    /// Errors: [`Error::Unavailable`] with the probe report when the backend
    /// is not [`Probe::Ready`].
    pub fn new(backend: BackendKind) -> Result<Self, Error> {
        Ok(Self {
            backend: open(backend).map_err(Error::Unavailable)?,
        })
    }

    pub fn backend(&self) -> BackendKind {
        self.backend.kind()
    }

    /// The device: CPU model and thread count, or GPU name.
    pub fn device_name(&self) -> String {
        self.backend.device_name()
    }

    /// Filters `input` (`input.len() / frame_len` frames) with `taps` into
    /// `output`, including any copies to and from the device.
    ///
    /// Errors: [`Error::Shape`] for 0 or more than [`MAX_TAPS`] taps, a zero
    /// `frame_len`, a partial frame or `output.len() != input.len()`;
    /// [`Error::Device`] when the device fails.
    pub fn filter(
        &mut self,
        taps: &[i16],
        frame_len: usize,
        input: &[i16],
        output: &mut [i16],
    ) -> Result<(), Error> {
        let batch = Batch::new(taps, frame_len, input, output.len())?;
        self.backend.filter(batch, output)
    }

    /// Times `runs` executions of the filter alone on data already resident
    /// where the backend computes (device memory for GPUs), for throughput
    /// figures. Returns one wall or event-timed duration per run.
    ///
    /// Errors: as [`Self::filter`].
    pub fn time_filter(
        &mut self,
        taps: &[i16],
        frame_len: usize,
        input: &[i16],
        runs: usize,
    ) -> Result<Vec<Duration>, Error> {
        let batch = Batch::new(taps, frame_len, input, input.len())?;
        self.backend.time_filter(batch, runs)
    }

    /// The device's peak memory bandwidth in bytes per second, where the
    /// driver reports it (CUDA: 2 × memory clock × bus width).
    pub fn peak_bandwidth(&self) -> Option<f64> {
        self.backend.peak_bandwidth()
    }
}

#[cfg(test)]
mod tests;
