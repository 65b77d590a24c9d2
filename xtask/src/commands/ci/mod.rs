//! `cargo xtask ci`: every step CI runs, each job's steps in order and the
//! jobs side by side (see [`schedule`]), then one summary with a ✅/❌ per
//! step, its wall time, and the command that reruns a failed step.
//!
//! A step whose declared inputs are unchanged since its last successful run
//! is reported as `✅ cached` and not rerun. `--matrix` and `--job` split the
//! same steps into GitHub matrix jobs, so CI runs exactly what a laptop runs.

pub mod bench;
mod cache;
mod exec;
mod gh_release;
mod inputs;
mod interrupt;
pub mod lint;
mod merge;
pub mod plan;
mod qemu72;
mod report;
mod schedule;
mod ui;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::boards::Boards;
use crate::workspace::Workspace;
use plan::{Job, Step};
use report::{CacheUse, StepResult};
use ui::{Status, Ui};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    check: Option<Check>,
    /// Run every step even after one fails, and report all failures.
    #[arg(long)]
    keep_going: bool,
    /// How many steps may run at once [default: one per core]. Steps of one
    /// job (see `--matrix`) always run one after another, in order.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Run every step, ignoring stored results (results are still stored).
    #[arg(long)]
    no_cache: bool,
    /// Print the jobs as JSON for a GitHub `strategy.matrix` (`fromJSON`) and
    /// exit; also written to `$GITHUB_OUTPUT` as `matrix=` when set. The
    /// `qemu` job is left out: ci.yml shards it over a bundle.
    #[arg(long, conflicts_with_all = ["job", "step"])]
    matrix: bool,
    /// Run only the steps of this job (see `--matrix`).
    #[arg(long, value_enum, value_name = "NAME")]
    job: Option<Job>,
    /// Run only this step; repeatable.
    #[arg(long, value_name = "NAME")]
    step: Vec<String>,
    /// Add the nightly checks: fuzzing budget, two-clone reproducibility,
    /// dependency audit and firmware line coverage.
    #[arg(long)]
    nightly: bool,
    /// Print the names of the steps that would run, one per line, and exit.
    #[arg(long)]
    list: bool,
    /// Print per-step wall times, slowest first, at the end.
    #[arg(long)]
    timings: bool,
    /// Echo each command before it runs (and, on a terminal, all output).
    #[arg(short, long)]
    verbose: bool,
}

#[derive(clap::Subcommand, Debug)]
enum Check {
    /// Workflow policy, actionlint, zizmor --offline and hadolint.
    Lint,
    /// Lockfile sources and, when installed, `cargo audit`.
    Audit,
    /// Fuzz the ELF reader for a time budget (cargo-fuzz, nightly).
    Fuzz {
        /// Total budget in seconds, shared by the fuzz targets.
        #[arg(long, default_value_t = crate::fuzz::BUDGET_S)]
        seconds: u64,
    },
    /// Publish `<target_dir>/dist` as the GitHub release of `$GITHUB_REF_NAME`.
    GhRelease,
    /// The QEMU suite on Debian 12's QEMU 7.2, unpacked in `.cache/qemu-7.2`
    /// by `cargo xtask setup`.
    #[command(name = "qemu-7.2")]
    Qemu72,
    /// Merge the QEMU suite's shard reports into the reports of one run.
    Report {
        /// Shard reports: `qemu.json` files, or folders searched for them
        /// (as `download-artifact` lays out one folder per shard).
        #[arg(long, required = true, num_args = 1.., value_name = "DIR")]
        merge: Vec<PathBuf>,
        /// Where to write `qemu.json`, `qemu-junit.xml` and `summary.md`
        /// [default: `<target_dir>/reports`].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    match args.check {
        Some(Check::Lint) => return lint::lint(&ws),
        Some(Check::Audit) => return lint::audit(&ws),
        Some(Check::GhRelease) => return gh_release::gh_release(&ws),
        Some(Check::Qemu72) => return qemu72::run(&ws),
        Some(Check::Fuzz { seconds }) => return crate::fuzz::run_all(&ws, seconds),
        Some(Check::Report { merge, out }) => return merge::merge(&ws, &merge, out.as_deref()),
        None => {}
    }
    let all = plan::steps(&ws, args.nightly);
    if args.matrix {
        return print_matrix(&all);
    }
    let selected = select(&all, args.job, &args.step)?;
    if args.list {
        for s in &selected {
            println!("{}", s.name);
        }
        return Ok(());
    }
    run_steps(&ws, &selected, &args)
}

/// Prints every job as one GitHub matrix, each entry with the container
/// it runs in (empty: the runner); writes to `$GITHUB_OUTPUT` the jobs that
/// run on the runner as `matrix=` and those that run in
/// [`plan::QEMU_CONTAINER`] as `container_matrix=`, one workflow job each.
fn print_matrix(steps: &[Step]) -> Result<()> {
    let entry = |job: Job| {
        let names: Vec<&str> = steps
            .iter()
            .filter(|s| s.job == job)
            .map(|s| s.name)
            .collect();
        serde_json::json!({ "job": job, "steps": names.join(" ") })
    };
    // ci.yml runs the sharded job as its own bundle, shard and merge jobs.
    let jobs: Vec<Job> = plan::jobs(steps)
        .into_iter()
        .filter(|job| !job.sharded())
        .collect();
    let all: Vec<serde_json::Value> = jobs
        .iter()
        .map(|&job| {
            let mut e = entry(job);
            e["container"] = job.container().unwrap_or("").into();
            e
        })
        .collect();
    println!("{}", serde_json::json!({ "include": all }));
    let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let of = |inside: bool| {
        let include: Vec<serde_json::Value> = jobs
            .iter()
            .filter(|j| j.container().is_some() == inside)
            .map(|&j| entry(j))
            .collect();
        serde_json::json!({ "include": include })
    };
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open GITHUB_OUTPUT {}", path.display()))?;
    writeln!(f, "matrix={}", of(false))?;
    writeln!(f, "container_matrix={}", of(true))?;
    Ok(())
}

fn select(all: &[Step], job: Option<Job>, names: &[String]) -> Result<Vec<Step>> {
    if let Some(job) = job {
        let jobs = plan::jobs(all);
        if !jobs.contains(&job) {
            let valid: Vec<&str> = jobs.iter().map(|j| j.name()).collect();
            bail!(
                "ci job `{}` has no step in this plan (add --nightly for the nightly jobs); valid jobs: {}",
                job.name(),
                valid.join(", ")
            );
        }
    }
    for n in names {
        if !all.iter().any(|s| s.name == n) {
            let valid: Vec<&str> = all.iter().map(|s| s.name).collect();
            bail!("unknown ci step `{n}`; valid steps: {}", valid.join(", "));
        }
    }
    Ok(all
        .iter()
        .filter(|s| job.is_none_or(|j| s.job == j))
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s.name))
        .cloned()
        .collect())
}

fn run_steps(ws: &Workspace, steps: &[Step], args: &Args) -> Result<()> {
    interrupt::install()?;
    let started = Instant::now();
    let exe = exec::pin_self_exe(ws)?;
    let jobs = args
        .jobs
        .map_or_else(schedule::default_jobs, usize::from)
        .min(plan::jobs(steps).len());
    let ui = Ui::new(args.verbose, jobs > 1);
    let runner = Runner {
        ws,
        ui: &ui,
        store: cache::Store::new(ws),
        hasher: Mutex::new(cache::Hasher::new(ws)?),
        no_cache: args.no_cache,
    };
    let results = schedule::run_all(steps, jobs, args.keep_going, &|step| runner.run(step))?;
    let total = started.elapsed().as_secs_f64();
    report::write_all(&ws.reports_dir(), &results, total, &board_targets(ws))?;
    print_summary(&ui, &results, total, args.timings);
    drop(exe);
    if let Some(signal) = interrupt::signal() {
        exit_interrupted(signal);
    }
    let failed: Vec<&StepResult> = results
        .iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = failed.iter().map(|r| r.name).collect();
    let reruns: Vec<&str> = failed.iter().map(|r| r.command.as_str()).collect();
    bail!(
        "ci failed at step{} {} (rerun: {})",
        if names.len() == 1 { "" } else { "s" },
        names.join(", "),
        reruns.join("; ")
    )
}

/// Says what `signal` interrupted and exits 130, as a shell reports a
/// command ended by SIGINT.
fn exit_interrupted(signal: &str) -> ! {
    let lines = interrupt::interrupted();
    if lines.is_empty() {
        eprintln!("interrupted: ci got {signal} between steps; no step command was running");
    }
    for line in lines {
        eprintln!("interrupted: {line}");
    }
    eprintln!("ci stopped by {signal}; the steps after it did not run");
    std::process::exit(130)
}

/// Board name → target triple, for labelling image sizes in the reports.
fn board_targets(ws: &Workspace) -> BTreeMap<String, String> {
    Boards::load(ws)
        .map(|b| {
            b.all()
                .iter()
                .map(|b| (b.name.clone(), b.target.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs one step with the step cache; shared by the steps running at once.
struct Runner<'a> {
    ws: &'a Workspace,
    ui: &'a Ui,
    store: cache::Store,
    hasher: Mutex<cache::Hasher<'a>>,
    no_cache: bool,
}

impl Runner<'_> {
    /// Reports a cache hit, or runs the step, stores a pass and forgets a
    /// failure.
    ///
    /// Errors: the step's log cannot be written.
    fn run(&self, step: &Step) -> Result<StepResult> {
        let mut result = StepResult::new(step);
        let line = self.ui.start(step.name);
        let t0 = Instant::now();
        let key = self
            .hasher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .key(step);
        let key = match key {
            Ok(k) => Some(k),
            Err(e) => {
                let msg = format!("{}: cache key unavailable ({e:#}); running", step.name);
                self.ui.say(&msg);
                None
            }
        };
        let hit = key
            .as_ref()
            .filter(|_| !self.no_cache)
            .and_then(|k| self.store.lookup(step, k));
        if let Some(entry) = hit {
            result.status = Status::Cached;
            result.cache = CacheUse::Hit;
            result.tests = entry.tests;
            result.duration_s = t0.elapsed().as_secs_f64();
            line.finish(Status::Cached, result.duration_s);
            return Ok(result);
        }
        let log = self
            .ws
            .reports_dir()
            .join("logs")
            .join(format!("{}.log", step.name));
        let ran = exec::run_step(self.ws, step, &log, &|c| line.command(c), &|l| {
            line.output(l)
        })?;
        result.cache = if self.no_cache {
            CacheUse::Off
        } else {
            CacheUse::Miss
        };
        result.duration_s = t0.elapsed().as_secs_f64();
        result.tests = ran.tests;
        result.tail = ran.tail;
        result.log = Some(log);
        result.status = if ran.passed {
            Status::Passed
        } else {
            Status::Failed
        };
        match (&key, ran.passed) {
            (Some(k), true) => {
                if let Err(e) = self
                    .store
                    .store(step, k, ran.duration_s, result.tests.clone())
                {
                    self.ui
                        .say(&format!("{}: result not cached ({e:#})", step.name));
                }
            }
            (_, true) => {}
            (_, false) => self.store.forget(step.name),
        }
        line.finish(result.status, result.duration_s);
        Ok(result)
    }
}

fn print_summary(ui: &Ui, results: &[StepResult], total: f64, timings: bool) {
    let (bold, red, reset) = if ui.color() {
        ("\x1b[1m", "\x1b[31m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    println!(
        "\n{bold}{:<3} {:<16} {:<8} {:>8}  {:<5}{reset}",
        "", "step", "status", "time", "cache"
    );
    for r in results {
        println!(
            "{:<3} {:<16} {:<8} {:>7.1}s  {:<5}",
            r.status.mark(),
            r.name,
            r.status.word(),
            r.duration_s,
            r.cache.name()
        );
    }
    println!("{:<3} {:<16} {:<8} {:>7.1}s", "", "total", "", total);
    for r in results.iter().filter(|r| r.status == Status::Failed) {
        println!(
            "\n{red}❌ {} failed{reset}; last lines of its output:",
            r.name
        );
        for l in &r.tail {
            println!("  {l}");
        }
        if let Some(log) = &r.log {
            println!("  full log: {}", log.display());
        }
        println!("  rerun: {}", r.command);
    }
    if timings {
        print_timings(results, total);
    }
}

fn print_timings(results: &[StepResult], total: f64) {
    let mut sorted: Vec<&StepResult> = results.iter().collect();
    sorted.sort_by(|a, b| b.duration_s.total_cmp(&a.duration_s));
    println!("\ntimings (wall, slowest first):");
    for r in sorted {
        let share = if total > 0.0 {
            100.0 * r.duration_s / total
        } else {
            0.0
        };
        println!("  {:<16} {:>8.2}s {:>5.1}%", r.name, r.duration_s, share);
    }
}
