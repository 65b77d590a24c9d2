//! `cargo xtask bench ci`: the figures behind the CI-speed goals, measured
//! in one run on this machine: a clean build of xtask in its own target
//! directory, then a fresh clone of `HEAD` with its own target directory,
//! where `cargo xtask setup` and `cargo xtask ci` run as CI runs them (per
//! step, from the clone's `ci.json`), a warm rerun with nothing changed, and
//! a rerun after a one-line edit in the kernel.
//!
//! Wall times are in seconds. The machine's core count and load average
//! (`/proc/loadavg`, Linux) are printed with them, since a loaded machine
//! makes every figure slower.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use xshell::{Cmd, cmd};

use crate::cmd::{cargo, shell};
use crate::workspace::Workspace;

/// A fresh clone's `cargo xtask setup` plus `cargo xtask ci`, 2 cores.
const FRESH_GOAL: Duration = Duration::from_secs(5 * 60);
/// The same with `setup --cuda --lint`, as `.ci/run` runs it.
const CI_RUN_GOAL: Duration = Duration::from_secs(8 * 60);
/// A clean build of xtask alone.
const CLEAN_BUILD_GOAL: Duration = Duration::from_secs(45);
/// `cargo xtask ci` after a one-line kernel edit.
const EDIT_GOAL: Duration = Duration::from_secs(15);
/// `cargo xtask ci` with nothing changed.
const WARM_GOAL: Duration = Duration::from_secs(1);

/// The file the one-line edit goes into, and the line.
const EDITED: &str = "firmware/kernel/src/sched/mod.rs";
const EDIT_LINE: &str = "// one-line edit made by `cargo xtask bench ci`\n";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Pass `--cuda` to the clone's `cargo xtask setup`, as `.ci/run` does.
    #[arg(long)]
    cuda: bool,
    /// Pass `--lint` to the clone's `cargo xtask setup`, as `.ci/run` does.
    #[arg(long)]
    lint: bool,
    /// Keep the scratch directory (clone, target directories, logs).
    #[arg(long)]
    keep: bool,
}

/// One measured figure.
struct Figure {
    what: String,
    took: Duration,
    goal: Option<Duration>,
}

/// Runs every measurement and prints the table.
///
/// Errors: git, cargo or a ci run in the clone fails (its log is named and
/// the scratch directory kept); a figure from a failed run is never printed.
pub fn run(args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    if crate::git::tracked_changes(&ws.root)? {
        eprintln!("note: tracked files differ from HEAD; the clone measures HEAD only");
    }
    let scratch = tempfile::Builder::new()
        .prefix("xtask-bench-ci-")
        .tempdir()
        .context("cannot create the bench's scratch directory")?;
    let bench = Bench {
        root: ws.root.clone(),
        dir: scratch.path().to_path_buf(),
    };
    let mut figures = Vec::new();
    let measured = bench.measure(&args, &mut figures);
    if measured.is_err() || args.keep {
        let kept = scratch.keep();
        eprintln!("scratch directory kept: {}", kept.display());
    }
    // What was measured before a failure is still worth seeing.
    print_figures(&figures);
    measured
}

struct Bench {
    root: PathBuf,
    dir: PathBuf,
}

impl Bench {
    fn measure(&self, args: &Args, figures: &mut Vec<Figure>) -> Result<()> {
        figures.push(self.clean_build()?);
        let clone = self.dir.join("clone");
        let sh = shell(&self.root)?;
        let from = self.root.as_os_str();
        self.timed(
            "git-clone",
            cmd!(sh, "git clone --quiet --no-hardlinks {from} {clone}"),
        )?;
        // Before the long runs: the edit must have a file to go into.
        if !clone.join(EDITED).is_file() {
            bail!("bench ci: {EDITED} is not in the clone; update `EDITED`");
        }
        let sh = shell(&clone)?;
        let cargo = cargo();
        let mut setup_args = vec!["xtask", "setup"];
        setup_args.extend(args.cuda.then_some("--cuda"));
        setup_args.extend(args.lint.then_some("--lint"));
        let setup = self.timed("setup", fresh(cmd!(sh, "{cargo}").args(&setup_args)))?;
        figures.push(Figure {
            what: format!("fresh clone: `cargo {}`", setup_args.join(" ")),
            took: setup,
            goal: None,
        });
        let ci = self.timed("ci", fresh(cmd!(sh, "{cargo} xtask ci")))?;
        figures.extend(step_figures(&clone)?);
        let full = args.cuda && args.lint;
        figures.push(Figure {
            what: if full {
                "fresh clone: setup + ci (as .ci/run)"
            } else {
                "fresh clone: setup + ci"
            }
            .into(),
            took: setup + ci,
            goal: Some(if full { CI_RUN_GOAL } else { FRESH_GOAL }),
        });
        let warm = self.timed("ci-warm", fresh(cmd!(sh, "{cargo} xtask ci")))?;
        figures.push(Figure {
            what: "rerun, nothing changed".into(),
            took: warm,
            goal: Some(WARM_GOAL),
        });
        append_line(&clone.join(EDITED))?;
        let edit = self.timed("ci-edit", fresh(cmd!(sh, "{cargo} xtask ci")))?;
        figures.push(Figure {
            what: format!("rerun after a one-line edit in {EDITED}"),
            took: edit,
            goal: Some(EDIT_GOAL),
        });
        Ok(())
    }

    /// `cargo build -p xtask` in an empty target directory of its own, as a
    /// fresh CI job builds it (`CARGO_INCREMENTAL=0`).
    fn clean_build(&self) -> Result<Figure> {
        let sh = shell(&self.root)?;
        let cargo = cargo();
        let target = self.dir.join("xtask-target");
        let took = self.timed(
            "xtask-clean-build",
            cmd!(sh, "{cargo} build --locked -p xtask")
                .env("CARGO_TARGET_DIR", &target)
                .env("CARGO_INCREMENTAL", "0"),
        )?;
        Ok(Figure {
            what: "clean build of xtask".into(),
            took,
            goal: Some(CLEAN_BUILD_GOAL),
        })
    }

    /// Runs `cmd` with its output in `<scratch>/<name>.log` and returns its
    /// wall time.
    fn timed(&self, name: &str, cmd: Cmd<'_>) -> Result<Duration> {
        let log = self.dir.join(format!("{name}.log"));
        let shown = cmd.to_string();
        eprintln!("bench ci: {name}: {shown}");
        let started = Instant::now();
        let out = cmd
            .quiet()
            .ignore_status()
            .output()
            .with_context(|| format!("cannot run `{shown}`"))?;
        let took = started.elapsed();
        let text = [out.stdout, out.stderr].concat();
        std::fs::write(&log, &text).with_context(|| format!("cannot write {}", log.display()))?;
        if !out.status.success() {
            bail!(
                "bench ci: `{shown}` failed ({}); its output is in {}",
                out.status,
                log.display()
            );
        }
        Ok(took)
    }
}

/// `cmd` without the target directory overrides of this run, so the clone
/// builds into its own `target/` as a fresh checkout does, and with the
/// environment `.ci/run` and the workflows give it: `CI=true`,
/// `CARGO_INCREMENTAL=0`.
fn fresh(cmd: Cmd<'_>) -> Cmd<'_> {
    cmd.env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("CARGO_BUILD_BUILD_DIR")
        .env("CI", "true")
        .env("CARGO_INCREMENTAL", "0")
}

/// Per-step wall times of the clone's last ci run, from its `ci.json`.
fn step_figures(clone: &Path) -> Result<Vec<Figure>> {
    let path = clone.join("target/reports/ci.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let steps = json["steps"]
        .as_array()
        .with_context(|| format!("{}: no `steps` array", path.display()))?;
    steps
        .iter()
        .map(|s| {
            let name = s["name"].as_str().context("a step without a name")?;
            let took = s["duration_s"]
                .as_f64()
                .with_context(|| format!("step `{name}` without `duration_s`"))?;
            Ok(Figure {
                what: format!("  ci step `{name}`"),
                took: Duration::from_secs_f64(took.max(0.0)),
                goal: None,
            })
        })
        .collect()
}

fn append_line(path: &Path) -> Result<()> {
    let mut text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.push_str(EDIT_LINE);
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn print_figures(figures: &[Figure]) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    println!("machine: {cores} cores, load average {load} (1, 5, 15 min) at the end");
    println!("{:58} {:>9} {:>9}", "measure", "seconds", "goal");
    for f in figures {
        let (goal, mark) = match f.goal {
            Some(g) => (
                format!("≤ {:.0}", g.as_secs_f64()),
                if f.took <= g { "✅" } else { "❌" },
            ),
            None => (String::new(), ""),
        };
        println!(
            "{:58} {:>9.1} {:>9} {mark}",
            f.what,
            f.took.as_secs_f64(),
            goal
        );
    }
}
