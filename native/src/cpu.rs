//! The CPU backend and reference: `dsp::fir_frame` with the frames of a
//! batch spread over the available hardware threads.

use std::time::{Duration, Instant};

use crate::Error;

/// Below this many samples a batch is filtered on the calling thread: thread
/// start-up (tens of microseconds) would cost more than it saves.
const PARALLEL_MIN_SAMPLES: usize = 1 << 16;

pub struct Cpu {
    threads: usize,
}

pub fn describe() -> String {
    format!(
        "{} hardware threads",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )
}

impl Cpu {
    pub fn new() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// The shape was checked by the caller.
    pub fn filter(
        &mut self,
        taps: &[i16],
        frame_len: usize,
        input: &[i16],
        output: &mut [i16],
    ) -> Result<(), Error> {
        let frames = input.len() / frame_len;
        if self.threads == 1 || input.len() < PARALLEL_MIN_SAMPLES || frames < 2 {
            return Ok(dsp::fir_q15(taps, frame_len, input, output)?);
        }
        let per_thread = frames.div_ceil(self.threads) * frame_len;
        std::thread::scope(|s| {
            for (x, y) in input.chunks(per_thread).zip(output.chunks_mut(per_thread)) {
                s.spawn(move || {
                    for (xf, yf) in x.chunks_exact(frame_len).zip(y.chunks_exact_mut(frame_len)) {
                        dsp::fir_frame(taps, xf, yf);
                    }
                });
            }
        });
        Ok(())
    }

    pub fn time_filter(
        &mut self,
        taps: &[i16],
        frame_len: usize,
        input: &[i16],
        runs: usize,
    ) -> Result<Vec<Duration>, Error> {
        let mut output = vec![0; input.len()];
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                self.filter(taps, frame_len, input, &mut output)?;
                Ok(start.elapsed())
            })
            .collect()
    }
}
