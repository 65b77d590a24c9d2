//! `cargo xtask ci`: every step CI runs, in order, then one summary with a
//! ✅/❌ per step, its wall time, and the command that reruns a failed step.
//!
//! A step whose declared inputs are unchanged since its last successful run
//! is reported as `✅ cached` and not rerun. `--matrix` and `--job` split the
//! same steps into GitHub matrix jobs, so CI runs exactly what a laptop runs.

mod cache;
mod exec;
mod gh_release;
mod lint;
mod nightly;
mod plan;
mod report;
mod tools;
mod ui;

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::workspace::Workspace;
use report::StepResult;
use ui::{Status, Ui};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    check: Option<Check>,
    /// Run every step even after one fails, and report all failures.
    #[arg(long)]
    keep_going: bool,
    /// Run every step, ignoring stored results (results are still stored).
    #[arg(long)]
    no_cache: bool,
    /// Print the jobs as JSON for a GitHub `strategy.matrix` (`fromJSON`) and
    /// exit; also written to `$GITHUB_OUTPUT` as `matrix=` when set.
    #[arg(long, conflicts_with_all = ["job", "step"])]
    matrix: bool,
    /// Run only the steps of this job (see `--matrix`).
    #[arg(long, value_name = "NAME")]
    job: Option<String>,
    /// Run only this step; repeatable.
    #[arg(long, value_name = "NAME")]
    step: Vec<String>,
    /// Add the nightly checks: fuzzing budget, two-clone reproducibility and
    /// dependency audit.
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
    /// Fuzz the size accounting for a time budget (cargo-fuzz, nightly).
    Fuzz {
        /// Total budget in seconds, shared by the fuzz targets.
        #[arg(long, default_value_t = nightly::FUZZ_BUDGET_S)]
        seconds: u32,
    },

    /// Publish `<target_dir>/dist` as the GitHub release of `$GITHUB_REF_NAME`.
    GhRelease,
}

pub fn run(args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    match args.check {
        Some(Check::Lint) => return lint::lint(&ws),
        Some(Check::Audit) => return lint::audit(&ws),
        Some(Check::GhRelease) => return gh_release::gh_release(&ws),
        Some(Check::Fuzz { seconds }) => return nightly::fuzz(&ws, seconds),

        None => {}
    }
    let all = plan::steps(&ws, args.nightly);
    if args.matrix {
        return print_matrix(&all);
    }
    let selected = select(&all, args.job.as_deref(), &args.step)?;
    if args.list {
        for s in &selected {
            println!("{}", s.name);
        }
        return Ok(());
    }
    run_steps(&ws, &selected, &args)
}

/// Installs the workflow and Dockerfile linters for `setup --lint`.
pub fn setup_lint(ws: &Workspace) -> Result<()> {
    tools::setup_lint(ws)
}

fn print_matrix(steps: &[plan::Step]) -> Result<()> {
    let include: Vec<serde_json::Value> = plan::jobs(steps)
        .into_iter()
        .map(|job| {
            let names: Vec<&str> = steps
                .iter()
                .filter(|s| s.job == job)
                .map(|s| s.name)
                .collect();
            serde_json::json!({ "job": job, "steps": names.join(" ") })
        })
        .collect();
    let json = serde_json::json!({ "include": include }).to_string();
    println!("{json}");
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open GITHUB_OUTPUT {}", path.display()))?;
        writeln!(f, "matrix={json}")?;
    }
    Ok(())
}

fn select(all: &[plan::Step], job: Option<&str>, names: &[String]) -> Result<Vec<plan::Step>> {
    if let Some(job) = job {
        let jobs = plan::jobs(all);
        if !jobs.contains(&job) {
            bail!("unknown ci job `{job}`; valid jobs: {}", jobs.join(", "));
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

fn run_steps(ws: &Workspace, steps: &[plan::Step], args: &Args) -> Result<()> {
    let started = Instant::now();
    exec::pin_self_exe()?;
    let ui = Ui::new(args.verbose);
    let store = cache::Store::new(ws);
    let mut hasher = cache::Hasher::new(ws)?;
    let reports = ws.reports_dir();
    let mut results: Vec<StepResult> = Vec::new();
    let mut stopped = false;
    for step in steps {
        let mut result = StepResult {
            name: step.name,
            job: step.job,
            status: Status::NotRun,
            duration_s: 0.0,
            cache: "none",
            command: step.rerun(),
            log: None,
            tests: Vec::new(),
            junit: step.junit.clone(),
            tail: Vec::new(),
        };
        if stopped {
            results.push(result);
            continue;
        }
        let line = ui.start(step.name);
        let t0 = Instant::now();
        let key = match hasher.key(step) {
            Ok(k) => Some(k),
            Err(e) => {
                ui.say(&format!(
                    "{}: cache key unavailable ({e:#}); running",
                    step.name
                ));
                None
            }
        };
        let hit = match (&key, args.no_cache) {
            (Some(k), false) => store.lookup(step, k),
            _ => None,
        };
        if let Some(entry) = hit {
            result.status = Status::Cached;
            result.cache = "hit";
            result.tests = entry.tests;
            result.duration_s = t0.elapsed().as_secs_f64();
            line.finish(Status::Cached, result.duration_s);
            results.push(result);
            continue;
        }
        let log = reports.join("logs").join(format!("{}.log", step.name));
        let ran = exec::run_step(ws, step, &log, &|c| line.command(c), &|l| line.output(l))?;
        result.cache = if args.no_cache { "off" } else { "miss" };
        result.duration_s = t0.elapsed().as_secs_f64();
        result.tests = ran.tests;
        result.tail = ran.tail;
        result.log = Some(log);
        if ran.passed {
            result.status = Status::Passed;
            if let Some(k) = &key
                && let Err(e) = store.store(step, k, ran.duration_s, result.tests.clone())
            {
                ui.say(&format!("{}: result not cached ({e:#})", step.name));
            }
        } else {
            result.status = Status::Failed;
            store.forget(step.name);
            stopped = !args.keep_going;
        }
        line.finish(result.status, result.duration_s);
        results.push(result);
    }
    let total = started.elapsed().as_secs_f64();
    let targets: BTreeMap<String, String> = crate::boards::Boards::load(ws)
        .map(|b| {
            b.all()
                .iter()
                .map(|b| (b.name.clone(), b.target.clone()))
                .collect()
        })
        .unwrap_or_default();
    report::write_all(&reports, &results, total, &targets)?;
    print_summary(&ui, &results, total, args.timings);
    let failed: Vec<&StepResult> = results
        .iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|r| r.name).collect();
        bail!(
            "ci failed at step{} {} (rerun: {})",
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            failed
                .iter()
                .map(|r| r.command.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    Ok(())
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
            r.cache
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
}
