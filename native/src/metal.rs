//! The Metal backend: `metal/fir.metal` with `kernels/fir_q15.h` inlined
//! (see `kernels`), embedded as source and compiled at run time with
//! `newLibraryWithSource:options:error:` on the system default device.
//! Buffers use shared storage (unified memory on Apple silicon).
#![allow(unsafe_code)] // Metal calls through objc2-metal's unsafe bindings, shared-buffer reads.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::time::Duration;

use objc2::rc::Retained;
use objc2::runtime::ProtocolObject;
use objc2_foundation::NSString;
use objc2_metal::{
    MTLBuffer, MTLCommandBuffer, MTLCommandBufferStatus, MTLCommandEncoder, MTLCommandQueue,
    MTLComputeCommandEncoder, MTLComputePipelineState, MTLCreateSystemDefaultDevice, MTLDevice,
    MTLLibrary, MTLResourceOptions, MTLSize,
};

use crate::backend::{Backend, Batch};
use crate::kernels::{KERNEL, MSL};
use crate::{BackendKind, Error, Probe, ProbeReport};

/// The kernel's `Params` (MSL `uint, uint, ulong`: 16 bytes).
#[repr(C)]
struct Params {
    ntaps: u32,
    frame_len: u32,
    total: u64,
}

type Device = ProtocolObject<dyn MTLDevice>;
type Buffer = ProtocolObject<dyn MTLBuffer>;

pub struct Metal {
    device: Retained<Device>,
    queue: Retained<ProtocolObject<dyn MTLCommandQueue>>,
    pipeline: Retained<ProtocolObject<dyn MTLComputePipelineState>>,
}

impl Metal {
    pub fn open() -> Result<Self, ProbeReport> {
        let device = MTLCreateSystemDefaultDevice()
            .ok_or_else(|| ProbeReport::new(Probe::NoDevice, "no default Metal device"))?;
        let library = device
            .newLibraryWithSource_options_error(&NSString::from_str(MSL), None)
            .map_err(|e| {
                ProbeReport::new(
                    Probe::NoKernelImage,
                    format!(
                        "the MSL source does not compile: {}",
                        e.localizedDescription()
                    ),
                )
            })?;
        let function = library
            .newFunctionWithName(&NSString::from_str(KERNEL))
            .ok_or_else(|| {
                ProbeReport::new(Probe::NoKernelImage, format!("no `{KERNEL}` kernel"))
            })?;
        let pipeline = device
            .newComputePipelineStateWithFunction_error(&function)
            .map_err(|e| {
                ProbeReport::new(
                    Probe::NoKernelImage,
                    format!("no compute pipeline: {}", e.localizedDescription()),
                )
            })?;
        let queue = device
            .newCommandQueue()
            .ok_or_else(|| ProbeReport::new(Probe::NoDevice, "no Metal command queue"))?;
        Ok(Self {
            device,
            queue,
            pipeline,
        })
    }

    fn buffer_with(&self, data: &[i16]) -> Result<Retained<Buffer>, Error> {
        let bytes = std::mem::size_of_val(data).max(2);
        let ptr = NonNull::new(data.as_ptr().cast_mut().cast::<c_void>())
            .ok_or_else(|| Error::Device("null slice".into()))?;
        // SAFETY: `ptr` is valid for `size_of_val(data)` bytes; Metal copies
        // them into the new buffer before returning.
        unsafe {
            self.device.newBufferWithBytes_length_options(
                ptr,
                bytes,
                MTLResourceOptions::StorageModeShared,
            )
        }
        .ok_or_else(|| Error::Device(format!("cannot allocate a {bytes}-byte buffer")))
    }

    /// Encodes and runs one dispatch; returns the GPU time of the command
    /// buffer.
    fn run(&self, batch: Batch<'_>, buffers: &Buffers) -> Result<Duration, Error> {
        let total = batch.input().len();
        let params = Params {
            ntaps: batch.ntaps(),
            frame_len: batch.frame_len_u32()?,
            total: total as u64,
        };
        let cmd = self
            .queue
            .commandBuffer()
            .ok_or_else(|| Error::Device("no command buffer".into()))?;
        let enc = cmd
            .computeCommandEncoder()
            .ok_or_else(|| Error::Device("no compute encoder".into()))?;
        enc.setComputePipelineState(&self.pipeline);
        // SAFETY: the buffer indices and `Params` match `fir_q15` in
        // metal/fir.metal; every buffer outlives the command buffer, which is
        // waited for below.
        unsafe {
            enc.setBuffer_offset_atIndex(Some(&buffers.taps), 0, 0);
            enc.setBuffer_offset_atIndex(Some(&buffers.input), 0, 1);
            enc.setBuffer_offset_atIndex(Some(&buffers.output), 0, 2);
            enc.setBytes_length_atIndex(
                NonNull::from(&params).cast::<c_void>(),
                std::mem::size_of::<Params>(),
                3,
            );
        }
        let width = self.pipeline.maxTotalThreadsPerThreadgroup().clamp(1, 256);
        // The kernel strides over the rest; 2^24 threads fill any Apple GPU.
        let threads = total.clamp(1, 1 << 24);
        enc.dispatchThreads_threadsPerThreadgroup(
            MTLSize {
                width: threads,
                height: 1,
                depth: 1,
            },
            MTLSize {
                width,
                height: 1,
                depth: 1,
            },
        );
        enc.endEncoding();
        cmd.commit();
        cmd.waitUntilCompleted();
        if cmd.status() != MTLCommandBufferStatus::Completed {
            let why = cmd
                .error()
                .map(|e| e.localizedDescription().to_string())
                .unwrap_or_default();
            return Err(Error::Device(format!("Metal command buffer failed: {why}")));
        }
        let seconds = cmd.GPUEndTime() - cmd.GPUStartTime();
        Ok(Duration::from_secs_f64(seconds.max(0.0)))
    }

    /// The batch's taps and input, and an output buffer, in shared storage.
    fn upload(&self, batch: Batch<'_>) -> Result<Buffers, Error> {
        Ok(Buffers {
            taps: self.buffer_with(batch.taps())?,
            input: self.buffer_with(batch.input())?,
            output: self.buffer_with(batch.input())?,
        })
    }
}

/// A batch's buffers: `fir_q15`'s buffer(0) to buffer(2).
struct Buffers {
    taps: Retained<Buffer>,
    input: Retained<Buffer>,
    output: Retained<Buffer>,
}

impl Backend for Metal {
    fn kind(&self) -> BackendKind {
        BackendKind::Metal
    }

    fn device_name(&self) -> String {
        self.device.name().to_string()
    }

    fn filter(&mut self, batch: Batch<'_>, output: &mut [i16]) -> Result<(), Error> {
        let buffers = self.upload(batch)?;
        self.run(batch, &buffers)?;
        // SAFETY: the shared buffer holds `output.len()` samples and the GPU
        // has finished writing it.
        let result = unsafe {
            std::slice::from_raw_parts(
                buffers.output.contents().as_ptr().cast::<i16>(),
                output.len(),
            )
        };
        output.copy_from_slice(result);
        Ok(())
    }

    /// GPU time of each command buffer, after one untimed run.
    fn time_filter(&mut self, batch: Batch<'_>, runs: usize) -> Result<Vec<Duration>, Error> {
        let buffers = self.upload(batch)?;
        self.run(batch, &buffers)?;
        (0..runs).map(|_| self.run(batch, &buffers)).collect()
    }
}
