//! Runs one step's commands, streaming their merged stdout and stderr into
//! the step's log (and to whoever watches), and turns libtest's output into
//! test cases.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use super::interrupt;
use super::plan::Step;
use crate::cmd::shell_words;
use crate::fault;
use crate::workspace::{Workspace, temp_beside};

/// One test case from a step's output.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TestRecord {
    /// The test binary, e.g. `tests/ci_plan.rs` or `unittests src/lib.rs`.
    pub suite: String,
    pub name: String,
    pub outcome: Outcome,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Ignored,
}

/// What running a step produced.
pub struct Ran {
    pub passed: bool,
    pub duration_s: f64,
    pub tests: Vec<TestRecord>,
    /// The last lines of output, shown when the step failed.
    pub tail: Vec<String>,
}

const TAIL_LINES: usize = 40;

/// Runs the step's commands in order, stopping at the first that fails.
/// `cargo xtask …` runs this very executable, so a step never rebuilds or
/// re-resolves xtask. Every line of output goes to `log` and to `on_line`.
///
/// Errors: the log cannot be written. A command that cannot start counts as
/// a failed step (its error is in the log), never as an error that hides
/// which step failed.
pub fn run_step(
    ws: &Workspace,
    step: &Step,
    log: &Path,
    verbose_echo: &dyn Fn(&str),
    on_line: &dyn Fn(&str),
) -> Result<Ran> {
    // Written under a temporary name and moved into place when the step
    // ends, so `logs/<step>.log` is always one whole run's log.
    let mut log_file = temp_beside(log)?;
    let start = Instant::now();
    let mut lines: Vec<String> = Vec::new();
    let mut passed = true;
    for argv in &step.commands {
        let shown = shell_words(argv);
        verbose_echo(&shown);
        writeln!(log_file, "$ {shown}")?;
        let mut emit = |line: String, log_file: &mut NamedTempFile| -> Result<()> {
            writeln!(log_file, "{line}")?;
            on_line(&line);
            lines.push(line);
            Ok(())
        };
        match spawn(ws, argv, &format!("step `{}`: `{shown}`", step.name)) {
            Ok((mut child, rx)) => {
                for line in rx {
                    emit(line, &mut log_file)?;
                }
                let status = child.wait().context("waiting for a step command");
                interrupt::reaped(child.id());
                let status = status?;
                if !status.success() {
                    emit(format!("`{shown}` failed with {status}"), &mut log_file)?;
                    passed = false;
                }
            }
            Err(e) => {
                emit(format!("cannot run `{shown}`: {e:#}"), &mut log_file)?;
                passed = false;
            }
        }
        if !passed {
            break;
        }
    }
    fault::point("ci-log-persist", log);
    log_file
        .persist(log)
        .map_err(|e| anyhow::Error::new(e.error))
        .with_context(|| format!("cannot write {}", log.display()))?;
    let tests = if step.libtest {
        parse_libtest(&lines)
    } else {
        Vec::new()
    };
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].to_vec();
    Ok(Ran {
        passed,
        duration_s: start.elapsed().as_secs_f64(),
        tests,
        tail,
    })
}

/// Starts one step command in a process group of its own (see
/// [`interrupt`]), registered as `label`.
fn spawn(
    ws: &Workspace,
    argv: &[String],
    label: &str,
) -> Result<(std::process::Child, mpsc::Receiver<String>)> {
    let mut cmd = match argv {
        [cargo, xtask, rest @ ..] if cargo == "cargo" && xtask == "xtask" => {
            let mut c = Command::new(self_exe()?);
            c.args(rest);
            c
        }
        [cargo, rest @ ..] if cargo == "cargo" => {
            let mut c = Command::new(crate::cmd::cargo());
            c.args(rest);
            c
        }
        [program, rest @ ..] => {
            let mut c = Command::new(program);
            c.args(rest);
            c
        }
        [] => anyhow::bail!("empty command"),
    };
    cmd.current_dir(&ws.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = interrupt::spawn(label, || cmd.spawn())?;
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().context("step stdout")?;
    let err = child.stderr.take().context("step stderr")?;
    forward(out, tx.clone());
    forward(err, tx);
    Ok((child, rx))
}

/// A link to this executable that the step commands run, so that a step
/// that re-links `target/debug/xtask` (the `test` step's `cargo test` does)
/// can never replace it under a step that starts at the same time. Removed
/// when dropped.
pub struct PinnedExe {
    path: PathBuf,
}

impl Drop for PinnedExe {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Links (or, across file systems, copies) this executable to
/// `<target_dir>/xtask-cache/exe/xtask-<pid>` before any step runs; every
/// `cargo xtask …` step command runs that file.
///
/// Errors: the executable cannot be located, or neither linked nor copied.
pub fn pin_self_exe(ws: &Workspace) -> Result<PinnedExe> {
    let exe = std::env::current_exe().context("locating xtask")?;
    // After a re-link, Linux reports the running image as `<path> (deleted)`,
    // although the same file is back at `<path>`.
    let exe = match exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        Some(stripped) => PathBuf::from(stripped),
        None => exe,
    };
    let dir = ws.target_dir.join("xtask-cache").join("exe");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!(
        "xtask-{}{}",
        std::process::id(),
        std::env::consts::EXE_SUFFIX
    ));
    let _ = std::fs::remove_file(&path);
    if std::fs::hard_link(&exe, &path).is_err() {
        std::fs::copy(&exe, &path)
            .with_context(|| format!("cannot copy {} to {}", exe.display(), path.display()))?;
    }
    let _ = PINNED.set(path.clone());
    Ok(PinnedExe { path })
}

static PINNED: OnceLock<PathBuf> = OnceLock::new();

/// The executable `cargo xtask …` step commands run: the pinned link, or
/// this executable when none was made.
fn self_exe() -> Result<PathBuf> {
    match PINNED.get() {
        Some(p) => Ok(p.clone()),
        None => std::env::current_exe().context("locating xtask"),
    }
}

/// Sends each line of `r` (lossily decoded) to `tx` from its own thread.
fn forward(r: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        while r.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            let line = strip_ansi(&String::from_utf8_lossy(&buf));
            if tx.send(line).is_err() {
                break;
            }
            buf.clear();
        }
    });
}

/// The line without its end-of-line and without ANSI escape sequences
/// (colours, terminal resets), which tools emit even into pipes.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.trim_end_matches(['\n', '\r']).chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters, then one final byte in @..~.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // Character-set designation such as `ESC ( B`.
            Some('(' | ')') => {
                chars.next();
            }
            _ => {}
        }
    }
    out
}

/// Test cases from libtest's default ("pretty") output: cargo's
/// `Running <binary>` / `Doc-tests <crate>` lines name the suite, and each
/// `test <name> ... ok|FAILED|ignored` line is one case.
pub fn parse_libtest(lines: &[String]) -> Vec<TestRecord> {
    let mut suite = String::from("tests");
    let mut tests = Vec::new();
    for line in lines {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Running ") {
            suite = rest.split(" (").next().unwrap_or(rest).trim().to_string();
        } else if let Some(rest) = t.strip_prefix("Doc-tests ") {
            suite = format!("doc-tests {}", rest.trim());
        } else if let Some(rest) = t.strip_prefix("test ")
            && let Some((name, verdict)) = rest.rsplit_once(" ... ")
        {
            let outcome = match verdict.split([',', ' ']).next() {
                Some("ok") => Outcome::Passed,
                Some("FAILED") => Outcome::Failed,
                Some("ignored") => Outcome::Ignored,
                _ => continue,
            };
            tests.push(TestRecord {
                suite: suite.clone(),
                name: name.trim().to_string(),
                outcome,
            });
        }
    }
    tests
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_sequences_are_stripped() {
        assert_eq!(strip_ansi("\x1b[31m-   let x\x1b(B\x1b[m\r\n"), "-   let x");
    }

    #[test]
    fn libtest_lines_become_cases() {
        let out: Vec<String> = [
            "     Running unittests src/lib.rs (target/debug/deps/dsp-1234)",
            "running 2 tests",
            "test fir::tests::impulse ... ok",
            "test fir::tests::slow ... ignored, needs hardware",
            "     Running tests/ci_plan.rs (target/debug/deps/ci_plan-99)",
            "test union_is_ci ... FAILED",
            "test result: FAILED. 0 passed; 1 failed; 0 ignored",
            "   Doc-tests dsp",
            "test src/lib.rs - fir (line 3) ... ok",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let t = parse_libtest(&out);
        assert_eq!(t.len(), 4);
        assert_eq!(t[0].suite, "unittests src/lib.rs");
        assert_eq!(t[1].outcome, Outcome::Ignored);
        assert_eq!(t[2].suite, "tests/ci_plan.rs");
        assert_eq!(t[2].outcome, Outcome::Failed);
        assert_eq!(t[3].suite, "doc-tests dsp");
        assert_eq!(t[3].name, "src/lib.rs - fir (line 3)");
    }
}
