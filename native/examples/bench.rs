//! Throughput of every backend that probes `Ready`, run by `cargo xtask bench
//! native`. For each batch size, from one frame to hundreds of MiB: the
//! median of `--runs` timed filters (kernel time on GPUs, data already in
//! device memory), as samples/s and GB/s, counting 2 bytes read and 2 bytes
//! written per sample; on a GPU also the share of its peak memory bandwidth.
//! The CPU backend is also compared with a plain one-thread scalar loop.
//!
//! Usage: `bench [--runs N] [--taps T] [backend…]`.

use std::time::{Duration, Instant};

use native::{BackendKind, Context, Probe};

/// Frame length of every batch, in samples.
const FRAME_LEN: usize = 4096;
/// Frames per batch: 8 KiB to 128 MiB of input on the CPU.
const CPU_FRAMES: [usize; 4] = [1, 64, 1024, 16384];
/// GPUs get two larger batches (up to 1 GiB in + 1 GiB out) to reach
/// steady-state bandwidth.
const GPU_FRAMES: [usize; 6] = [1, 64, 1024, 16384, 65536, 131072];
const BYTES_PER_SAMPLE: f64 = 4.0;

struct Options {
    runs: usize,
    taps: usize,
    backends: Vec<BackendKind>,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        runs: 7,
        taps: 16,
        backends: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|&v| v > 0)
                .ok_or_else(|| format!("{name} needs a positive integer"))
        };
        match arg.as_str() {
            "--runs" => o.runs = number("--runs")?,
            "--taps" => o.taps = number("--taps")?.min(native::MAX_TAPS),
            name => {
                o.backends.push(BackendKind::from_name(name).ok_or_else(|| {
                    format!("unknown backend `{name}`; expected cpu, cuda or metal")
                })?)
            }
        }
    }
    if o.backends.is_empty() {
        o.backends = BackendKind::ALL.to_vec();
    }
    Ok(o)
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn signal(taps: usize, samples: usize) -> (Vec<i16>, Vec<i16>) {
    let mut rng = dsp::testvec::Xorshift32::new(0xBE4C_0001);
    let h = (0..taps).map(|_| rng.next_q15() >> 3).collect();
    let x = (0..samples).map(|_| rng.next_q15()).collect();
    (h, x)
}

/// What one writes first: one thread, indexing and bounds checks.
fn scalar_loop(taps: &[i16], frame_len: usize, input: &[i16], output: &mut [i16]) {
    for start in (0..input.len()).step_by(frame_len) {
        for n in 0..frame_len {
            let mut acc = 0i64;
            for k in 0..taps.len() {
                if k <= n {
                    acc += i64::from(taps[k]) * i64::from(input[start + n - k]);
                }
            }
            output[start + n] = dsp::round_saturate(acc);
        }
    }
}

fn line(label: &str, frames: usize, samples: usize, t: Duration, peak: Option<f64>) {
    let secs = t.as_secs_f64().max(1e-12);
    let rate = samples as f64 / secs;
    let gbs = rate * BYTES_PER_SAMPLE / 1e9;
    let share = peak.map_or("-".to_string(), |p| {
        format!("{:.1}", 100.0 * rate * BYTES_PER_SAMPLE / p)
    });
    println!(
        "{label:<7} {:>13} {samples:>11} {:>12.1} {:>13.2} {gbs:>9.2} {share:>7}",
        format!("{frames}×{FRAME_LEN}"),
        secs * 1e6,
        rate / 1e6,
    );
}

fn main() -> std::process::ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    println!(
        "native bench: {} taps, frames of {FRAME_LEN} samples, median of {} runs; \
         GB/s counts 2 B read + 2 B written per sample",
        o.taps, o.runs
    );
    println!(
        "{:<7} {:>13} {:>11} {:>12} {:>13} {:>9} {:>7}",
        "backend", "batch", "samples", "median µs", "Msamples/s", "GB/s", "% peak"
    );
    for backend in &o.backends {
        let report = native::probe(*backend);
        if report.status != Probe::Ready {
            println!("{backend:<7} skipped: {report}");
            continue;
        }
        let mut ctx = match Context::new(*backend) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("bench: {backend}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let peak = ctx.peak_bandwidth();
        let frames: &[usize] = if *backend == BackendKind::Cpu {
            &CPU_FRAMES
        } else {
            &GPU_FRAMES
        };
        println!(
            "# {backend}: {}{}",
            ctx.device_name(),
            peak.map_or(String::new(), |p| format!(
                ", peak memory bandwidth {:.0} GB/s",
                p / 1e9
            ))
        );
        for &f in frames {
            let (taps, input) = signal(o.taps, f * FRAME_LEN);
            match ctx.time_filter(&taps, FRAME_LEN, &input, o.runs) {
                Ok(times) => line(backend.name(), f, input.len(), median(times), peak),
                Err(e) => {
                    eprintln!("bench: {backend}: {f} frames: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            }
        }
    }
    if o.backends.contains(&BackendKind::Cpu) {
        println!("# scalar: the plain one-thread loop, for comparison with cpu");
        for &f in &CPU_FRAMES[..3] {
            let (taps, input) = signal(o.taps, f * FRAME_LEN);
            let mut out = vec![0; input.len()];
            let times = (0..o.runs)
                .map(|_| {
                    let start = Instant::now();
                    scalar_loop(&taps, FRAME_LEN, std::hint::black_box(&input), &mut out);
                    std::hint::black_box(&out);
                    start.elapsed()
                })
                .collect();
            line("scalar", f, input.len(), median(times), None);
        }
    }
    std::process::ExitCode::SUCCESS
}
