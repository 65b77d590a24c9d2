//! `cargo xtask bench qemu`: spawn-to-verdict time per image (median of
//! 20 runs, each judged as in the suite), plain and with the translation
//! log of `--coverage`, the wall time of all images run in parallel on every
//! core, the end-to-end `cargo xtask qemu` and `cargo xtask qemu --coverage`
//! with a warm build, how long after its deadline a hanging image is ended,
//! and a busy-idle, timer-driven image under each board's icount shift beside
//! plain QEMU without instruction counting.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use xshell::cmd;

use super::suite::prepare::{self, Prepared, Runnable};
use crate::boards::qemu_version::Installed;
use crate::boards::{Board, Boards};
use crate::cmd::shell;
use crate::commands::bench::firmware::passing_run;
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
    per_image(&ws, &runnable)?;
    parallel(&runnable)?;
    end_to_end(&ws)?;
    hang_kill(&boards, &prepared)?;
    busy_idle(&boards, &prepared)
}

/// Spawn → verdict per image, [`RUNS`] times each, plain and with the
/// translation log of `--coverage` (`-d in_asm -D <log>`).
///
/// Errors: QEMU cannot start.
fn per_image(ws: &Workspace, runnable: &[Runnable<'_>]) -> Result<()> {
    println!(
        "spawn → verdict per image, {RUNS} runs (ms; cpu = QEMU user + system time; \
         in_asm = the same with --coverage's translation log):"
    );
    println!(
        "{:<36} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}  failed runs",
        "image", "median", "min", "max", "cpu", "in_asm", "log KiB"
    );
    let logs = ws.target_dir.join("tmp").join("bench-qemu");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let (mut medians, mut traced) = (Vec::new(), Vec::new());
    let mut failed_runs = 0;
    for r in runnable {
        let plain = measure(r, &[])?;
        let log = logs.join(format!("{}.log", r.id.replace('/', "-")));
        let trace = ["-d", "in_asm", "-D", &log.to_string_lossy()].map(String::from);
        let with_log = measure(r, &trace)?;
        let log_kib = std::fs::metadata(&log).map_or(0.0, |m| m.len() as f64 / 1024.0);
        medians.push(plain.median());
        traced.push(with_log.median());
        let failures = [&plain.failures[..], &with_log.failures[..]].concat();
        failed_runs += failures.len();
        println!(
            "{:<36} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1}  {}",
            r.id,
            ms(plain.median()),
            ms(plain.times[0]),
            ms(plain.times[RUNS - 1]),
            ms(plain.cpu[RUNS / 2]),
            ms(with_log.median()),
            log_kib,
            if failures.is_empty() {
                "0".to_string()
            } else {
                format!("{} ({})", failures.len(), failures.join("; "))
            }
        );
    }
    medians.sort();
    traced.sort();
    println!(
        "median over images: {:.1} ms (goal ≤ 60 ms), with in_asm {:.1} ms; {failed_runs} of {} runs failed",
        ms(medians[medians.len() / 2]),
        ms(traced[traced.len() / 2]),
        2 * RUNS * runnable.len()
    );
    Ok(())
}

/// [`RUNS`] runs of one image, sorted.
struct Stats {
    times: Vec<Duration>,
    cpu: Vec<Duration>,
    failures: Vec<String>,
}

impl Stats {
    fn median(&self) -> Duration {
        self.times[RUNS / 2]
    }
}

/// Runs `r` [`RUNS`] times with `extra` QEMU arguments, judging each run.
///
/// Errors: QEMU cannot start.
fn measure(r: &Runnable<'_>, extra: &[String]) -> Result<Stats> {
    let args = [r.test.qemu_args.as_slice(), extra].concat();
    let mut s = Stats {
        times: Vec::with_capacity(RUNS),
        cpu: Vec::with_capacity(RUNS),
        failures: Vec::new(),
    };
    for _ in 0..RUNS {
        let before = children_cpu();
        let mut watch = r.expectation.watcher();
        let mut spec = spec(r, &mut watch);
        spec.extra_args = &args;
        let o = qemu::run(spec)?;
        s.cpu.push(children_cpu().saturating_sub(before));
        s.times.push(o.wall);
        if let Verdict::Failed(reason) = r.expectation.judge(&o).verdict {
            s.failures.push(reason);
        }
    }
    s.times.sort();
    s.cpu.sort();
    Ok(s)
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

/// `cargo xtask qemu` as a user runs it, with a warm build, and the same
/// with `--coverage` (translation logs, then the mapping to lines), warmed
/// by one untimed run so that neither time holds a build.
///
/// Errors: the xtask binary cannot be found or started.
fn end_to_end(ws: &Workspace) -> Result<()> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let sh = shell(&ws.root)?;
    let timed = |args: &[&str]| {
        let start = Instant::now();
        let outcome = match cmd!(sh, "{exe} qemu {args...}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
        {
            Ok(()) => "passed".to_string(),
            Err(e) => format!("failed: {e}"),
        };
        (start.elapsed().as_secs_f64(), outcome)
    };
    let (plain, outcome) = timed(&[]);
    println!("`cargo xtask qemu` end to end, warm build: {plain:.3} s ({outcome})");
    timed(&["--coverage"]);
    let (coverage, outcome) = timed(&["--coverage"]);
    println!(
        "`cargo xtask qemu --coverage` end to end, warm build: {coverage:.3} s ({outcome}), \
         {:.2} × the plain run",
        coverage / plain
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

/// Runs per mode of the busy-idle comparison, for the median.
const IDLE_RUNS: usize = 3;
/// Wall time under the board's icount shift, at most this many times plain
/// QEMU's (issue 13).
const IDLE_GOAL: f64 = 1.5;

/// The `busy_idle` fixture (its lowest task spins, another waits on 500
/// timer ticks) on each board: median wall time under the board's
/// `-icount shift` and under plain QEMU, side by side.
///
/// Errors: QEMU cannot start, or the fixture does not pass.
fn busy_idle(boards: &Boards, prepared: &Prepared) -> Result<()> {
    println!(
        "busy idle, timer driven (fw-fixtures busy_idle, 500 ticks; median of {IDLE_RUNS} runs; goal: icount ≤ {IDLE_GOAL}× plain):"
    );
    println!(
        "{:<13} {:>5} {:>10} {:>10} {:>7}",
        "board", "shift", "icount s", "plain s", "ratio"
    );
    let all: Vec<&Board> = boards.all().iter().collect();
    let qemu = Installed::read(&all);
    for board in boards.all() {
        let Some(image) = prepared
            .images
            .iter()
            .find(|i| i.is(&board.name, "fw-fixtures", "busy_idle"))
        else {
            println!("{:<13} skipped: no busy_idle image", board.name);
            continue;
        };
        if let Some(old) = qemu.too_old(&[board]).first() {
            println!("{:<13} skipped: {}", board.name, old.status());
            continue;
        }
        let counted = median_wall(board, &image.elf)?;
        let plain = median_wall(&board.without_icount(), &image.elf)?;
        let ratio = counted.as_secs_f64() / plain.as_secs_f64();
        println!(
            "{:<13} {:>5} {:>10.3} {:>10.3} {:>6.2}×  {}",
            board.name,
            board.icount_shift,
            counted.as_secs_f64(),
            plain.as_secs_f64(),
            ratio,
            if ratio <= IDLE_GOAL { "ok" } else { "OVER" }
        );
    }
    Ok(())
}

/// The median wall time of [`IDLE_RUNS`] runs of `elf` on `board`.
///
/// Errors: QEMU cannot start, or a run does not exit 0.
fn median_wall(board: &Board, elf: &std::path::Path) -> Result<Duration> {
    let mut walls = Vec::with_capacity(IDLE_RUNS);
    for _ in 0..IDLE_RUNS {
        walls.push(passing_run(elf, board)?.wall);
    }
    walls.sort();
    Ok(walls[IDLE_RUNS / 2])
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
