//! The reports a ci run leaves in `<target_dir>/reports/`, each written
//! atomically: `ci.json` (every step's status, time, cache use and command),
//! `junit.xml` (the steps themselves plus every test case a step produced),
//! `summary.md` (the table, size deltas and failures; also appended to
//! `$GITHUB_STEP_SUMMARY`) and `metrics.prom` (Prometheus text exposition
//! format 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::exec::{Outcome, TestRecord};
use super::plan::{Job, Step};
use super::ui::Status;
use crate::workspace::write_atomic;

/// How a step used the step cache.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CacheUse {
    /// The stored result matched; the step did not run.
    Hit,
    /// No stored result matched; the step ran.
    Miss,
    /// `--no-cache`: the step ran without looking.
    Off,
    /// The step did not run.
    None,
}

impl CacheUse {
    /// `hit`, `miss`, `off` or `none`, as in `ci.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Off => "off",
            Self::None => "none",
        }
    }
}

/// What one step did in this run.
#[derive(Serialize, Debug, Clone)]
pub struct StepResult {
    pub name: &'static str,
    pub job: Job,
    pub status: Status,
    /// Wall time in this run, in seconds (near zero for a cache hit).
    pub duration_s: f64,
    pub cache: CacheUse,
    /// The exact command line that reruns the step.
    pub command: String,
    pub log: Option<PathBuf>,
    #[serde(skip)]
    pub tests: Vec<TestRecord>,
    #[serde(skip)]
    pub junit: Option<PathBuf>,
    #[serde(skip)]
    pub tail: Vec<String>,
}

impl StepResult {
    /// A step that has not run (yet).
    pub fn new(step: &Step) -> Self {
        Self {
            name: step.name,
            job: step.job,
            status: Status::NotRun,
            duration_s: 0.0,
            cache: CacheUse::None,
            command: step.rerun(),
            log: None,
            tests: Vec::new(),
            junit: step.junit.clone(),
            tail: Vec::new(),
        }
    }
}

#[derive(Serialize)]
struct CiJson<'a> {
    status: &'a str,
    duration_s: f64,
    failed: Vec<&'a str>,
    steps: &'a [StepResult],
}

/// Writes all four reports into `dir` and returns the summary's Markdown.
///
/// Errors: a report cannot be written.
/// `targets` maps board names to target triples, for labelling image sizes.
pub fn write_all(
    dir: &Path,
    results: &[StepResult],
    total_s: f64,
    targets: &BTreeMap<String, String>,
) -> Result<String> {
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.status == Status::Failed)
        .map(|r| r.name)
        .collect();
    let json = CiJson {
        status: if failed.is_empty() {
            "passed"
        } else {
            "failed"
        },
        duration_s: total_s,
        failed: failed.clone(),
        steps: results,
    };
    write_atomic(
        &dir.join("ci.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    let junit = junit(results);
    write_atomic(
        &dir.join("junit.xml"),
        junit
            .to_string()
            .context("serialising junit.xml")?
            .as_bytes(),
    )?;
    let summary = summary(dir, results, total_s, &failed);
    write_atomic(&dir.join("summary.md"), summary.as_bytes())?;
    write_atomic(
        &dir.join("metrics.prom"),
        metrics(dir, results, &junit, total_s, targets).as_bytes(),
    )?;
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open GITHUB_STEP_SUMMARY {}", path.display()))?;
        f.write_all(summary.as_bytes())?;
    }
    Ok(summary)
}

fn junit(results: &[StepResult]) -> Report {
    let mut report = Report::new("cargo xtask ci");
    let mut steps = TestSuite::new("ci steps");
    for r in results {
        let status = match r.status {
            Status::Passed | Status::Cached => TestCaseStatus::success(),
            Status::Failed => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("rerun: {}", r.command));
                s.set_description(r.tail.join("\n"));
                s
            }
            Status::NotRun => {
                let mut s = TestCaseStatus::skipped();
                s.set_message("not run: an earlier step failed");
                s
            }
        };
        let mut case = TestCase::new(r.name, status);
        case.set_classname("ci");
        case.set_time(Duration::from_secs_f64(r.duration_s));
        steps.add_test_case(case);
    }
    report.add_test_suite(steps);
    for r in results {
        let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
        for t in &r.tests {
            let suite = suites
                .entry(t.suite.as_str())
                .or_insert_with(|| TestSuite::new(format!("{}: {}", r.name, t.suite)));
            let status = match t.outcome {
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Failed => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Outcome::Ignored => TestCaseStatus::skipped(),
            };
            let mut case = TestCase::new(t.name.as_str(), status);
            case.set_classname(format!("{}.{}", r.name, t.suite));
            suite.add_test_case(case);
        }
        report.add_test_suites(suites.into_values());
        if let Some(path) = &r.junit
            && r.status != Status::NotRun
        {
            match std::fs::read_to_string(path)
                .map_err(anyhow::Error::from)
                .and_then(|x| Report::deserialize_from_str(&x).map_err(anyhow::Error::from))
            {
                Ok(theirs) => {
                    report.add_test_suites(theirs.test_suites);
                }
                // A step that failed early may have written no report; its
                // failure is already the `ci steps` case.
                Err(_) if r.status == Status::Failed => {}
                Err(e) => {
                    let mut suite = TestSuite::new(format!("{}: report", r.name));
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                    s.set_message(format!("cannot read {}: {e:#}", path.display()));
                    suite.add_test_case(TestCase::new("junit report", s));
                    report.add_test_suite(suite);
                }
            }
        }
    }
    report
}

fn summary(dir: &Path, results: &[StepResult], total_s: f64, failed: &[&str]) -> String {
    let mut md = String::new();
    let verdict = if failed.is_empty() {
        "✅ passed".to_string()
    } else {
        format!("❌ failed at {}", failed.join(", "))
    };
    let _ = writeln!(md, "## cargo xtask ci: {verdict} in {total_s:.1} s\n");
    let _ = writeln!(md, "| | step | job | status | time | cache |");
    let _ = writeln!(md, "|---|---|---|---|---:|---|");
    for r in results {
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | {:.1} s | {} |",
            r.status.mark(),
            r.name,
            r.job.name(),
            r.status.word(),
            r.duration_s,
            r.cache.name()
        );
    }
    if let Ok(size) = std::fs::read_to_string(dir.join("size.md")) {
        let _ = writeln!(md, "\n### Size\n\n{}", size.trim_end());
    }
    // Only a coverage step of this run speaks for this run.
    let covered = results
        .iter()
        .any(|r| r.name == "coverage" && r.status != Status::NotRun);
    if let (true, Ok(table)) = (
        covered,
        std::fs::read_to_string(dir.join("coverage").join("coverage.md")),
    ) {
        let _ = writeln!(md, "\n### Coverage\n\n{}", table.trim_end());
    }
    let failures: Vec<&StepResult> = results
        .iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(md, "\n### Failures\n");
        for r in failures {
            let _ = writeln!(md, "- **{}**: rerun with `{}`", r.name, r.command);
            if !r.tail.is_empty() {
                let _ = writeln!(md, "\n  ```text");
                for line in &r.tail {
                    let _ = writeln!(md, "  {line}");
                }
                let _ = writeln!(md, "  ```");
            }
        }
    }
    md
}

/// Escapes a Prometheus label value: backslash, double quote and newline.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text exposition, one gauge family at a time.
#[derive(Default)]
struct Prom(String);

impl Prom {
    /// `# HELP`, `# TYPE … gauge`, then one `name{labels} value` per sample.
    fn gauge(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (String, String)>,
    ) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in samples {
            if labels.is_empty() {
                let _ = writeln!(self.0, "{name} {value}");
            } else {
                let _ = writeln!(self.0, "{name}{{{labels}}} {value}");
            }
        }
    }
}

fn metrics(
    dir: &Path,
    results: &[StepResult],
    junit: &Report,
    total_s: f64,
    targets: &BTreeMap<String, String>,
) -> String {
    let mut p = Prom::default();
    p.gauge(
        "xtask_ci_duration_seconds",
        "Wall time of the whole ci run.",
        [(String::new(), format!("{total_s:.3}"))],
    );
    p.gauge(
        "xtask_ci_step_duration_seconds",
        "Wall time of one ci step in this run.",
        results.iter().map(|r| {
            let labels = format!(
                "step=\"{}\",job=\"{}\",status=\"{}\",cache=\"{}\"",
                label(r.name),
                label(r.job.name()),
                r.status.word().replace(' ', "_"),
                r.cache.name(),
            );
            (labels, format!("{:.3}", r.duration_s))
        }),
    );
    p.gauge(
        "xtask_ci_step_success",
        "1 when the step passed or was cached, 0 when it failed or did not run.",
        results.iter().map(|r| {
            let ok = matches!(r.status, Status::Passed | Status::Cached) as u8;
            (format!("step=\"{}\"", label(r.name)), ok.to_string())
        }),
    );
    p.gauge(
        "xtask_ci_tests",
        "Test cases by suite and outcome, from junit.xml.",
        test_counts(junit).into_iter().map(|((suite, outcome), n)| {
            let labels = format!("suite=\"{}\",outcome=\"{outcome}\"", label(&suite));
            (labels, n.to_string())
        }),
    );
    let images = size_images(dir, targets);
    if !images.is_empty() {
        p.gauge(
            "xtask_image_flash_bytes",
            "Flash used by a firmware image (file-backed PT_LOAD bytes), from size.json.",
            images
                .iter()
                .map(|i| (i.labels.clone(), i.flash.to_string())),
        );
        p.gauge(
            "xtask_image_ram_bytes",
            "RAM used by a firmware image (PT_LOAD VMA extent), from size.json.",
            images.iter().map(|i| (i.labels.clone(), i.ram.to_string())),
        );
    }
    p.0
}

/// Test cases per (suite, outcome) in `junit`.
fn test_counts(junit: &Report) -> BTreeMap<(String, &'static str), u64> {
    let mut counts = BTreeMap::new();
    for suite in &junit.test_suites {
        for case in &suite.test_cases {
            let outcome = match &case.status {
                TestCaseStatus::Success { .. } => "passed",
                TestCaseStatus::NonSuccess { .. } => "failed",
                TestCaseStatus::Skipped { .. } => "skipped",
            };
            *counts
                .entry((suite.name.as_str().to_string(), outcome))
                .or_default() += 1;
        }
    }
    counts
}

struct ImageSize {
    labels: String,
    flash: u64,
    ram: u64,
}

/// Every object in `size.json` with integer `flash_bytes` and `ram_bytes`,
/// wherever it sits, labelled with its image, board, target (the report's,
/// else the board's from `qemu/boards.toml`) and profile (the report's, else
/// the cargo profile directory the ELF was built in).
fn size_images(dir: &Path, targets: &BTreeMap<String, String>) -> Vec<ImageSize> {
    let Ok(text) = std::fs::read_to_string(dir.join("size.json")) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack = vec![&value];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Array(items) => stack.extend(items.iter().rev()),
            serde_json::Value::Object(map) => {
                let flash = map.get("flash_bytes").and_then(|v| v.as_u64());
                let ram = map.get("ram_bytes").and_then(|v| v.as_u64());
                if let (Some(flash), Some(ram)) = (flash, ram) {
                    let text = |key: &str| {
                        map.get(key)
                            .and_then(|v| v.as_str())
                            .unwrap_or("")
                            .to_string()
                    };
                    let board = text("board");
                    let mut target = text("target");
                    if target.is_empty() {
                        target = targets.get(&board).cloned().unwrap_or_default();
                    }
                    let mut profile = text("profile");
                    if profile.is_empty() {
                        profile = Path::new(&text("elf"))
                            .parent()
                            .and_then(|p| p.file_name())
                            .map(|p| p.to_string_lossy().into_owned())
                            .unwrap_or_default();
                    }
                    let mut image = text("image");
                    if image.is_empty() {
                        image = text("name");
                    }
                    let labels = format!(
                        "image=\"{}\",target=\"{}\",board=\"{}\",profile=\"{}\"",
                        label(&image),
                        label(&target),
                        label(&board),
                        label(&profile)
                    );
                    out.push(ImageSize { labels, flash, ram });
                } else {
                    stack.extend(map.values());
                }
            }
            _ => {}
        }
    }
    out
}
