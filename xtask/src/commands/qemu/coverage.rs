//! `cargo xtask qemu --coverage`: line coverage of the firmware without
//! instrumentation (see README, "Coverage").
//!
//! The images are built in the `coverage` profile, the release code with
//! DWARF line tables ([`Profile::Coverage`](crate::cargo::Profile)). Every
//! case runs with `-d in_asm -D <target_dir>/reports/coverage/logs/<board>/<test>.log`, so
//! QEMU lists each block of guest code it translates. Then `xtask-coverage`
//! (built on demand, run as a child process; its CLI contract is in its
//! crate docs) maps the logs of every run on every board onto source lines
//! and merges them into `<target_dir>/reports/coverage/lcov.info` and
//! `coverage.md`, and the `[[coverage]]` goals of `qemu/budgets.toml` are
//! checked.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::cmd;

use super::report::{CaseId, CaseResult, Status};
use crate::boards::Board;
use crate::cargo;
use crate::cmd::shell;
use crate::commands::size_check::budget::CoverageGoal;
use crate::workspace::{Workspace, write_atomic};

/// The sources whose lines the report covers, relative to the workspace
/// root: the firmware (kernel, boards, test images), not the core library.
const SOURCE_ROOT: &str = "firmware";

/// Where each case's QEMU log goes.
pub struct Traces {
    dir: PathBuf,
}

impl Traces {
    /// Empties `<target_dir>/reports/coverage/`, so that no log or report
    /// of an earlier run is ever taken for this one's, and makes a log
    /// folder per board for QEMU's `-D`.
    ///
    /// Errors: the folders cannot be removed or created.
    pub fn prepare(ws: &Workspace, boards: &[&Board]) -> Result<Self> {
        let reports = ws.reports_dir().join("coverage");
        if reports.exists() {
            std::fs::remove_dir_all(&reports)
                .with_context(|| format!("cannot empty {}", reports.display()))?;
        }
        let dir = reports.join("logs");
        for b in boards {
            let d = dir.join(&b.name);
            std::fs::create_dir_all(&d)
                .with_context(|| format!("cannot create {}", d.display()))?;
        }
        Ok(Self { dir })
    }

    /// The log of case `id`.
    pub fn log(&self, id: &CaseId) -> PathBuf {
        self.dir.join(&id.board).join(format!("{}.log", id.test))
    }

    /// The test's own QEMU arguments `args` with case `id`'s translation
    /// log added: `in_asm` joins a `-d` the test already passes (QEMU keeps
    /// only the last `-d`), and `-D` sends the log to the case's file.
    pub fn qemu_args(&self, id: &CaseId, args: &[String]) -> Vec<String> {
        let mut out = args.to_vec();
        match out.iter().position(|a| a == "-d") {
            Some(i) if i + 1 < out.len() => out[i + 1].push_str(",in_asm"),
            _ => out.extend(["-d".into(), "in_asm".into()]),
        }
        out.extend(["-D".into(), self.log(id).to_string_lossy().into_owned()]);
        out
    }
}

/// The `xtask-coverage` executable, built.
pub struct Tool(PathBuf);

impl Tool {
    /// Builds `xtask-coverage` (`cargo build -p xtask-coverage`).
    ///
    /// Errors: the build fails.
    pub fn build(ws: &Workspace) -> Result<Self> {
        cargo::build_host_tool(ws, "xtask-coverage", "xtask-coverage")
            .map(Self)
            .context("building the coverage tool failed; nothing was run")
    }

    /// Runs the tool on `runs` for the sources under `root`; returns its
    /// summary line's figures.
    ///
    /// Errors: the tool fails (its message is on stderr) or prints no
    /// summary line.
    fn run(
        &self,
        ws: &Workspace,
        runs: &[String],
        root: &str,
        outputs: &[String],
    ) -> Result<Lines> {
        let sh = shell(&ws.root)?;
        let tool = &self.0;
        let out = cmd!(sh, "{tool} {runs...} --source-root {root} {outputs...}")
            .quiet()
            .read()
            .with_context(|| format!("xtask-coverage failed for {root}"))?;
        Lines::parse(&out).with_context(|| format!("xtask-coverage printed `{out}`"))
    }
}

/// Lines hit and instrumented, from the tool's summary line
/// `coverage: <hit>/<found> lines (<percent> %) in <files> files`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lines {
    hit: u64,
    found: u64,
}

impl Lines {
    fn parse(out: &str) -> Option<Self> {
        let rest = out.trim().strip_prefix("coverage: ")?;
        let (hit, rest) = rest.split_once('/')?;
        let (found, _) = rest.split_once(' ')?;
        Some(Self {
            hit: hit.parse().ok()?,
            found: found.parse().ok()?,
        })
    }

    fn percent(self) -> f64 {
        if self.found == 0 {
            0.0
        } else {
            100.0 * self.hit as f64 / self.found as f64
        }
    }
}

/// What the coverage report needs from the suite run.
pub struct Suite<'a> {
    pub results: &'a [CaseResult],
    pub goals: &'a [CoverageGoal],
    /// Whether every test ran on every board, so that the goals apply.
    pub whole: bool,
}

/// Maps the logs of `suite`'s runs to lines, writes the lcov file and the
/// table, prints each goal's figure, and fails when a goal is missed by a
/// whole-suite run.
///
/// Errors: no run left a log, the tool fails, a report cannot be written,
/// or a goal is missed.
pub fn report(ws: &Workspace, tool: &Tool, traces: &Traces, suite: &Suite<'_>) -> Result<()> {
    let runs = tool_runs(traces, suite.results);
    if runs.is_empty() {
        bail!("coverage: no test ran far enough to leave a QEMU log");
    }
    let dir = ws.reports_dir().join("coverage");
    let (lcov, table) = (dir.join("lcov.info"), dir.join("coverage.md"));
    let outputs = [
        "--lcov".to_string(),
        lcov.to_string_lossy().into_owned(),
        "--markdown".into(),
        table.to_string_lossy().into_owned(),
        "--test-name".into(),
        "qemu".into(),
    ];
    let all = tool.run(ws, &runs, SOURCE_ROOT, &outputs)?;
    let mut figures = vec![(SOURCE_ROOT.to_string(), all, None)];
    for goal in suite.goals {
        let lines = tool.run(ws, &runs, &goal.root, &[])?;
        figures.push((goal.root.clone(), lines, Some(goal.min_percent)));
    }
    let files = std::fs::read_to_string(&table)
        .with_context(|| format!("cannot read {}", table.display()))?;
    let mut md = String::from("## Line coverage\n\n");
    let mut missed = Vec::new();
    for (root, lines, goal) in &figures {
        let line = figure(root, *lines, *goal, suite.whole);
        println!("coverage: {line}");
        let _ = writeln!(md, "- {line}");
        if goal.is_some_and(|g| suite.whole && lines.percent() < g) {
            missed.push(line);
        }
    }
    let _ = write!(md, "\n{files}");
    write_atomic(&table, md.as_bytes())?;
    println!(
        "coverage: lcov in {}, table in {}",
        lcov.display(),
        table.display()
    );
    if !missed.is_empty() {
        bail!("coverage goal missed: {}", missed.join("; "));
    }
    Ok(())
}

/// `firmware/kernel/src: 166/206 lines (80.6 %), goal 80 % ✅`.
fn figure(root: &str, lines: Lines, goal: Option<f64>, whole: bool) -> String {
    let mut s = format!(
        "`{root}`: {}/{} lines ({:.1} %)",
        lines.hit,
        lines.found,
        lines.percent()
    );
    match goal {
        Some(g) if !whole => {
            let _ = write!(s, ", goal {g} % not checked: only part of the suite ran");
        }
        Some(g) if lines.percent() >= g => {
            let _ = write!(s, ", goal {g} % ✅");
        }
        Some(g) => {
            let _ = write!(s, ", goal {g} % ❌");
        }
        None => {}
    }
    s
}

/// `--elf <ELF> --log <LOG>…` for every image that ran, over every board:
/// the logs of the runs that reached QEMU (not skipped, not errors).
fn tool_runs(traces: &Traces, results: &[CaseResult]) -> Vec<String> {
    let mut by_elf: BTreeMap<&Path, Vec<PathBuf>> = BTreeMap::new();
    for r in results {
        if matches!(r.status, Status::Skipped | Status::Error) {
            continue;
        }
        let log = traces.log(&r.id);
        if let (Some(elf), true) = (&r.elf, log.is_file()) {
            by_elf.entry(elf).or_default().push(log);
        }
    }
    let mut args = Vec::new();
    for (elf, logs) in by_elf {
        args.extend(["--elf".to_string(), elf.to_string_lossy().into_owned()]);
        for log in logs {
            args.extend(["--log".to_string(), log.to_string_lossy().into_owned()]);
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_joins_the_tests_own_log_mask() {
        let traces = Traces {
            dir: PathBuf::from("logs"),
        };
        let id = CaseId {
            board: "b".into(),
            test: "t".into(),
        };
        let words = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let log = Path::new("logs").join("b").join("t.log");
        let log = log.to_str().unwrap();
        assert_eq!(
            traces.qemu_args(&id, &[]),
            words(&["-d", "in_asm", "-D", log])
        );
        assert_eq!(
            traces.qemu_args(&id, &words(&["-d", "guest_errors", "-s"])),
            words(&["-d", "guest_errors,in_asm", "-s", "-D", log])
        );
    }

    #[test]
    fn summary_lines_parse() {
        let l = Lines::parse("coverage: 156/206 lines (75.7 %) in 12 files\n").unwrap();
        assert_eq!(
            l,
            Lines {
                hit: 156,
                found: 206
            }
        );
        assert!((l.percent() - 75.728).abs() < 0.01);
        assert_eq!(Lines::parse("warning: x"), None);
    }

    #[test]
    fn figures_state_the_goal_and_whether_it_was_checked() {
        let l = Lines {
            hit: 166,
            found: 206,
        };
        assert_eq!(
            figure("firmware/kernel/src", l, Some(80.0), true),
            "`firmware/kernel/src`: 166/206 lines (80.6 %), goal 80 % ✅"
        );
        assert!(figure("k", l, Some(90.0), true).ends_with("goal 90 % ❌"));
        assert!(
            figure("k", l, Some(90.0), false).ends_with("not checked: only part of the suite ran")
        );
        assert_eq!(
            figure("firmware", l, None, true),
            "`firmware`: 166/206 lines (80.6 %)"
        );
    }
}
