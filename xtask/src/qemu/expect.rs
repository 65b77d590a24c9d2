//! Verdicts: what a run must show to pass, and why it failed otherwise.

use regex::bytes::Regex;
use similar::TextDiff;

use super::console::{self, Console, FailMarkers, Line, Match};
use super::{End, RunOutcome};

/// What the console must show.
#[derive(Debug, Clone)]
pub enum Output {
    /// This transcript (an expected file's bytes), compared as
    /// [`Expectation::matching`] says.
    Transcript(Vec<u8>),
    /// Lines matching these regexes, in this order (other lines may sit
    /// between them).
    Ordered(Vec<Regex>),
    /// Anything: only the exit code and the failure markers count.
    Any,
}

/// What a run must do to pass.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// The semihosting exit code, 0 for a passing image, non-zero for an
    /// expected-failure test.
    pub exit_code: i32,
    pub output: Output,
    pub matching: Match,
    /// The streams `output` is compared with.
    pub console: Console,
    /// Guest lines that fail a test expecting exit 0.
    pub fail: FailMarkers,
}

/// A verdict and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// Failed, with Twister's reason: `timeout after Ns`, `exit code N`,
    /// `fault: …`, `defmt: …`, `output mismatch`.
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
    /// Exit 0 with any output, no failure marker: the rule of a run that
    /// only has to work (benches, the native digest check).
    pub fn exit_zero(fail: FailMarkers) -> Self {
        Self {
            exit_code: 0,
            output: Output::Any,
            matching: Match::Lines,
            console: Console::Both,
            fail,
        }
    }

    /// A console watcher for [`super::RunSpec::watch`]: a failure marker
    /// ends a test that expects exit 0 at once (one that expects a non-zero
    /// exit prints its marker on purpose), and so does a line-matched
    /// transcript that has already diverged (checked on the first compared
    /// stream, whose lines come first).
    pub fn watcher(&self) -> impl FnMut(&Line) -> Option<String> + '_ {
        let first = self.console.streams()[0];
        let expected = match (&self.output, self.matching) {
            (Output::Transcript(t), Match::Lines) => Some(transcript_lines(t)),
            _ => None,
        };
        let mut seen = 0usize;
        move |line: &Line| {
            if !line.stream.is_guest() {
                return None;
            }
            if self.exit_code == 0
                && let Some(re) = self.fail.find(line.normalised())
            {
                return Some(marker_reason(line, re));
            }
            if let Some(expected) = &expected
                && line.stream == first
            {
                let ok = expected.get(seen).is_some_and(|e| *e == line.normalised());
                seen += 1;
                if !ok {
                    return Some("output mismatch".into());
                }
            }
            None
        }
    }

    /// Judges a finished run. Reasons rank: timeout, failure marker, exit
    /// code, then defmt frames that did not decode, then output; a mismatch
    /// is reported alongside any of them.
    pub fn judge(&self, run: &RunOutcome) -> Judgement {
        let mismatch = self.mismatch(run);
        let code = run.exit_code();
        let code_note = code
            .map(|c| format!(" (exit code {c})"))
            .unwrap_or_default();
        let marker = run
            .marker(&self.fail)
            .filter(|_| self.exit_code == 0 || code.is_none());
        let reason = match (&run.end, marker) {
            (End::TimedOut, _) => Some(format!("timeout after {}", secs(run.timeout))),
            (_, Some((line, re))) => Some(format!("{}{code_note}", marker_reason(line, re))),
            (End::Exited(c), None) if *c != self.exit_code => Some(if self.exit_code == 0 {
                format!("exit code {c}")
            } else {
                format!("exit code {c} (expected {})", self.exit_code)
            }),
            (End::Exited(_), None) => match run.defmt_errors.first() {
                Some(e) => Some(format!("defmt: {e}")),
                None => mismatch.as_ref().map(|_| "output mismatch".to_string()),
            },
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

    /// `None` when the run's console matches.
    fn mismatch(&self, run: &RunOutcome) -> Option<String> {
        match &self.output {
            Output::Any => None,
            Output::Transcript(expected) => match self.matching {
                Match::Lines => {
                    let expected = transcript_lines(expected);
                    let actual = transcript_lines_of(run.console_lines(self.console));
                    (expected != actual).then(|| diff(&lines_text(&expected), &lines_text(&actual)))
                }
                Match::Exact => {
                    let actual = run.console_bytes(self.console);
                    (actual != *expected).then(|| diff(&exact_text(expected), &exact_text(&actual)))
                }
            },
            Output::Ordered(regexes) => {
                let lines = transcript_lines_of(run.console_lines(self.console));
                let mut lines = lines.iter();
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

/// `fault: <line> [<stream> matched fail_regex `<re>`]`.
fn marker_reason(line: &Line, re: &Regex) -> String {
    format!(
        "fault: {} [{} matched fail_regex `{re}`]",
        console::escape(line.normalised()),
        line.stream.label()
    )
}

fn diff(expected: &str, actual: &str) -> String {
    // A huge transcript gets a coarser diff rather than a slow one.
    TextDiff::configure()
        .timeout(std::time::Duration::from_secs(1))
        .diff_lines(expected, actual)
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .to_string()
}

/// Lines as text for a diff, one per line.
fn lines_text(lines: &[&[u8]]) -> String {
    lines
        .iter()
        .map(|l| format!("{}\n", console::escape(l)))
        .collect()
}

/// Bytes as text for a diff that shows every byte: `\r` and other
/// control bytes escaped, a missing final newline flagged by the diff.
fn exact_text(bytes: &[u8]) -> String {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(|l| match l.strip_suffix(b"\n") {
            Some(body) => format!("{}\n", console::escape(body)),
            None => console::escape(l),
        })
        .collect()
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

/// Splits a transcript into lines, CRLF-normalised; a final newline does
/// not add an empty line.
pub fn transcript_lines(text: &[u8]) -> Vec<&[u8]> {
    transcript_lines_of(console::split_lines(text))
}

fn transcript_lines_of(lines: Vec<&[u8]>) -> Vec<&[u8]> {
    lines.into_iter().map(console::trim_cr).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::super::console::Stream;
    use super::*;

    /// A run whose UART printed `uart` and semihosting `semihosting`.
    fn run_with(uart: &[u8], semihosting: &[u8], end: End) -> RunOutcome {
        let mut log = Vec::new();
        for (stream, bytes) in [(Stream::Uart, uart), (Stream::Semihosting, semihosting)] {
            log.extend(console::split_lines(bytes).into_iter().map(|l| Line {
                stream,
                bytes: l.to_vec(),
            }));
        }
        RunOutcome {
            raw: BTreeMap::from([
                (Stream::Uart, uart.to_vec()),
                (Stream::Semihosting, semihosting.to_vec()),
            ]),
            decoded: BTreeMap::new(),
            log,
            defmt_errors: vec![],
            stack: vec![],
            end,
            early_verdict: None,
            timeout: Duration::from_secs(30),
            wall: Duration::from_millis(40),
            starved: Duration::ZERO,
        }
    }

    fn run(console: &[&str], end: End) -> RunOutcome {
        let text: String = console.iter().map(|l| format!("{l}\n")).collect();
        run_with(text.as_bytes(), b"", end)
    }

    fn transcript(text: &str, exit_code: i32) -> Expectation {
        Expectation {
            output: Output::Transcript(text.as_bytes().to_vec()),
            exit_code,
            ..Expectation::exit_zero(FailMarkers::defaults())
        }
    }

    fn failed(e: &Expectation, r: &RunOutcome) -> String {
        match e.judge(r).verdict {
            Verdict::Failed(reason) => reason,
            Verdict::Passed => panic!("passed"),
        }
    }

    fn line(s: &str) -> Line {
        Line {
            stream: Stream::Uart,
            bytes: s.as_bytes().to_vec(),
        }
    }

    #[test]
    fn transcript_passes_and_mismatch_diffs() {
        let e = transcript("a\nPASS x\n", 0);
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
    fn exact_matching_fails_crlf_that_lines_accepts() {
        let r = run_with(b"a\r\nb\r\n", b"", End::Exited(0));
        let lines = transcript("a\nb\n", 0);
        assert_eq!(lines.judge(&r).verdict, Verdict::Passed);
        let exact = Expectation {
            matching: Match::Exact,
            ..lines
        };
        assert_eq!(failed(&exact, &r), "output mismatch");
        let diff = exact.judge(&r).mismatch.unwrap();
        assert!(diff.contains("+a\\r"), "{diff}");
        let crlf = Expectation {
            output: Output::Transcript(b"a\r\nb\r\n".to_vec()),
            ..exact
        };
        assert_eq!(crlf.judge(&r).verdict, Verdict::Passed);
    }

    #[test]
    fn stack_report_lines_are_not_compared_in_either_mode() {
        let r = run_with(
            b"a\n@stack main 96 1024\r\nb\n@stack idle 8 16",
            b"",
            End::Exited(0),
        );
        let lines = transcript("a\nb\n", 0);
        assert_eq!(lines.judge(&r).verdict, Verdict::Passed);
        let exact = Expectation {
            matching: Match::Exact,
            ..lines
        };
        assert_eq!(exact.judge(&r).verdict, Verdict::Passed);
        // A line that only looks like one stays and is compared.
        let r = run_with(b"a\n@stack main\nb\n", b"", End::Exited(0));
        assert_eq!(failed(&exact, &r), "output mismatch");
    }

    #[test]
    fn console_chooses_the_streams() {
        let r = run_with(b"uart\n", b"semi\n", End::Exited(0));
        let both = transcript("uart\nsemi\n", 0);
        assert_eq!(both.judge(&r).verdict, Verdict::Passed);
        for (console, text) in [(Console::Uart, "uart\n"), (Console::Semihosting, "semi\n")] {
            let e = Expectation {
                console,
                matching: Match::Exact,
                ..transcript(text, 0)
            };
            assert_eq!(e.judge(&r).verdict, Verdict::Passed, "{console:?}");
            let mixed = Expectation {
                output: Output::Transcript(b"uart\nsemi\n".to_vec()),
                ..e
            };
            assert_eq!(failed(&mixed, &r), "output mismatch", "{console:?}");
        }
    }

    #[test]
    fn reasons_rank_timeout_fault_exit_output() {
        let e = transcript("a\n", 0);
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
            "fault: *** FAULT in task a at pc=0x2 [uart matched fail_regex `^\\*\\*\\* FAULT`] (exit code 102)"
        );
        assert_eq!(failed(&e, &run(&["x"], End::Exited(3))), "exit code 3");
        let mut r = run(&["a"], End::Exited(0));
        r.defmt_errors
            .push("malformed defmt frame at byte 3: …".into());
        assert_eq!(failed(&e, &r), "defmt: malformed defmt frame at byte 3: …");
    }

    #[test]
    fn markers_come_from_the_expectation_and_skip_qemu_lines() {
        let custom = Expectation {
            fail: FailMarkers::compile(&["^Guru Meditation"]).unwrap(),
            ..transcript("Guru Meditation #1\n", 0)
        };
        let r = run(&["Guru Meditation #1"], End::Exited(0));
        assert!(failed(&custom, &r).contains("fail_regex `^Guru Meditation`"));
        // The defaults no longer apply once a list replaces them.
        let panics = run(&["*** PANIC x"], End::Exited(0));
        assert_eq!(
            failed(&custom, &panics),
            "output mismatch",
            "only the custom marker counts"
        );
        let mut w = transcript("x\n", 0);
        w.output = Output::Any;
        let mut watch = w.watcher();
        let qemu = Line {
            stream: Stream::Qemu,
            bytes: b"qemu-system-arm: panicked at nothing".to_vec(),
        };
        assert_eq!(watch(&qemu), None);
        let stderr = Line {
            stream: Stream::GuestStderr,
            bytes: b"panicked at src/main.rs:4:5:".to_vec(),
        };
        assert_eq!(
            watch(&stderr).as_deref(),
            Some(
                "fault: panicked at src/main.rs:4:5: [guest-stderr matched fail_regex `panicked at`]"
            )
        );
    }

    #[test]
    fn expected_nonzero_exit_with_marker_passes() {
        let e = transcript("*** STACK OVERFLOW in task a at pc=0x1\n", 103);
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
        assert_eq!(w(&line("*** STACK OVERFLOW in task a at pc=0x1")), None);
    }

    #[test]
    fn watcher_stops_on_fault_and_divergence() {
        let e = transcript("a\nb\n", 0);
        let mut w = e.watcher();
        assert_eq!(w(&line("a")), None);
        assert!(
            w(&line("*** PANIC in task idle at pc=0x1: x"))
                .unwrap()
                .starts_with("fault: *** PANIC in task idle at pc=0x1: x [uart")
        );
        let mut w = e.watcher();
        assert_eq!(w(&line("a\r")), None);
        assert_eq!(w(&line("c")).as_deref(), Some("output mismatch"));
    }

    #[test]
    fn ordered_regexes() {
        let e = Expectation {
            output: Output::Ordered(vec![
                Regex::new("^tick [0-9]+$").unwrap(),
                Regex::new("^PASS").unwrap(),
            ]),
            ..Expectation::exit_zero(FailMarkers::defaults())
        };
        assert_eq!(
            e.judge(&run(&["boot", "tick 1\r", "x", "PASS y"], End::Exited(0)))
                .verdict,
            Verdict::Passed
        );
        let r = run(&["PASS y", "tick 1"], End::Exited(0));
        assert_eq!(failed(&e, &r), "output mismatch");
        assert!(e.judge(&r).mismatch.unwrap().contains("expect_regex[1]"));
    }

    #[test]
    fn transcript_files_are_crlf_normalised() {
        assert_eq!(transcript_lines(b"a\r\nb\r\n"), [&b"a"[..], b"b"]);
        assert_eq!(transcript_lines(b"a\nb"), [&b"a"[..], b"b"]);
    }
}
