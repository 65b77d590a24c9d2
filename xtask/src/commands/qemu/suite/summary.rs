//! What a suite run prints and writes: one verdict line per case as it
//! finishes (above an indicatif bar on a terminal), then the failures with
//! their log tails, diffs and rerun commands, the totals, and the JSON and
//! JUnit reports.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::super::Args;
use super::super::report::{self, CaseResult, Environment, JsonReport, Shard, Status, Summary};
use super::select::Case;

/// `--list`: the selected ids, with the skip reason of quarantined tests.
pub fn list(cases: &[Case<'_>]) {
    for c in cases {
        let skip = c
            .test
            .skip
            .as_deref()
            .map(|r| format!(" (skipped: {r})"))
            .unwrap_or_default();
        println!("{}{skip}", c.id);
    }
}

/// An empty selection: what was filtered.
pub fn nothing_selected(args: &Args, last_report: &Path) {
    if args.only_failed {
        println!(
            "nothing failed or errored in the last run ({})",
            last_report.display()
        );
    } else {
        println!("no test selected");
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
    let color = color_enabled();
    for r in results
        .iter()
        .filter(|r| matches!(r.status, Status::Failed | Status::Error))
    {
        print_failure(r, color);
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
    if args.fail_on_flaky && summary.flaky > 0 {
        bail!("{} tests were flaky (--fail-on-flaky)", summary.flaky);
    }
    Ok(())
}

fn print_failure(r: &CaseResult, color: bool) {
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
pub struct Printer {
    bar: Option<ProgressBar>,
    color: bool,
}

impl Printer {
    pub fn new(total: usize) -> Self {
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
