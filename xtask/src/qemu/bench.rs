//! `cargo xtask bench qemu`: spawn-to-verdict time per image (median of
//! [`RUNS`] runs, each judged as in the suite), the wall time of all images
//! run in parallel on every core, the end-to-end `cargo xtask qemu` with a
//! warm build, and how long after its deadline a hanging image is ended.

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::expect::Verdict;
use super::runner::{self, RunSpec};
use super::suite::{self, Runnable};
use super::{End, process};
use crate::boards::Boards;
use crate::workspace::Workspace;

/// Runs per image for the median.
const RUNS: usize = 20;

pub fn run() -> Result<()> {
    let ws = Workspace::load()?;
    let boards = Boards::load(&ws)?;
    process::install_interrupt_handler();
    let prepared = suite::prepare(&ws, &boards)?;
    let runnable = prepared.runnable(&boards);
    if runnable.is_empty() {
        bail!("no runnable test in qemu/tests.toml");
    }

    println!(
        "host load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_else(|_| "n/a\n".into())
            .trim_end()
    );
    println!("spawn → verdict per image, {RUNS} runs (ms; cpu = QEMU user + system time):");
    println!(
        "{:<36} {:>8} {:>8} {:>8} {:>8}  failed runs",
        "image", "median", "min", "max", "cpu"
    );
    let mut medians = Vec::new();
    let mut failed_runs = 0;
    for r in &runnable {
        let mut times = Vec::with_capacity(RUNS);
        let mut cpu = Vec::with_capacity(RUNS);
        let mut failures = Vec::new();
        for _ in 0..RUNS {
            let before = children_cpu();
            let o = runner::run(spec(r, &mut r.expectation.watcher()))?;
            cpu.push(children_cpu().saturating_sub(before));
            times.push(o.wall);
            if let Verdict::Failed(reason) = r.expectation.judge(&o).verdict {
                failures.push(reason);
            }
        }
        times.sort();
        cpu.sort();
        let median = times[RUNS / 2];
        medians.push(median);
        failed_runs += failures.len();
        println!(
            "{:<36} {:>8.1} {:>8.1} {:>8.1} {:>8.1}  {}",
            r.id,
            ms(median),
            ms(times[0]),
            ms(times[RUNS - 1]),
            ms(cpu[RUNS / 2]),
            if failures.is_empty() {
                "0".to_string()
            } else {
                format!("{} ({})", failures.len(), failures.join("; "))
            }
        );
    }
    medians.sort();
    println!(
        "median over images: {:.1} ms (goal ≤ 60 ms); {failed_runs} of {} runs failed",
        ms(medians[medians.len() / 2]),
        RUNS * runnable.len()
    );

    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let failure = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                while let Some(r) = runnable.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let outcome = runner::run(spec(r, &mut r.expectation.watcher()));
                    if let Err(e) = outcome {
                        *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    println!(
        "suite runs: {} images on {jobs} cores in {:.3} s (goal ≤ 1.5 s on 2 cores)",
        runnable.len(),
        start.elapsed().as_secs_f64()
    );

    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let start = Instant::now();
    let status = Command::new(exe)
        .arg("qemu")
        .current_dir(&ws.root)
        .stdout(Stdio::null())
        .status()
        .context("running `cargo xtask qemu`")?;
    println!(
        "`cargo xtask qemu` end to end, warm build: {:.3} s ({status})",
        start.elapsed().as_secs_f64()
    );

    match prepared
        .images
        .iter()
        .find(|i| i.package == "fw-fixtures" && i.name == "hang")
    {
        None => println!("hang kill: skipped: no `hang` fixture in fw-fixtures"),
        Some(hang) => {
            let board = boards
                .all()
                .iter()
                .find(|b| b.name == hang.board)
                .context("board of the hang fixture")?;
            let timeout = Duration::from_secs(1);
            let o = runner::run_elf(board, &hang.elf, timeout)?;
            if o.end != End::TimedOut {
                bail!("the hang fixture did not time out: {:?}", o.end);
            }
            println!(
                "hang kill ({}, timeout 1 s): ended {:.3} s after spawn, {:.0} ms past the deadline, of which {:.0} ms QEMU waited for a CPU",
                board.name,
                o.wall.as_secs_f64(),
                ms(o.wall.saturating_sub(timeout)),
                ms(o.starved)
            );
        }
    }
    Ok(())
}

fn spec<'a>(r: &'a Runnable<'_>, watch: &'a mut dyn FnMut(&str) -> Option<String>) -> RunSpec<'a> {
    RunSpec {
        board: r.board,
        elf: &r.elf,
        extra_args: &r.test.qemu_args,
        timeout: r.test.timeout.unwrap_or(super::DEFAULT_TIMEOUT),
        watch,
        echo: false,
        label: &r.id,
    }
}

/// User + system CPU time of all reaped children so far.
#[cfg(unix)]
fn children_cpu() -> Duration {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[cfg(not(unix))]
fn children_cpu() -> Duration {
    Duration::ZERO
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
