//! The contract every backend implements, and the checked batch it is
//! handed.

use std::time::Duration;

use crate::{BackendKind, Error};

/// An open backend: a device with its kernel loaded, reusable for many
/// batches. [`crate::Context`] holds one behind a `Box<dyn Backend>`.
pub(crate) trait Backend {
    fn kind(&self) -> BackendKind;

    /// The device: CPU thread count or GPU name.
    fn device_name(&self) -> String;

    /// The detail of a `Ready` probe; the device name unless a backend has
    /// more to say (CUDA: the driver API version).
    fn probe_detail(&self) -> String {
        self.device_name()
    }

    /// Filters `batch` into `output` (`batch.input().len()` samples),
    /// including any copies to and from the device.
    ///
    /// Errors: [`Error::Device`] when the device fails.
    fn filter(&mut self, batch: Batch<'_>, output: &mut [i16]) -> Result<(), Error>;

    /// Times `runs` executions of the filter alone, on data already where the
    /// backend computes; one duration per run.
    ///
    /// Errors: as [`Self::filter`].
    fn time_filter(&mut self, batch: Batch<'_>, runs: usize) -> Result<Vec<Duration>, Error>;

    /// Peak memory bandwidth in bytes per second, where the driver reports it.
    fn peak_bandwidth(&self) -> Option<f64> {
        None
    }
}

/// A batch whose shape [`dsp::check_batch`] accepted: 1 to
/// [`dsp::MAX_TAPS`] taps and `input.len() / frame_len` whole frames. The
/// fields are private so that no backend sees an unchecked shape.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Batch<'a> {
    taps: &'a [i16],
    frame_len: usize,
    input: &'a [i16],
}

impl<'a> Batch<'a> {
    /// Errors: [`Error::Shape`] as [`dsp::check_batch`] for an output of
    /// `output_len` samples.
    pub fn new(
        taps: &'a [i16],
        frame_len: usize,
        input: &'a [i16],
        output_len: usize,
    ) -> Result<Self, Error> {
        dsp::check_batch(taps.len(), frame_len, input.len(), output_len)?;
        Ok(Self {
            taps,
            frame_len,
            input,
        })
    }

    pub fn taps(&self) -> &'a [i16] {
        self.taps
    }

    /// The tap count as the kernels take it; at most [`dsp::MAX_TAPS`].
    pub fn ntaps(&self) -> u32 {
        self.taps.len() as u32
    }

    /// Samples per frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Samples per frame as the kernels take it.
    ///
    /// Errors: [`Error::Device`] for frames of 2^32 samples or more.
    pub fn frame_len_u32(&self) -> Result<u32, Error> {
        u32::try_from(self.frame_len).map_err(|_| {
            Error::Device(format!(
                "frame length {} exceeds the kernels' 2^32 - 1 samples",
                self.frame_len
            ))
        })
    }

    pub fn input(&self) -> &'a [i16] {
        self.input
    }
}
