//! The CUDA backend: the embedded fatbin (`cuda/fir.cu`, built by `cargo
//! xtask native`) run through the driver API, which cudarc opens with dlopen.
//!
//! Probe order: fatbin embedded? → driver library opens? → `cuInit` →
//! driver version ≥ 13.0 (the toolkit the fatbin is built with) → a device →
//! context → `cuModuleLoadData`. Return codes from the CUDA driver API
//! reference, "Data types used by CUDA driver" (`CUresult`).
#![allow(unsafe_code)] // Driver API calls and kernel launches through cudarc's unsafe FFI.

use std::sync::Arc;
use std::time::Duration;

use cudarc::driver::sys::{self, CUdevice_attribute};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DriverError, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::Ptx;

use crate::backend::{Backend, Batch};
use crate::kernels::KERNEL;
use crate::{BackendKind, Error, Probe, ProbeReport};

#[cfg(native_cuda_fatbin)]
pub const FATBIN: Option<&[u8]> = Some(include_bytes!(concat!(env!("OUT_DIR"), "/fir.fatbin")));
#[cfg(not(native_cuda_fatbin))]
pub const FATBIN: Option<&[u8]> = None;

/// The driver API version (`cuDriverGetVersion`: 1000 × major + 10 × minor)
/// of the toolkit the fatbin is built with. An older driver cannot load its
/// cubins or JIT its PTX.
const MIN_DRIVER_VERSION: i32 = 13_000;

const BLOCK_THREADS: u32 = 256;

#[cfg(windows)]
pub const DRIVER_LIBRARY: &str = "nvcuda.dll";
#[cfg(not(windows))]
pub const DRIVER_LIBRARY: &str = "libcuda.so.1";

/// Maps a failing `CUresult` to a probe status.
///
/// - 222 `CUDA_ERROR_UNSUPPORTED_PTX_VERSION` → [`Probe::DriverTooOld`];
/// - 200 `INVALID_IMAGE`, 209 `NO_BINARY_FOR_GPU`, 218 `INVALID_PTX`,
///   221 `JIT_COMPILER_NOT_FOUND` → [`Probe::NoKernelImage`];
/// - 100 `NO_DEVICE`, 803 `SYSTEM_DRIVER_MISMATCH`, 804
///   `COMPAT_NOT_SUPPORTED_ON_DEVICE`, 35 (the runtime API's
///   `cudaErrorInsufficientDriver`, for codes passed on from it) and anything
///   else → [`Probe::NoDevice`].
pub fn status_for_code(code: u32) -> Probe {
    match code {
        222 => Probe::DriverTooOld,
        200 | 209 | 218 | 221 => Probe::NoKernelImage,
        _ => Probe::NoDevice,
    }
}

fn report(stage: &str, err: DriverError) -> ProbeReport {
    let code = err.0 as u32;
    ProbeReport::new(
        status_for_code(code),
        format!("{stage} returned {code} ({:?})", err.0),
    )
}

fn version_text(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

/// The driver steps of the probe: the library opens, `cuInit` succeeds, the
/// driver API is at least 13.0 and there is a device. Returns the driver API
/// version.
pub fn driver() -> Result<i32, ProbeReport> {
    // cudarc panics on the first driver call when no library loads, so
    // look before calling.
    // SAFETY: loads and unloads the driver library; its initialisers are
    // the vendor's and run in every CUDA program.
    if !unsafe { sys::is_culib_present() } {
        return Err(ProbeReport::new(
            Probe::NoDriver,
            format!("{DRIVER_LIBRARY} cannot be opened: no NVIDIA driver installed"),
        ));
    }
    cudarc::driver::result::init().map_err(|e| report("cuInit", e))?;
    let mut driver_version = 0;
    // SAFETY: a valid out pointer; cuInit succeeded.
    unsafe { sys::cuDriverGetVersion(&mut driver_version) }
        .result()
        .map_err(|e| report("cuDriverGetVersion", e))?;
    if driver_version < MIN_DRIVER_VERSION {
        return Err(ProbeReport::new(
            Probe::DriverTooOld,
            format!(
                "the driver supports CUDA {}; the fatbin needs {} (driver 580 or newer)",
                version_text(driver_version),
                version_text(MIN_DRIVER_VERSION)
            ),
        ));
    }
    let count =
        cudarc::driver::result::device::get_count().map_err(|e| report("cuDeviceGetCount", e))?;
    if count == 0 {
        return Err(ProbeReport::new(
            Probe::NoDevice,
            "the driver reports 0 devices",
        ));
    }
    Ok(driver_version)
}

pub struct Cuda {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    func: CudaFunction,
    name: String,
    driver_version: i32,
    sm_count: u32,
}

impl Cuda {
    /// Runs the probe steps and keeps what they opened.
    pub fn open() -> Result<Self, ProbeReport> {
        let Some(fatbin) = FATBIN else {
            return Err(ProbeReport::new(
                Probe::NotBuilt,
                "no CUDA fatbin embedded: build through `cargo xtask native` with nvcc \
                 available (`cargo xtask setup --cuda`)",
            ));
        };
        let driver_version = driver()?;
        let ctx = CudaContext::new(0).map_err(|e| report("creating a context on device 0", e))?;
        let module = ctx
            .load_module(Ptx::from_binary(fatbin.to_vec()))
            .map_err(|e| report("cuModuleLoadData", e))?;
        let func = module
            .load_function(KERNEL)
            .map_err(|e| report("cuModuleGetFunction", e))?;
        let name = ctx.name().unwrap_or_else(|_| "CUDA device 0".into());
        let sm_count = ctx
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_or(1, |n| n.max(1) as u32);
        Ok(Self {
            stream: ctx.default_stream(),
            ctx,
            func,
            name,
            driver_version,
            sm_count,
        })
    }

    fn launch_config(&self, total: u64) -> LaunchConfig {
        // Enough resident blocks to fill every SM several times; the kernel's
        // grid-stride loop covers the rest.
        let blocks = total
            .div_ceil(u64::from(BLOCK_THREADS))
            .min(u64::from(self.sm_count) * 32)
            .max(1) as u32;
        LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (BLOCK_THREADS, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    fn launch(&self, b: &mut Resident) -> Result<(), DriverError> {
        let total = b.input.len() as u64;
        let mut args = self.stream.launch_builder(&self.func);
        args.arg(&b.taps)
            .arg(&b.ntaps)
            .arg(&b.input)
            .arg(&mut b.output)
            .arg(&b.frame_len)
            .arg(&total);
        // SAFETY: the argument list matches `fir_q15` in cuda/fir.cu; `taps`
        // holds `ntaps` ≤ FIR_Q15_MAX_TAPS samples and `input`/`output` hold
        // `total` samples each.
        unsafe { args.launch(self.launch_config(total)) }.map(drop)
    }

    fn upload(&self, batch: Batch<'_>) -> Result<Resident, Error> {
        Ok(Resident {
            frame_len: batch.frame_len_u32()?,
            ntaps: batch.ntaps(),
            taps: self.stream.clone_htod(batch.taps()).map_err(device)?,
            input: self.stream.clone_htod(batch.input()).map_err(device)?,
            output: self
                .stream
                .alloc_zeros::<i16>(batch.input().len())
                .map_err(device)?,
        })
    }
}

impl Backend for Cuda {
    fn kind(&self) -> BackendKind {
        BackendKind::Cuda
    }

    fn device_name(&self) -> String {
        self.name.clone()
    }

    fn probe_detail(&self) -> String {
        format!(
            "{}, driver API {}",
            self.name,
            version_text(self.driver_version)
        )
    }

    fn filter(&mut self, batch: Batch<'_>, output: &mut [i16]) -> Result<(), Error> {
        let mut resident = self.upload(batch)?;
        self.launch(&mut resident).map_err(device)?;
        self.stream
            .memcpy_dtoh(&resident.output, output)
            .map_err(device)?;
        self.stream.synchronize().map_err(device)
    }

    /// Kernel time only, measured with CUDA events around each launch.
    fn time_filter(&mut self, batch: Batch<'_>, runs: usize) -> Result<Vec<Duration>, Error> {
        let mut resident = self.upload(batch)?;
        let timing = Some(sys::CUevent_flags::CU_EVENT_DEFAULT);
        // One untimed launch loads the module's code onto the device.
        self.launch(&mut resident).map_err(device)?;
        (0..runs)
            .map(|_| {
                let start = self.stream.record_event(timing).map_err(device)?;
                self.launch(&mut resident).map_err(device)?;
                let end = self.stream.record_event(timing).map_err(device)?;
                let ms = start.elapsed_ms(&end).map_err(device)?;
                Ok(Duration::from_secs_f64(f64::from(ms) / 1e3))
            })
            .collect()
    }

    /// 2 (double data rate) × memory clock (kHz) × bus width (bits) / 8.
    fn peak_bandwidth(&self) -> Option<f64> {
        let clock_khz = self
            .ctx
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE)
            .ok()?;
        let bus_bits = self
            .ctx
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH)
            .ok()?;
        (clock_khz > 0 && bus_bits > 0)
            .then(|| 2.0 * f64::from(clock_khz) * 1e3 * f64::from(bus_bits) / 8.0)
    }
}

/// A batch in device memory with the kernel's scalar arguments.
struct Resident {
    taps: CudaSlice<i16>,
    ntaps: u32,
    input: CudaSlice<i16>,
    output: CudaSlice<i16>,
    frame_len: u32,
}

fn device(e: DriverError) -> Error {
    Error::Device(format!("CUDA {} ({:?})", e.0 as u32, e.0))
}

#[cfg(test)]
mod tests;
