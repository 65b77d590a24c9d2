//! Results and their reports: Twister's statuses, the JSON report (always
//! written to `<target_dir>/reports/qemu.json`, read back by
//! `--only-failed`) and the JUnit XML report laid out as Twister does (one
//! testsuite per board, classname = board). Both are written atomically.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cargo::Profile;
use crate::image::ImageId;
use crate::qemu::stack::TaskStack;
use crate::workspace::write_atomic;

/// One test on one board: `<board>/<test>`, unique in a run, and what
/// `--subset` sorts by and `--only-failed` reads back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CaseId {
    pub board: String,
    pub test: String,
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.board, self.test)
    }
}

impl FromStr for CaseId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('/') {
            Some((board, test)) if !board.is_empty() && !test.is_empty() && !test.contains('/') => {
                Ok(Self {
                    board: board.to_owned(),
                    test: test.to_owned(),
                })
            }
            _ => Err(format!("test id `{s}` is not <board>/<test>")),
        }
    }
}

impl Serialize for CaseId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CaseId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Twister's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    /// Failed, then passed on a retry.
    Flaky,
    /// Ran and did not pass (timeout, exit code, fault, output mismatch).
    Failed,
    /// Could not run: QEMU missing, ELF missing, transcript file missing.
    Error,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Flaky => "flaky",
            Self::Failed => "failed",
            Self::Error => "error",
            Self::Skipped => "skipped",
        }
    }
}

/// A failed attempt that a retry followed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub reason: String,
    pub duration_s: f64,
    pub log_tail: Vec<String>,
}

/// One test on one board.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    pub id: CaseId,
    pub name: String,
    pub board: String,
    pub target: String,
    pub status: Status,
    pub reason: Option<String>,
    /// Spawn to verdict of the last attempt, in seconds.
    pub duration_s: f64,
    /// Attempts after the first.
    pub retries: u32,
    pub exit_code: Option<i32>,
    pub expected_exit_code: i32,
    pub elf: Option<PathBuf>,
    /// `<board>/<package>/<bin>`, as budgets and size reports name images.
    #[serde(default)]
    pub image: Option<ImageId>,
    /// SHA-256 of the ELF that ran: what `cargo xtask size-check` compares
    /// with the image it built before it shows these stack peaks.
    #[serde(default)]
    pub elf_sha256: Option<String>,
    /// Each task's stack at the exit of the last attempt (see
    /// [`crate::qemu::stack`]); empty when the image started no task or
    /// did not reach its exit.
    #[serde(default)]
    pub stack: Vec<TaskStack>,
    /// The stack budget the run was held to, e.g. `75 % (stack in
    /// qemu/budgets.toml)`.
    #[serde(default)]
    pub stack_budget: Option<String>,
    /// Last lines of the last attempt, each labelled with its stream
    /// (`[uart] …`, `[semihosting] …`, `[guest-stderr] …`, `[qemu] …`).
    pub log_tail: Vec<String>,
    /// Every line of the last attempt, labelled as `log_tail`: the JUnit
    /// `system-out`.
    #[serde(default)]
    pub log: Vec<String>,
    /// Unified diff or unmatched regex when the output did not match.
    pub mismatch: Option<String>,
    pub failed_attempts: Vec<Attempt>,
    /// The command that reruns this test alone.
    pub rerun: String,
}

impl CaseResult {
    /// A case that has not run yet: an `error` with no reason, no attempt
    /// and nothing measured, which the runner then fills in.
    pub fn unrun(id: CaseId, target: String, expected_exit_code: i32, rerun: String) -> Self {
        Self {
            name: id.test.clone(),
            board: id.board.clone(),
            id,
            target,
            status: Status::Error,
            reason: None,
            duration_s: 0.0,
            retries: 0,
            exit_code: None,
            expected_exit_code,
            elf: None,
            image: None,
            elf_sha256: None,
            stack: Vec::new(),
            stack_budget: None,
            log_tail: Vec::new(),
            log: Vec::new(),
            mismatch: None,
            failed_attempts: Vec::new(),
            rerun,
        }
    }
}

/// Where and with what the suite ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Environment {
    /// QEMU binary → first line of `--version`.
    pub qemu: BTreeMap<String, String>,
    /// `rustc -V` in the workspace (honouring `rust-toolchain.toml`).
    pub toolchain: String,
    /// `git rev-parse HEAD`, with `-dirty` when the tree has changes.
    pub commit: String,
    pub host: String,
    pub jobs: usize,
    pub profile: Option<Profile>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub flaky: usize,
    pub failed: usize,
    pub error: usize,
    pub skipped: usize,
}

impl Summary {
    pub fn of(results: &[CaseResult]) -> Self {
        let mut s = Self {
            total: results.len(),
            ..Self::default()
        };
        for r in results {
            *match r.status {
                Status::Passed => &mut s.passed,
                Status::Flaky => &mut s.flaky,
                Status::Failed => &mut s.failed,
                Status::Error => &mut s.error,
                Status::Skipped => &mut s.skipped,
            } += 1;
        }
        s
    }
}

/// Which shard of a suite a report holds: `--subset index/count` of the
/// `of` cases selected before sharding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
    pub of: usize,
}

/// The JSON report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsonReport {
    pub environment: Environment,
    /// Set when the run was one shard (`--subset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    pub summary: Summary,
    /// Wall time of the runs (not the build), in seconds.
    pub duration_s: f64,
    pub tests: Vec<CaseResult>,
}

impl JsonReport {
    /// Writes the report atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).context("serialising the JSON report")?;
        text.push('\n');
        write_atomic(path, text.as_bytes())
    }

    /// Reads a report written by [`JsonReport::write`].
    ///
    /// Errors: missing or unreadable file, or not such a report.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the last report {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a report of `cargo xtask qemu`; rerun the suite without --only-failed",
                path.display()
            )
        })
    }
}

/// Writes the JUnit XML report atomically: one `<testsuite>` per board,
/// `<testcase classname=board name=test>`, `<failure message=reason>` (or
/// `<error>`) with the log tail and diff as text, `<skipped message=…>`, and
/// `<flakyFailure>` for each failed attempt of a flaky test.
pub fn write_junit(path: &Path, results: &[CaseResult], duration: Duration) -> Result<()> {
    let mut report = Report::new("qemu");
    report.set_time(duration);
    let mut boards: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for r in results {
        let suite = boards
            .entry(r.board.as_str())
            .or_insert_with(|| TestSuite::new(r.board.clone()));
        let status = match r.status {
            Status::Passed => TestCaseStatus::success(),
            Status::Flaky => {
                let mut s = TestCaseStatus::success();
                for a in &r.failed_attempts {
                    let mut rerun = TestRerun::new(NonSuccessKind::Failure);
                    rerun
                        .set_message(a.reason.clone())
                        .set_time(Duration::from_secs_f64(a.duration_s))
                        .set_description(a.log_tail.join("\n"));
                    s.add_rerun(rerun);
                }
                s
            }
            Status::Failed | Status::Error => {
                let kind = if r.status == Status::Failed {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut s = TestCaseStatus::non_success(kind);
                s.set_message(r.reason.clone().unwrap_or_default())
                    .set_type(r.status.as_str());
                let mut text = r.log_tail.join("\n");
                if let Some(diff) = &r.mismatch {
                    text.push_str("\n\n");
                    text.push_str(diff);
                }
                text.push_str(&format!("\n\nrerun: {}", r.rerun));
                s.set_description(text);
                s
            }
            Status::Skipped => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(r.reason.clone().unwrap_or_default());
                s
            }
        };
        let mut case = TestCase::new(r.name.clone(), status);
        case.set_classname(r.board.clone())
            .set_time(Duration::from_secs_f64(r.duration_s))
            .add_properties(stack_properties(r));
        if !r.log.is_empty() {
            case.set_system_out(r.log.join("\n"));
        }
        suite.add_test_case(case);
    }
    report.add_test_suites(boards.into_values());
    let xml = report.to_string().context("serialising the JUnit report")?;
    write_atomic(path, xml.as_bytes())
}

/// The stack report as JUnit properties: `stack.<task>.peak_bytes` and
/// `stack.<task>.size_bytes` per task, and `stack_budget`.
fn stack_properties(r: &CaseResult) -> Vec<Property> {
    let mut out: Vec<Property> = r
        .stack
        .iter()
        .flat_map(|t| {
            [
                Property::new(
                    format!("stack.{}.peak_bytes", t.task),
                    t.peak_bytes.to_string(),
                ),
                Property::new(
                    format!("stack.{}.size_bytes", t.task),
                    t.size_bytes.to_string(),
                ),
            ]
        })
        .collect();
    out.extend(
        r.stack_budget
            .iter()
            .map(|b| Property::new("stack_budget", b.as_str())),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(board: &str, name: &str, status: Status) -> CaseResult {
        CaseResult {
            id: CaseId {
                board: board.into(),
                test: name.into(),
            },
            name: name.into(),
            board: board.into(),
            target: "t".into(),
            status,
            reason: (status != Status::Passed).then(|| "exit code 3".into()),
            duration_s: 0.05,
            retries: 0,
            exit_code: Some(3),
            expected_exit_code: 0,
            elf: None,
            image: None,
            elf_sha256: None,
            stack: vec![TaskStack {
                task: "main".into(),
                peak_bytes: 96,
                size_bytes: 1024,
            }],
            stack_budget: Some("75 % (stack)".into()),
            log_tail: vec!["[uart] tick <1>".into()],
            log: vec!["[uart] tick <1>".into(), "[qemu] done".into()],
            mismatch: None,
            failed_attempts: if status == Status::Flaky {
                vec![Attempt {
                    reason: "exit code 7".into(),
                    duration_s: 0.01,
                    log_tail: vec![],
                }]
            } else {
                vec![]
            },
            rerun: format!("cargo xtask qemu --target {board} --test {name}"),
        }
    }

    #[test]
    fn junit_has_one_suite_per_board_with_counts() {
        let dir = std::env::temp_dir().join(format!("xtask-junit-{}", std::process::id()));
        let path = dir.join("r.xml");
        let results = [
            result("a", "x", Status::Passed),
            result("a", "y", Status::Failed),
            result("b", "x", Status::Skipped),
            result("b", "y", Status::Error),
            result("b", "z", Status::Flaky),
        ];
        write_junit(&path, &results, Duration::from_secs(1)).unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            xml.contains(r#"<testsuite name="a" tests="2" skipped="0" errors="0" failures="1""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testsuite name="b" tests="3" skipped="1" errors="1" failures="0""#),
            "{xml}"
        );
        assert!(xml.contains(r#"classname="a""#) && xml.contains("tick &lt;1&gt;"));
        assert!(
            xml.contains("<system-out>[uart] tick &lt;1&gt;\n[qemu] done</system-out>"),
            "{xml}"
        );
        assert!(xml.contains("<flakyFailure"), "{xml}");
        assert!(
            xml.contains(r#"<property name="stack.main.peak_bytes" value="96"/>"#)
                && xml.contains(r#"<property name="stack.main.size_bytes" value="1024"/>"#)
                && xml.contains(r#"<property name="stack_budget" value="75 % (stack)"/>"#),
            "{xml}"
        );
        assert_eq!(Summary::of(&results).flaky, 1);
    }

    #[test]
    fn json_round_trips() {
        let dir = std::env::temp_dir().join(format!("xtask-json-{}", std::process::id()));
        let path = dir.join("r.json");
        let report = JsonReport {
            environment: Environment::default(),
            shard: None,
            summary: Summary::of(&[result("a", "x", Status::Failed)]),
            duration_s: 1.0,
            tests: vec![result("a", "x", Status::Failed)],
        };
        report.write(&path).unwrap();
        let back = JsonReport::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(back.tests[0].status, Status::Failed);
        assert_eq!(back.tests[0].stack, report.tests[0].stack);
        assert_eq!(back.summary.failed, 1);
    }
}
