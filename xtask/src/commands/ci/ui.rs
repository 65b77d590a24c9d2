//! How a ci run looks while it runs: an indicatif multi-progress display on
//! a terminal (one line per running step, with its elapsed time and latest
//! output), or plain timestamped lines when stdout is not a terminal or `CI`
//! is set (CI logs keep every line of every step). Colour and the live
//! display follow [`Look`]: no colour with `NO_COLOR`, neither on a `dumb`
//! terminal.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::term::Look;

/// Where a step ended up, as shown in the display and the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Passed,
    Cached,
    Failed,
    /// Not run because an earlier step failed (no `--keep-going`).
    NotRun,
}

impl Status {
    pub fn mark(self) -> &'static str {
        match self {
            Status::Passed | Status::Cached => "✅",
            Status::Failed => "❌",
            Status::NotRun => "⚪",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Cached => "cached",
            Status::Failed => "failed",
            Status::NotRun => "not run",
        }
    }
}

pub struct Ui {
    multi: Option<MultiProgress>,
    verbose: bool,
    color: bool,
    /// Whether steps may run at once, so plain lines say whose they are.
    side_by_side: bool,
}

/// The display of one running step.
pub struct StepLine<'a> {
    ui: &'a Ui,
    name: &'static str,
    bar: Option<ProgressBar>,
}

impl Ui {
    /// `side_by_side`: more than one step may run at once; plain output
    /// then starts each step line with `[<step>] `.
    pub fn new(verbose: bool, side_by_side: bool) -> Self {
        let look = Look::detect();
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        Self {
            multi: (look.live && !ci).then(MultiProgress::new),
            verbose,
            color: look.color,
            side_by_side,
        }
    }

    pub fn color(&self) -> bool {
        self.color
    }

    /// Prints a line above the progress display, or timestamped when plain.
    pub fn say(&self, msg: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => println!("[{}] {msg}", clock()),
        }
    }

    pub fn start(&self, name: &'static str) -> StepLine<'_> {
        let bar = self.multi.as_ref().map(|m| {
            let template = if self.color {
                "{spinner:.cyan} {prefix:<16.bold} {elapsed:>4} {wide_msg:.dim}"
            } else {
                "{spinner} {prefix:<16} {elapsed:>4} {wide_msg}"
            };
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bar = m.add(ProgressBar::new_spinner().with_style(style));
            bar.set_prefix(name);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if bar.is_none() {
            self.say(&format!("▶ {name}"));
        }
        StepLine {
            ui: self,
            name,
            bar,
        }
    }
}

impl StepLine<'_> {
    /// With `-v`, echoes a command before it runs.
    pub fn command(&self, shown: &str) {
        if self.ui.verbose {
            self.ui.say(&format!("$ {shown}"));
        }
    }

    /// One line of the step's output: the latest one on a terminal (every
    /// line with `-v`), every line when plain.
    pub fn output(&self, line: &str) {
        match &self.bar {
            Some(bar) => {
                if self.ui.verbose {
                    bar.println(line);
                }
                bar.set_message(line.trim().to_string());
            }
            None if self.ui.side_by_side => println!("[{}] {line}", self.name),
            None => println!("{line}"),
        }
    }

    pub fn finish(self, status: Status, seconds: f64) {
        let text = format!(
            "{} {:<16} {:<7} {:>7.1}s",
            status.mark(),
            self.name,
            status.word(),
            seconds
        );
        match &self.bar {
            Some(bar) => {
                bar.set_style(
                    ProgressStyle::with_template("{msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.finish_with_message(text);
            }
            None => self.ui.say(&text),
        }
    }
}

/// `HH:MM:SS` UTC, for plain lines.
fn clock() -> String {
    chrono::Utc::now().format("%H:%M:%S").to_string()
}
