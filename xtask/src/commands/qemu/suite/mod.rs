//! The test suite: select cases (test × board), build the images, run them
//! in parallel with retries, print verdicts and rerun hints, write the
//! reports. Each concern has its module: [`select`] (which cases),
//! [`execute`] (running them), [`summary`] (printing and reports),
//! [`environment`] (what the reports record about the host) and [`prepare`]
//! (the images and expectations `cargo xtask bench qemu` runs).

mod environment;
mod execute;
pub mod prepare;
mod select;
mod summary;

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::{Args, coverage};
use crate::boards::{Board, Boards};
use crate::cargo;
use crate::commands::size_check::budget::Budgets;
use crate::qemu::manifest::Manifest;
use crate::workspace::{Workspace, check_output};

pub use select::Subset;

pub fn run(ws: &Workspace, boards: &Boards, args: &Args) -> Result<()> {
    let manifest_path = args
        .manifest
        .clone()
        .unwrap_or_else(|| ws.qemu_dir().join("tests.toml"));
    let manifest = Manifest::load(&manifest_path, boards)?;
    let (budgets, budgets_label) = budgets(ws, args)?;
    let last_report = select::last_report_path(ws, args.manifest.as_deref());
    let cases = select::cases(&manifest, boards, args, &last_report)?;
    if args.list {
        summary::list(&cases);
        return Ok(());
    }
    if cases.is_empty() {
        let why = select::nothing_selected(&manifest, args, &last_report);
        if args.allow_empty {
            println!("{why} (--allow-empty)");
            return Ok(());
        }
        bail!("{why}; a run that tests nothing is not a pass (--allow-empty accepts it)");
    }
    // Outputs are checked before anything runs, so a bad path wastes no run.
    for (flag, path) in [("--json", &args.json), ("--junit", &args.junit)] {
        if let Some(path) = path {
            check_output(flag, path)?;
        }
    }
    check_output("the last-run report", &last_report)?;

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
    let traces = args
        .coverage
        .then(|| coverage::Traces::prepare(ws, &build_boards))
        .transpose()?;
    // The report's environment (QEMU versions, rustc, git) is gathered while
    // cargo builds, not while QEMU needs the cores.
    let (results, duration, env, tool) = std::thread::scope(|s| -> Result<_> {
        let env = s.spawn(|| environment::capture(ws, &build_boards, jobs, args.profile()));
        let images = cargo::build_images(ws, &build_boards, &[args.profile()])
            .context("building the test images failed; no test was run")?;
        let tool = args
            .coverage
            .then(|| coverage::Tool::build(ws))
            .transpose()?;
        let started = Instant::now();
        let run = execute::Run {
            ws,
            images: &images,
            manifest: &manifest,
            args,
            manifest_path: &manifest_path,
            budgets: &budgets,
            budgets_label: &budgets_label,
            trace: traces.as_ref(),
        };
        let results = run.all(&cases, jobs);
        Ok((results, started.elapsed(), env.join(), tool))
    })?;
    let finished = summary::finish(
        args,
        results.clone(),
        duration,
        env.unwrap_or_default(),
        &last_report,
    );
    if let (Some(tool), Some(traces)) = (tool, traces) {
        let suite = coverage::Suite {
            results: &results,
            goals: budgets.coverage(),
            whole: whole_suite(args, boards, &build_boards),
        };
        // Failed tests are the first thing to report; coverage still shows
        // what ran.
        let covered = coverage::report(ws, &tool, &traces, &suite);
        finished?;
        return covered;
    }
    finished
}

/// Whether every test of the default manifest ran on every board, the
/// only run that coverage goals are checked against.
fn whole_suite(args: &Args, boards: &Boards, used: &[&Board]) -> bool {
    args.manifest.is_none()
        && args.test.is_empty()
        && args.subset.is_none()
        && !args.only_failed
        && used.len() == boards.all().len()
}

/// The stack budgets (`--budgets`, else `qemu/budgets.toml`) and the
/// file's name for reports, relative to the workspace root when inside it.
///
/// Errors: `--budgets` names no file, or the file is invalid.
fn budgets(ws: &Workspace, args: &Args) -> Result<(Budgets, String)> {
    let path = args
        .budgets
        .clone()
        .unwrap_or_else(|| ws.qemu_dir().join("budgets.toml"));
    if args.budgets.is_some() && !path.is_file() {
        bail!("--budgets {}: no such file", path.display());
    }
    let label = path
        .strip_prefix(&ws.root)
        .unwrap_or(&path)
        .display()
        .to_string();
    Ok((Budgets::load(&path)?, label))
}
