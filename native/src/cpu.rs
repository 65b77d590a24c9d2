//! The CPU backend: the arithmetic of `dsp` reorganised for SIMD (see
//! `simd`), with the frames of a batch spread over the available hardware
//! threads. Its output is checked against `dsp::fir_q15`, the reference, in
//! `conformance`.

mod simd;

use std::time::{Duration, Instant};

use crate::backend::{Backend, Batch};
use crate::{BackendKind, Error};

/// Below this many samples a batch is filtered on the calling thread: thread
/// start-up (tens of microseconds) would cost more than it saves.
const PARALLEL_MIN_SAMPLES: usize = 1 << 16;

pub struct Cpu {
    threads: usize,
}

impl Cpu {
    pub fn new() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl Backend for Cpu {
    fn kind(&self) -> BackendKind {
        BackendKind::Cpu
    }

    fn device_name(&self) -> String {
        format!("{} hardware threads", self.threads)
    }

    fn filter(&mut self, batch: Batch<'_>, output: &mut [i16]) -> Result<(), Error> {
        let (taps, frame_len, input) = (batch.taps(), batch.frame_len(), batch.input());
        let frames = input.len() / frame_len;
        if self.threads == 1 || input.len() < PARALLEL_MIN_SAMPLES || frames < 2 {
            simd::filter_frames(taps, frame_len, input, output);
            return Ok(());
        }
        let per_thread = frames.div_ceil(self.threads) * frame_len;
        std::thread::scope(|s| {
            for (x, y) in input.chunks(per_thread).zip(output.chunks_mut(per_thread)) {
                s.spawn(move || simd::filter_frames(taps, frame_len, x, y));
            }
        });
        Ok(())
    }

    /// Wall time of [`Self::filter`]; the data is in host memory already.
    fn time_filter(&mut self, batch: Batch<'_>, runs: usize) -> Result<Vec<Duration>, Error> {
        let mut output = vec![0; batch.input().len()];
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                self.filter(batch, &mut output)?;
                Ok(start.elapsed())
            })
            .collect()
    }
}
