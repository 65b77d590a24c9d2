//! `cargo xtask bench qemu`: spawn-to-verdict time per image (median of
//! 20 runs, each judged as in the suite), the wall time of all images
//! run in parallel on every core, the end-to-end `cargo xtask qemu` with a
//! warm build, and how long after its deadline a hanging image is ended.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use xshell::cmd;

use super::suite::prepare::{self, Prepared, Runnable};
use crate::boards::Boards;
use crate::cmd::shell;
use crate::qemu::console::Line;
use crate::qemu::{self, DEFAULT_TIMEOUT, End, RunSpec, Verdict, process};
use crate::workspace::Workspace;

/// Runs per image for the median.
const RUNS: usize = 20;

pub fn run() -> Result<()> {
    let ws = Workspace::load()?;
    let boards = Boards::load(&ws)?;
    process::install_interrupt_handler();
    let prepared = prepare::prepare(&ws, &boards)?;
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
    per_image(&runnable)?;
    parallel(&runnable)?;
    end_to_end(&ws)?;
    hang_kill(&boards, &prepared)
}

/// Spawn → verdict per image, [`RUNS`] times each.
///
/// Errors: QEMU cannot start.
fn per_image(runnable: &[Runnable<'_>]) -> Result<()> {
    println!("spawn → verdict per image, {RUNS} runs (ms; cpu = QEMU user + system time):");
    println!(
        "{:<36} {:>8} {:>8} {:>8} {:>8}  failed runs",
        "image", "median", "min", "max", "cpu"
    );
    let mut medians = Vec::new();
    let mut failed_runs = 0;
    for r in runnable {
        let mut times = Vec::with_capacity(RUNS);
        let mut cpu = Vec::with_capacity(RUNS);
        let mut failures = Vec::new();
        for _ in 0..RUNS {
            let before = children_cpu();
            let o = qemu::run(spec(r, &mut r.expectation.watcher()))?;
            cpu.push(children_cpu().saturating_sub(before));
            times.push(o.wall);
            if let Verdict::Failed(reason) = r.expectation.judge(&o).verdict {
                failures.push(reason);
            }
        }
        times.sort();
        cpu.sort();
        medians.push(times[RUNS / 2]);
        failed_runs += failures.len();
        println!(
            "{:<36} {:>8.1} {:>8.1} {:>8.1} {:>8.1}  {}",
            r.id,
            ms(times[RUNS / 2]),
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
    Ok(())
}

/// Every image once, on every core.
///
/// Errors: QEMU cannot start.
fn parallel(runnable: &[Runnable<'_>]) -> Result<()> {
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let failure = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                while let Some(r) = runnable.get(next.fetch_add(1, Ordering::SeqCst)) {
                    if let Err(e) = qemu::run(spec(r, &mut r.expectation.watcher())) {
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
    Ok(())
}

/// `cargo xtask qemu` as a user runs it, with a warm build.
///
/// Errors: the xtask binary cannot be found or started.
fn end_to_end(ws: &Workspace) -> Result<()> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let sh = shell(&ws.root)?;
    let start = Instant::now();
    let outcome = match cmd!(sh, "{exe} qemu").quiet().ignore_stdout().run() {
        Ok(()) => "passed".to_string(),
        Err(e) => format!("failed: {e}"),
    };
    println!(
        "`cargo xtask qemu` end to end, warm build: {:.3} s ({outcome})",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// How far past a 1 s deadline the `hang` fixture is ended.
///
/// Errors: QEMU cannot start, or the fixture does not time out.
fn hang_kill(boards: &Boards, prepared: &Prepared) -> Result<()> {
    let Some(hang) = prepared
        .images
        .iter()
        .find(|i| i.package() == "fw-fixtures" && i.bin() == "hang")
    else {
        println!("hang kill: skipped: no `hang` fixture in fw-fixtures");
        return Ok(());
    };
    let board = boards
        .get(&hang.id.board)
        .context("board of the hang fixture")?;
    let timeout = Duration::from_secs(1);
    let o = qemu::run_elf(board, &hang.elf, timeout)?;
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
    Ok(())
}

fn spec<'a>(r: &'a Runnable<'_>, watch: &'a mut dyn FnMut(&Line) -> Option<String>) -> RunSpec<'a> {
    RunSpec {
        board: r.board,
        elf: &r.elf,
        extra_args: &r.test.qemu_args,
        timeout: r.test.timeout.unwrap_or(DEFAULT_TIMEOUT),
        defmt: None,
        watch,
        echo: None,
        label: &r.id,
    }
}

/// User + system CPU time of all reaped children so far.
#[cfg(unix)]
fn children_cpu() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeValLike;
    let Ok(usage) = getrusage(UsageWho::RUSAGE_CHILDREN) else {
        return Duration::ZERO;
    };
    let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
    Duration::from_micros(micros.max(0) as u64)
}

#[cfg(not(unix))]
fn children_cpu() -> Duration {
    Duration::ZERO
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
