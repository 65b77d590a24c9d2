//! What a suite run prints and writes: one verdict line per case as it
//! finishes (above an indicatif bar on a terminal), then the failures with
//! their log tails, diffs and rerun commands, the totals, and the JSON and
//! JUnit reports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::super::Args;
use super::super::report::{self, CaseResult, Environment, JsonReport, Shard, Status, Summary};
use super::super::shown::{LINE_BYTES, bounded_diff, clip, write_diff};
use super::select::Case;
use crate::term::Look;

/// `--list`: the selected ids, with the skip reason of quarantined tests.
pub fn list(cases: &[Case<'_>]) {
    for c in cases {
        let skip = c
            .skip
            .as_deref()
            .map(|r| format!(" (skipped: {r})"))
            .unwrap_or_default();
        println!("{}{skip}", c.id);
    }
}

/// Prints the failures and the totals, writes the reports, and fails when
/// a case failed or errored (or was flaky, with `--fail-on-flaky`).
///
/// Errors: a report cannot be written, or the run did not pass.
pub fn finish(
    args: &Args,
    results: Vec<CaseResult>,
    duration: Duration,
    environment: Environment,
    shard: Option<Shard>,
    last_report: &Path,
) -> Result<()> {
    let summary = Summary::of(&results);
    let color = Look::detect().color;
    let reports = last_report.parent().unwrap_or(Path::new("."));
    for r in results
        .iter()
        .filter(|r| matches!(r.status, Status::Failed | Status::Error))
    {
        let diff = r
            .mismatch
            .as_ref()
            .map(|d| write_diff(reports, &r.board, &r.name, d).map(|path| (d.as_str(), path)))
            .transpose()?;
        print_failure(r, color, diff);
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
        shard,
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
    if summary.skipped == summary.total && !args.allow_empty {
        bail!(
            "no test ran: all {} selected tests are skipped; a run that tests nothing is not a pass (--allow-empty accepts it)",
            summary.total
        );
    }
    if args.fail_on_flaky && summary.flaky > 0 {
        bail!("{} tests were flaky (--fail-on-flaky)", summary.flaky);
    }
    Ok(())
}

fn print_failure(r: &CaseResult, color: bool, diff: Option<(&str, PathBuf)>) {
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
            println!("      {}", clip(l, LINE_BYTES));
        }
    }
    if let Some((diff, path)) = diff {
        println!("    expected vs actual:");
        for l in bounded_diff(diff, &path) {
            println!("      {l}");
        }
    }
    println!("    rerun: {}", r.rerun);
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
pub struct Printer {
    bar: Option<ProgressBar>,
    color: bool,
}

impl Printer {
    pub fn new(total: usize) -> Self {
        let look = Look::detect();
        let bar = look.live.then(|| {
            let bar = ProgressBar::new(total as u64);
            let template = if look.color {
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
            color: look.color,
        }
    }

    pub fn started(&self, id: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(id.to_owned());
        }
    }

    pub fn finished(&self, r: &CaseResult) {
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
            r.id.to_string(),
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

    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
