//! The test suite: select cases (test × board), build the images, run them in
//! parallel with retries, print verdicts and rerun hints, write the reports.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::expect::{self, Verdict};
use super::manifest::{Manifest, Test};
use super::report::{self, Attempt, CaseResult, Environment, JsonReport, Status, Summary};
use super::runner::{self, RunSpec};
use super::{Args, DEFAULT_TIMEOUT};
use crate::boards::{Board, Boards};
use crate::build::{self, Image, Profile};
use crate::workspace::Workspace;

/// Console lines kept in reports and failure messages.
const TAIL_LINES: usize = 20;

/// `--subset N/M`: shard N (1-based) of M.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subset {
    pub index: usize,
    pub count: usize,
}

impl Subset {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not N/M with 1 <= N <= M, e.g. 2/4");
        let (n, m) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            n.trim().parse::<usize>().map_err(|_| bad())?,
            m.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Keeps this shard of `ids`, which must be sorted: the i-th id goes to
    /// shard `i mod M + 1`, so the M shards partition the set and sizes differ
    /// by at most one.
    pub fn select<T>(&self, sorted: Vec<T>) -> Vec<T> {
        sorted
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index - 1)
            .map(|(_, t)| t)
            .collect()
    }
}

/// One test on one board.
struct Case<'a> {
    test: &'a Test,
    board: &'a Board,
    id: String,
}

pub fn run(ws: &Workspace, boards: &Boards, args: &Args) -> Result<()> {
    let manifest_path = args
        .manifest
        .clone()
        .unwrap_or_else(|| ws.qemu_dir().join("tests.toml"));
    let manifest = Manifest::load(&manifest_path, boards)?;
    let last_report = last_report_path(ws, args.manifest.as_deref());
    let cases = select(&manifest, boards, args, &last_report)?;
    if args.list {
        for c in &cases {
            let skip = c
                .test
                .skip
                .as_deref()
                .map(|r| format!(" (skipped: {r})"))
                .unwrap_or_default();
            println!("{}{skip}", c.id);
        }
        return Ok(());
    }
    if cases.is_empty() {
        if args.only_failed {
            println!(
                "nothing failed or errored in the last run ({})",
                last_report.display()
            );
        } else {
            println!("no test selected");
        }
        return Ok(());
    }

    // Build first: a build failure is an error, never a pass.
    let used: BTreeSet<&str> = cases.iter().map(|c| c.board.name.as_str()).collect();
    let build_boards: Vec<&Board> = boards
        .all()
        .iter()
        .filter(|b| used.contains(b.name.as_str()))
        .collect();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    // The report's environment (QEMU versions, rustc, git) is gathered while
    // cargo builds, not while QEMU needs the cores.
    let (results, duration, env) = std::thread::scope(|s| -> Result<_> {
        let env = s.spawn(|| environment(ws, &build_boards, jobs, args.profile));
        let images = build::build_images(ws, &build_boards, &[args.profile])
            .context("building the test images failed; no test was run")?;
        let started = Instant::now();
        let results = run_cases(&cases, &images, &manifest, args, jobs, &manifest_path);
        Ok((results, started.elapsed(), env.join()))
    })?;
    let env = env.unwrap_or_default();
    finish(args, results, duration, env, &last_report)
}

/// `<target_dir>/reports/qemu.json` for `qemu/tests.toml`; another manifest
/// gets its own file (`qemu-<stem>-<hash of its path>.json`) so that
/// `--only-failed` never mixes the tests of two manifests.
fn last_report_path(ws: &Workspace, manifest: Option<&Path>) -> PathBuf {
    let Some(path) = manifest else {
        return ws.reports_dir().join("qemu.json");
    };
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    // FNV-1a: stable across toolchains, unlike `DefaultHasher`.
    let hash = path
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    ws.reports_dir()
        .join(format!("qemu-{stem}-{:08x}.json", hash as u32))
}

fn select<'a>(
    manifest: &'a Manifest,
    boards: &'a Boards,
    args: &Args,
    last_report: &Path,
) -> Result<Vec<Case<'a>>> {
    let selected = boards.select(args.target.as_deref().unwrap_or("all"))?;
    for name in &args.test {
        if !manifest.tests.iter().any(|t| t.name == *name) {
            let names: Vec<&str> = manifest.tests.iter().map(|t| t.name.as_str()).collect();
            bail!(
                "no test `{name}` in {}; tests: {}",
                manifest.path.display(),
                names.join(", ")
            );
        }
    }
    let failed: Option<BTreeSet<String>> = if args.only_failed {
        if !last_report.exists() {
            bail!(
                "--only-failed: no previous report at {}; run `cargo xtask qemu` first",
                last_report.display()
            );
        }
        let last = JsonReport::read(last_report)?;
        Some(
            last.tests
                .into_iter()
                .filter(|t| matches!(t.status, Status::Failed | Status::Error))
                .map(|t| t.id)
                .collect(),
        )
    } else {
        None
    };
    let mut cases: Vec<Case> = Vec::new();
    for test in &manifest.tests {
        if !args.test.is_empty() && !args.test.contains(&test.name) {
            continue;
        }
        for board in selected.iter().copied().filter(|b| test.runs_on(b)) {
            let id = format!("{}/{}", board.name, test.name);
            if failed.as_ref().is_some_and(|f| !f.contains(&id)) {
                continue;
            }
            cases.push(Case { test, board, id });
        }
    }
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(match args.subset {
        Some(s) => s.select(cases),
        None => cases,
    })
}

/// Runs every case on `jobs` threads. Each thread spawns and reaps its own
/// QEMU (PR_SET_PDEATHSIG follows the spawning thread).
fn run_cases(
    cases: &[Case<'_>],
    images: &[Image],
    manifest: &Manifest,
    args: &Args,
    jobs: usize,
    manifest_path: &Path,
) -> Vec<CaseResult> {
    let out = Printer::new(cases.len());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CaseResult>>> = Mutex::new(cases.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(cases.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(i) else { break };
                    out.started(&case.id);
                    let r = run_case(case, images, manifest, args, manifest_path);
                    out.finished(&r);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    out.done();
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

fn run_case(
    case: &Case<'_>,
    images: &[Image],
    manifest: &Manifest,
    args: &Args,
    manifest_path: &Path,
) -> CaseResult {
    let test = case.test;
    let mut r = CaseResult {
        id: case.id.clone(),
        name: test.name.clone(),
        board: case.board.name.clone(),
        target: case.board.target.clone(),
        status: Status::Error,
        reason: None,
        duration_s: 0.0,
        retries: 0,
        exit_code: None,
        expected_exit_code: test.exit_code,
        elf: None,
        log_tail: Vec::new(),
        mismatch: None,
        failed_attempts: Vec::new(),
        rerun: rerun_command(case, args, manifest_path),
    };
    if let Some(reason) = &test.skip {
        r.status = Status::Skipped;
        r.reason = Some(reason.clone());
        return r;
    }
    let Some(image) = images
        .iter()
        .find(|i| i.package == test.package && i.name == test.bin && i.board == case.board.name)
    else {
        r.reason = Some(format!(
            "ELF missing: package `{}` built no bin `{}` for {}",
            test.package, test.bin, case.board.target
        ));
        return r;
    };
    r.elf = Some(image.elf.clone());
    let expectation = match test.expectation(manifest.dir(), case.board) {
        Ok(e) => e,
        Err(e) => {
            r.reason = Some(format!("{e:#}"));
            return r;
        }
    };
    let timeout = args
        .timeout
        .map(Duration::from_secs_f64)
        .or(test.timeout)
        .unwrap_or(DEFAULT_TIMEOUT)
        .mul_f64(args.timeout_multiplier);
    for attempt in 0..=args.retry_failed {
        let mut watch = expectation.watcher();
        let outcome = runner::run(RunSpec {
            board: case.board,
            elf: &image.elf,
            extra_args: &test.qemu_args,
            timeout,
            watch: &mut watch,
            echo: false,
            label: &case.id,
        });
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                r.status = Status::Error;
                r.reason = Some(format!("{e:#}"));
                return r;
            }
        };
        let judgement = expectation.judge(&outcome);
        r.retries = attempt;
        r.duration_s = outcome.wall.as_secs_f64();
        r.exit_code = outcome.exit_code();
        r.log_tail = outcome.tail(TAIL_LINES);
        r.mismatch = judgement.mismatch;
        match judgement.verdict {
            Verdict::Passed => {
                r.status = if attempt == 0 {
                    Status::Passed
                } else {
                    Status::Flaky
                };
                r.reason = (attempt > 0).then(|| format!("passed on retry {attempt}"));
                return r;
            }
            Verdict::Failed(reason) => {
                if attempt < args.retry_failed {
                    r.failed_attempts.push(Attempt {
                        reason,
                        duration_s: r.duration_s,
                        log_tail: r.log_tail.clone(),
                    });
                } else {
                    r.status = Status::Failed;
                    r.reason = Some(reason);
                }
            }
        }
    }
    r
}

/// The command that reruns `case` alone with the same settings.
fn rerun_command(case: &Case<'_>, args: &Args, manifest_path: &Path) -> String {
    let mut cmd = format!(
        "cargo xtask qemu --target {} --test {}",
        case.board.name, case.test.name
    );
    if args.profile != Profile::Release {
        cmd.push_str(&format!(" --profile {}", args.profile.name()));
    }
    if let Some(t) = args.timeout {
        cmd.push_str(&format!(" --timeout {t}"));
    }
    if args.timeout_multiplier != 1.0 {
        cmd.push_str(&format!(
            " --timeout-multiplier {}",
            args.timeout_multiplier
        ));
    }
    if args.manifest.is_some() {
        cmd.push_str(&format!(
            " --manifest {}",
            shell_word(&manifest_path.display().to_string())
        ));
    }
    cmd
}

fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn finish(
    args: &Args,
    results: Vec<CaseResult>,
    duration: Duration,
    environment: Environment,
    last_report: &Path,
) -> Result<()> {
    let summary = Summary::of(&results);
    let color = color_enabled();
    for r in results
        .iter()
        .filter(|r| matches!(r.status, Status::Failed | Status::Error))
    {
        println!();
        println!(
            "--- {} {}: {}",
            paint(r.status, color),
            r.id,
            r.reason.as_deref().unwrap_or("")
        );
        if !r.log_tail.is_empty() {
            println!("    last lines of output:");
            for l in &r.log_tail {
                println!("      {l}");
            }
        }
        if let Some(diff) = &r.mismatch {
            println!("    expected vs actual:");
            for l in diff.lines() {
                println!("      {l}");
            }
        }
        println!("    rerun: {}", r.rerun);
    }
    println!();
    println!(
        "{} tests in {:.2}s: {} passed, {} failed, {} error, {} skipped, {} flaky",
        summary.total,
        duration.as_secs_f64(),
        summary.passed,
        summary.failed,
        summary.error,
        summary.skipped,
        summary.flaky
    );
    let report = JsonReport {
        environment,
        summary: summary.clone(),
        duration_s: duration.as_secs_f64(),
        tests: results,
    };
    report.write(last_report)?;
    if let Some(path) = &args.json {
        report.write(path)?;
        println!("JSON report: {}", path.display());
    }
    if let Some(path) = &args.junit {
        report::write_junit(path, &report.tests, duration)?;
        println!("JUnit report: {}", path.display());
    }
    let bad = summary.failed + summary.error;
    if bad > 0 {
        bail!("{} of {} tests failed or errored", bad, summary.total);
    }
    if args.fail_on_flaky && summary.flaky > 0 {
        bail!("{} tests were flaky (--fail-on-flaky)", summary.flaky);
    }
    Ok(())
}

fn environment(ws: &Workspace, boards: &[&Board], jobs: usize, profile: Profile) -> Environment {
    let first_line = |cmd: &mut Command| -> Option<String> {
        let out = cmd.current_dir(&ws.root).output().ok()?;
        out.status.success().then(|| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
    };
    let qemu: BTreeMap<String, String> = boards
        .iter()
        .map(|b| {
            let v = first_line(Command::new(&b.qemu).arg("--version"))
                .unwrap_or_else(|| "not installed".into());
            (b.qemu.clone(), v)
        })
        .collect();
    let commit = first_line(Command::new("git").args(["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(&ws.root)
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    Environment {
        qemu,
        toolchain: first_line(Command::new("rustc").arg("-V")).unwrap_or_else(|| "unknown".into()),
        commit: if dirty {
            format!("{commit}-dirty")
        } else {
            commit
        },
        host: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        jobs,
        profile: profile.name().into(),
    }
}

/// Colour only on a terminal, and never when `NO_COLOR` is set and non-empty
/// (no-color.org).
fn color_enabled() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The status word, coloured if `color`.
fn paint(status: Status, color: bool) -> String {
    let word = status.as_str();
    if !color {
        return word.to_owned();
    }
    let code = match status {
        Status::Passed => "32",
        Status::Failed | Status::Error => "31",
        Status::Flaky | Status::Skipped => "33",
    };
    format!("\x1b[{code}m{word}\x1b[0m")
}

/// Verdict lines: above an indicatif bar on a terminal, plain lines otherwise.
struct Printer {
    bar: Option<ProgressBar>,
    color: bool,
}

impl Printer {
    fn new(total: usize) -> Self {
        let tty = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let bar = tty.then(|| {
            let bar = ProgressBar::new(total as u64);
            let template = if color_enabled() {
                "{spinner} [{bar:30.cyan/blue}] {pos}/{len} {elapsed} {msg}"
            } else {
                "{spinner} [{bar:30}] {pos}/{len} {elapsed} {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Self {
            bar,
            color: color_enabled(),
        }
    }

    fn started(&self, id: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(id.to_owned());
        }
    }

    fn finished(&self, r: &CaseResult) {
        let reason = r
            .reason
            .as_deref()
            .map(|s| format!("  {s}"))
            .unwrap_or_default();
        // Right-aligned to 7 columns, counting the word, not its colour codes.
        let pad = 7usize.saturating_sub(r.status.as_str().len());
        let line = format!(
            "{:>pad$}{}  {:<32} {:>7.3}s{reason}",
            "",
            paint(r.status, self.color),
            r.id,
            r.duration_s
        );
        match &self.bar {
            Some(bar) => {
                bar.suspend(|| println!("{line}"));
                bar.inc(1);
            }
            None => println!("{line}"),
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// For `cargo xtask bench qemu`: the suite's images and timeouts, built.
pub struct Prepared {
    pub manifest: Manifest,
    pub images: Vec<Image>,
}

/// Loads `qemu/tests.toml` and builds every image it names (release).
pub fn prepare(ws: &Workspace, boards: &Boards) -> Result<Prepared> {
    let manifest = Manifest::load(&ws.qemu_dir().join("tests.toml"), boards)?;
    let all: Vec<&Board> = boards.all().iter().collect();
    let images = build::build_images(ws, &all, &[Profile::Release])?;
    Ok(Prepared { manifest, images })
}

/// A test on a board, ready to run.
pub struct Runnable<'a> {
    pub id: String,
    pub board: &'a Board,
    pub elf: PathBuf,
    pub expectation: expect::Expectation,
    pub test: &'a Test,
}

impl Prepared {
    /// Every test on every board it runs on, except skipped ones and those
    /// whose image or transcript is missing.
    pub fn runnable<'a>(&'a self, boards: &'a Boards) -> Vec<Runnable<'a>> {
        let mut out = Vec::new();
        for test in self.manifest.tests.iter().filter(|t| t.skip.is_none()) {
            for board in boards.all().iter().filter(|b| test.runs_on(b)) {
                let Some(image) = self.images.iter().find(|i| {
                    i.package == test.package && i.name == test.bin && i.board == board.name
                }) else {
                    continue;
                };
                if let Ok(expectation) = test.expectation(self.manifest.dir(), board) {
                    out.push(Runnable {
                        id: format!("{}/{}", board.name, test.name),
                        board,
                        elf: image.elf.clone(),
                        expectation,
                        test,
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_parses_and_rejects() {
        assert_eq!(Subset::parse("2/4"), Ok(Subset { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1", "a/b", "1/0"] {
            assert!(Subset::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subsets_partition_the_set() {
        let ids: Vec<String> = (0..23).map(|i| format!("board/t{i:02}")).collect();
        for m in 1..=7 {
            let mut seen: Vec<String> = Vec::new();
            let mut sizes = Vec::new();
            for n in 1..=m {
                let shard = Subset { index: n, count: m }.select(ids.clone());
                sizes.push(shard.len());
                seen.extend(shard);
            }
            seen.sort();
            assert_eq!(seen, ids, "M={m}");
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn shell_words_are_quoted() {
        assert_eq!(shell_word("qemu/tests.toml"), "qemu/tests.toml");
        assert_eq!(shell_word("my dir/t.toml"), "'my dir/t.toml'");
    }
}
