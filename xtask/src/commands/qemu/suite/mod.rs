//! The test suite: select cases (test × board), build the images, run them
//! in parallel with retries, print verdicts and rerun hints, write the
//! reports. Each concern has its module: [`select`] (which cases),
//! [`images`] (building what they need), [`execute`] (running them),
//! [`summary`] (printing and reports), [`environment`] (what the reports
//! record about the host) and [`prepare`] (the images and expectations
//! `cargo xtask bench qemu` runs). `--build-only --bundle` hands the built
//! cases to [`crate::bundle`] instead of running them; `--bundle` runs one.

mod environment;
mod execute;
mod images;
pub mod prepare;
mod select;
mod summary;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::report::Shard;
use super::{Args, coverage};
use crate::boards::qemu_version::Installed;
use crate::boards::{Board, Boards};
use crate::bundle::{self, Member};
use crate::commands::size_check::budget::Budgets;
use crate::qemu::manifest::Manifest;
use crate::workspace::{Workspace, check_output};

pub use select::Subset;

pub fn run(ws: &Workspace, boards: &Boards, args: &Args) -> Result<()> {
    let (manifest_path, boards) = &open(ws, boards, args)?;
    let manifest = Manifest::load(manifest_path, boards)?;
    let own = args.manifest.is_some() || (args.bundle.is_some() && !args.build_only);
    let last_report = select::last_report_path(
        ws,
        own.then_some(manifest_path.as_path()),
        args.qemu_dir.as_deref(),
    );
    let (budgets, budgets_label) = budgets(ws, args)?;
    let selected = select::cases(&manifest, boards, args, &last_report)?;
    let shard = args.subset.map(|s| Shard {
        index: s.index,
        count: s.count,
        of: selected.len(),
    });
    let mut cases = match args.subset {
        Some(s) => s.select(selected),
        None => selected,
    };
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
    if args.build_only {
        return build_only(ws, boards, &manifest, &cases, args);
    }
    // Outputs are checked before anything runs, so a bad path wastes no run.
    for (flag, path) in [("--json", &args.json), ("--junit", &args.junit)] {
        if let Some(path) = path {
            check_output(flag, path)?;
        }
    }
    check_output("the last-run report", &last_report)?;

    let used: BTreeSet<&str> = cases.iter().map(|c| c.board.name.as_str()).collect();
    let used: Vec<&Board> = boards
        .all()
        .iter()
        .filter(|b| used.contains(b.name.as_str()))
        .collect();
    // Once per run, before anything is built or run.
    let qemu = Installed::read(&used);
    let refused = refuse_old_qemu(&qemu, &used, &mut cases)?;
    let build_boards: Vec<&Board> = used
        .iter()
        .copied()
        .filter(|b| !refused.contains(&b.name))
        .collect();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let traces = args
        .coverage
        .then(|| coverage::Traces::prepare(ws, &build_boards))
        .transpose()?;
    // Build first: a build failure is an error, never a pass. The report's
    // environment (QEMU versions, rustc, git) is gathered while cargo
    // builds, not while QEMU needs the cores.
    let (results, duration, env, tool) = std::thread::scope(|s| -> Result<_> {
        let env = s.spawn(|| environment::capture(ws, &qemu, &used, jobs, args.profile()));
        let images = images::build(ws, boards, &manifest, &cases, args.profile())
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
            manifest_path,
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
        shard,
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
        && args.bundle.is_none()
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

/// Skips the cases of every board whose QEMU is older than its `min_qemu`
/// (status `skipped: QEMU 7.2.22 < 8.2.0 (reason)`), saying so before any
/// test runs, and returns those boards' names.
///
/// Errors: every selected case is on such a board, so the run would test
/// nothing; the error names each board, the version found, the minimum,
/// the reason and how to get a newer QEMU.
fn refuse_old_qemu(
    qemu: &Installed,
    used: &[&Board],
    cases: &mut [select::Case<'_>],
) -> Result<BTreeSet<String>> {
    let old = qemu.too_old(used);
    if old.is_empty() {
        return Ok(BTreeSet::new());
    }
    let refused: BTreeSet<String> = old.iter().map(|o| o.board.name.clone()).collect();
    if cases.iter().all(|c| refused.contains(&c.board.name)) {
        let why: Vec<String> = old.iter().map(|o| o.to_string()).collect();
        bail!("nothing to test: {}", why.join("\n"));
    }
    for o in &old {
        eprintln!("warning: skipping every test on {o}");
    }
    for case in cases.iter_mut() {
        if let Some(o) = old.iter().find(|o| o.board.name == case.board.name) {
            case.skip = Some(o.status());
        }
    }
    Ok(refused)
}

/// The manifest and the boards to run: a bundle's, checked against its
/// `SHA256SUMS` (`--bundle` without `--build-only`), or `--manifest`
/// (default `qemu/tests.toml`) with the workspace's boards.
///
/// Errors: `--manifest` with a bundle to run, or a bundle that fails its
/// checks or whose boards do not load.
fn open(ws: &Workspace, boards: &Boards, args: &Args) -> Result<(PathBuf, Boards)> {
    match &args.bundle {
        Some(dir) if !args.build_only => {
            if args.manifest.is_some() {
                bail!("--manifest cannot go with --bundle DIR: a bundle runs its own manifest");
            }
            bundle::verify(dir)?;
            Ok((dir.join(bundle::MANIFEST), bundle::boards(dir)?))
        }
        _ => Ok((
            args.manifest
                .clone()
                .unwrap_or_else(|| ws.qemu_dir().join("tests.toml")),
            boards.clone(),
        )),
    }
}

/// `--build-only`: builds the cases' images and writes them as a bundle
/// (`--bundle DIR`) or prints each case's ELF.
///
/// Errors: a build fails, or an image is missing (nothing is written then).
fn build_only(
    ws: &Workspace,
    boards: &Boards,
    manifest: &Manifest,
    cases: &[select::Case<'_>],
    args: &Args,
) -> Result<()> {
    let images = images::build(ws, boards, manifest, cases, args.profile())
        .context("building the test images failed")?;
    let mut members: Vec<Member<'_>> = Vec::new();
    let mut missing = Vec::new();
    for case in cases {
        let elf = match (&case.test.skip, images.elf(&case.id)) {
            (Some(_), _) => None,
            (None, Ok(elf)) => Some(elf.to_owned()),
            (None, Err(reason)) => {
                missing.push(format!("{}: {reason}", case.id));
                continue;
            }
        };
        members.push(Member {
            test: case.test,
            board: case.board,
            elf,
        });
    }
    if !missing.is_empty() {
        bail!(
            "{} of {} images are missing; nothing was written:\n  {}",
            missing.len(),
            cases.len(),
            missing.join("\n  ")
        );
    }
    let Some(dir) = &args.bundle else {
        for m in &members {
            let elf = m
                .elf
                .as_deref()
                .map_or("(skipped)".into(), |e: &Path| e.display().to_string());
            println!("{}/{}  {elf}", m.board.name, m.test.name);
        }
        return Ok(());
    };
    let boards_file: PathBuf = ws.qemu_dir().join("boards.toml");
    bundle::write(dir, manifest, &boards_file, &members)?;
    println!(
        "bundle {}: {} cases of {} tests; run it with `cargo xtask qemu --bundle {}`",
        dir.display(),
        members.len(),
        members
            .iter()
            .map(|m| &m.test.name)
            .collect::<BTreeSet<_>>()
            .len(),
        dir.display()
    );
    Ok(())
}
