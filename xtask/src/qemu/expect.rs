//! Verdicts: what a run must show to pass, and why it failed otherwise.

use regex::Regex;
use similar::TextDiff;

use super::console;
use super::{End, RunOutcome};

/// What the console must show.
#[derive(Debug, Clone)]
pub enum Output {
    /// Exactly these lines (CRLF-normalised, QEMU's own lines dropped).
    Exact(Vec<String>),
    /// Lines matching these regexes, in this order (other lines may sit
    /// between them).
    Ordered(Vec<Regex>),
    /// Anything: only the exit code counts (the single-ELF runner).
    Any,
}

/// What a run must do to pass.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// The semihosting exit code, 0 for a passing image, non-zero for an
    /// expected-failure test.
    pub exit_code: i32,
    pub output: Output,
}

/// A verdict and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// Failed, with Twister's reason: `timeout after Ns`, `exit code N`,
    /// `fault: …`, `output mismatch`.
    Failed(String),
}

/// [`Expectation::judge`]'s result.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub verdict: Verdict,
    /// Unified diff (expected → actual) or the first unmatched regex, when
    /// the output did not match.
    pub mismatch: Option<String>,
}

impl Expectation {
    /// The single-ELF runner's rule: exit 0, no fault marker.
    pub fn exit_zero() -> Self {
        Self {
            exit_code: 0,
            output: Output::Any,
        }
    }

    /// A console watcher for [`super::RunSpec::watch`]: a fault
    /// marker ends a test that expects exit 0 at once (one that expects a
    /// non-zero exit prints the marker on purpose), and so does an exact
    /// transcript that has already diverged.
    pub fn watcher(&self) -> impl FnMut(&str) -> Option<String> + '_ {
        let mut seen = 0usize;
        move |line: &str| {
            if self.exit_code == 0 && console::is_fault(line) {
                return Some(format!("fault: {line}"));
            }
            if let Output::Exact(expected) = &self.output {
                let ok = expected.get(seen).is_some_and(|e| e == line);
                seen += 1;
                if !ok {
                    return Some("output mismatch".into());
                }
            }
            None
        }
    }

    /// Judges a finished run. Reasons rank: timeout, fault, exit code, then
    /// output; a mismatch is reported alongside any of them.
    pub fn judge(&self, run: &RunOutcome) -> Judgement {
        let mismatch = self.mismatch(&run.console);
        let code = run.exit_code();
        let code_note = code
            .map(|c| format!(" (exit code {c})"))
            .unwrap_or_default();
        let fault = run
            .fault()
            .filter(|_| self.exit_code == 0 || code.is_none());
        let reason = match (&run.end, fault) {
            (End::TimedOut, _) => Some(format!("timeout after {}", secs(run.timeout))),
            (_, Some(line)) => Some(format!("fault: {line}{code_note}")),
            (End::Exited(c), None) if *c != self.exit_code => Some(if self.exit_code == 0 {
                format!("exit code {c}")
            } else {
                format!("exit code {c} (expected {})", self.exit_code)
            }),
            (End::Exited(_), None) => mismatch.as_ref().map(|_| "output mismatch".to_string()),
            (End::Signalled(sig), None) => Some(format!("QEMU killed by signal {sig}")),
            (End::Stopped, None) => Some(
                run.early_verdict
                    .clone()
                    .unwrap_or_else(|| "output mismatch".into()),
            ),
        };
        Judgement {
            verdict: reason.map_or(Verdict::Passed, Verdict::Failed),
            mismatch,
        }
    }

    /// `None` when `console` matches.
    fn mismatch(&self, console: &[String]) -> Option<String> {
        match &self.output {
            Output::Any => None,
            Output::Exact(expected) => (expected.as_slice() != console).then(|| {
                let expected = join(expected);
                let actual = join(console);
                // A huge transcript gets a coarser diff rather than a slow one.
                TextDiff::configure()
                    .timeout(std::time::Duration::from_secs(1))
                    .diff_lines(&expected, &actual)
                    .unified_diff()
                    .context_radius(3)
                    .header("expected", "actual")
                    .to_string()
            }),
            Output::Ordered(regexes) => {
                let mut lines = console.iter();
                for (i, re) in regexes.iter().enumerate() {
                    if !lines.by_ref().any(|l| re.is_match(l)) {
                        return Some(format!(
                            "expect_regex[{i}] `{re}` matched no line after the previous match"
                        ));
                    }
                }
                None
            }
        }
    }
}

fn join(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// `30s`, `1.5s`.
pub fn secs(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}s")
    } else {
        format!("{s:.1}s")
    }
}

/// Splits an expected-transcript file into lines, CRLF-normalised; a final
/// newline does not add an empty line.
pub fn transcript_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn run(console: &[&str], end: End) -> RunOutcome {
        RunOutcome {
            console: console.iter().map(|s| s.to_string()).collect(),
            qemu_messages: vec![],
            stack: vec![],
            end,
            early_verdict: None,
            timeout: Duration::from_secs(30),
            wall: Duration::from_millis(40),
            starved: Duration::ZERO,
        }
    }

    fn exact(lines: &[&str], exit_code: i32) -> Expectation {
        Expectation {
            exit_code,
            output: Output::Exact(lines.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn failed(e: &Expectation, r: &RunOutcome) -> String {
        match e.judge(r).verdict {
            Verdict::Failed(reason) => reason,
            Verdict::Passed => panic!("passed"),
        }
    }

    #[test]
    fn exact_transcript_passes_and_mismatch_diffs() {
        let e = exact(&["a", "PASS x"], 0);
        assert_eq!(
            e.judge(&run(&["a", "PASS x"], End::Exited(0))).verdict,
            Verdict::Passed
        );
        let r = run(&["a", "b"], End::Exited(0));
        assert_eq!(failed(&e, &r), "output mismatch");
        let diff = e.judge(&r).mismatch.unwrap();
        assert!(diff.contains("-PASS x") && diff.contains("+b"), "{diff}");
    }

    #[test]
    fn reasons_rank_timeout_fault_exit_output() {
        let e = exact(&["a"], 0);
        assert_eq!(
            failed(
                &e,
                &run(&["*** PANIC in task idle at pc=0x1: x"], End::TimedOut)
            ),
            "timeout after 30s"
        );
        assert_eq!(
            failed(
                &e,
                &run(&["*** FAULT in task a at pc=0x2"], End::Exited(102))
            ),
            "fault: *** FAULT in task a at pc=0x2 (exit code 102)"
        );
        assert_eq!(failed(&e, &run(&["x"], End::Exited(3))), "exit code 3");
    }

    #[test]
    fn expected_nonzero_exit_with_marker_passes() {
        let e = exact(&["*** STACK OVERFLOW in task a at pc=0x1"], 103);
        let r = run(
            &["*** STACK OVERFLOW in task a at pc=0x1"],
            End::Exited(103),
        );
        assert_eq!(e.judge(&r).verdict, Verdict::Passed);
        assert_eq!(
            failed(
                &e,
                &run(&["*** STACK OVERFLOW in task a at pc=0x1"], End::Exited(0))
            ),
            "exit code 0 (expected 103)"
        );
        // The marker is expected here, so it does not stop the run early.
        let mut w = e.watcher();
        assert_eq!(w("*** STACK OVERFLOW in task a at pc=0x1"), None);
    }

    #[test]
    fn watcher_stops_on_fault_and_divergence() {
        let e = exact(&["a", "b"], 0);
        let mut w = e.watcher();
        assert_eq!(w("a"), None);
        assert_eq!(
            w("*** PANIC in task idle at pc=0x1: x").as_deref(),
            Some("fault: *** PANIC in task idle at pc=0x1: x")
        );
        let mut w = e.watcher();
        assert_eq!(w("a"), None);
        assert_eq!(w("c").as_deref(), Some("output mismatch"));
    }

    #[test]
    fn ordered_regexes() {
        let e = Expectation {
            exit_code: 0,
            output: Output::Ordered(vec![
                Regex::new("^tick [0-9]+$").unwrap(),
                Regex::new("^PASS").unwrap(),
            ]),
        };
        assert_eq!(
            e.judge(&run(&["boot", "tick 1", "x", "PASS y"], End::Exited(0)))
                .verdict,
            Verdict::Passed
        );
        let r = run(&["PASS y", "tick 1"], End::Exited(0));
        assert_eq!(failed(&e, &r), "output mismatch");
        assert!(e.judge(&r).mismatch.unwrap().contains("expect_regex[1]"));
    }

    #[test]
    fn transcript_files_are_crlf_normalised() {
        assert_eq!(transcript_lines("a\r\nb\r\n"), vec!["a", "b"]);
        assert_eq!(transcript_lines("a\nb"), vec!["a", "b"]);
    }
}
