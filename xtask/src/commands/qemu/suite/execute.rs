//! Running the selected cases: `jobs` threads, each spawning and reaping its
//! own QEMU (PR_SET_PDEATHSIG follows the spawning thread), with retries.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::super::Args;
use super::super::coverage;
use super::super::report::{Attempt, CaseResult, Status};
use super::images::Images;
use super::select::Case;
use super::summary::Printer;
use crate::cargo::Profile;
use crate::cmd::shell_words;
use crate::commands::size_check::budget::{Budgets, StackBudget};
use crate::image::ImageId;
use crate::qemu::manifest::Manifest;
use crate::qemu::stack::TaskStack;
use crate::qemu::{self, DefmtDecode, Expectation, RunSpec, Verdict, defmt};
use crate::workspace::Workspace;

/// Console lines kept in reports and failure messages.
const TAIL_LINES: usize = 20;

/// What every case of one suite run shares.
pub struct Run<'a> {
    pub ws: &'a Workspace,
    pub images: &'a Images,
    pub manifest: &'a Manifest,
    pub args: &'a Args,
    pub manifest_path: &'a Path,
    /// The stack budgets (`qemu/budgets.toml`, or `--budgets`) and where
    /// they were read from.
    pub budgets: &'a Budgets,
    pub budgets_label: &'a str,
    /// With `--coverage`: where each case's QEMU translation log goes.
    pub trace: Option<&'a coverage::Traces>,
}

impl Run<'_> {
    /// Runs every case on `jobs` threads; results in the order of `cases`.
    pub fn all(&self, cases: &[Case<'_>], jobs: usize) -> Vec<CaseResult> {
        let out = Printer::new(cases.len());
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<CaseResult>>> =
            Mutex::new(cases.iter().map(|_| None).collect());
        std::thread::scope(|s| {
            for _ in 0..jobs.min(cases.len()) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(case) = cases.get(i) else { break };
                        out.started(&case.id.to_string());
                        let r = self.case(case);
                        out.finished(&r);
                        results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                    }
                });
            }
        });
        out.done();
        results
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .flatten()
            .collect()
    }

    /// One case: skipped, an error (missing image or transcript, QEMU that
    /// cannot start), or the verdict of its last attempt.
    fn case(&self, case: &Case<'_>) -> CaseResult {
        let test = case.test;
        let mut r = CaseResult::unrun(
            case.id.clone(),
            case.board.target.clone(),
            test.exit_code,
            self.rerun_command(case),
        );
        if let Some(reason) = &case.skip {
            r.status = Status::Skipped;
            r.reason = Some(reason.clone());
            return r;
        }
        let (elf, image) = match self.images.image(&case.id) {
            Ok(found) => found,
            Err(reason) => {
                r.reason = Some(reason);
                return r;
            }
        };
        r.elf = Some(elf.to_owned());
        r.image = Some(image.clone());
        r.elf_sha256 = std::fs::read(elf).ok().map(|b| crate::image::digest(&b));
        let prepared = test
            .expectation(self.manifest.dir(), case.board)
            .and_then(|e| {
                let tool = defmt::decoder_for(self.ws, elf, test.verdict.log_format)?;
                Ok((e, tool))
            });
        match prepared {
            Ok((expectation, tool)) => {
                let decode = tool.as_deref().map(|tool| DefmtDecode {
                    tool,
                    streams: expectation.console.defmt_streams(),
                });
                self.attempts(case, (elf, image), &expectation, decode, r)
            }
            Err(e) => {
                r.reason = Some(format!("{e:#}"));
                r
            }
        }
    }

    /// Runs the case until it passes or `--retry-failed` attempts are spent.
    fn attempts(
        &self,
        case: &Case<'_>,
        (elf, image): (&Path, &ImageId),
        expectation: &Expectation,
        decode: Option<DefmtDecode<'_>>,
        mut r: CaseResult,
    ) -> CaseResult {
        let retries = self.args.retry_failed;
        let budget = self.budgets.stack(&image.to_string());
        r.stack_budget = budget
            .as_ref()
            .map(|b| format!("{} ({} in {})", b.amount, b.source, self.budgets_label));
        let extra_args = match self.trace {
            Some(traces) => traces.qemu_args(&case.id, &case.test.qemu_args),
            None => case.test.qemu_args.clone(),
        };
        for attempt in 0..=retries {
            let mut watch = expectation.watcher();
            let outcome = qemu::run(RunSpec {
                board: case.board,
                elf,
                extra_args: &extra_args,
                timeout: case.timeout,
                defmt: decode,
                watch: &mut watch,
                echo: None,
                label: &case.id.to_string(),
            });
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => {
                    r.status = Status::Error;
                    r.reason = Some(format!("{e:#}"));
                    return r;
                }
            };
            let judgement = expectation.judge(&outcome);
            r.retries = attempt;
            r.duration_s = outcome.wall.as_secs_f64();
            r.exit_code = outcome.exit_code();
            r.log_tail = outcome.tail(TAIL_LINES);
            r.log = outcome.log.iter().map(ToString::to_string).collect();
            r.mismatch = judgement.mismatch;
            let verdict = with_stack_budget(judgement.verdict, budget.as_ref(), &outcome.stack);
            r.stack = outcome.stack;
            match verdict {
                Verdict::Passed => {
                    r.status = if attempt == 0 {
                        Status::Passed
                    } else {
                        Status::Flaky
                    };
                    r.reason = (attempt > 0).then(|| format!("passed on retry {attempt}"));
                    return r;
                }
                Verdict::Failed(reason) if attempt < retries => r.failed_attempts.push(Attempt {
                    reason,
                    duration_s: r.duration_s,
                    log_tail: r.log_tail.clone(),
                }),
                Verdict::Failed(reason) => {
                    r.status = Status::Failed;
                    r.reason = Some(reason);
                }
            }
        }
        r
    }

    /// The command that reruns `case` alone with the same settings, quoted
    /// for a POSIX shell.
    fn rerun_command(&self, case: &Case<'_>) -> String {
        let args = self.args;
        let mut words: Vec<String> = ["cargo", "xtask", "qemu", "--board"]
            .map(String::from)
            .to_vec();
        words.extend([
            case.board.name.clone(),
            "--test".into(),
            case.test.name.clone(),
        ]);
        if args.coverage {
            words.push("--coverage".into());
        } else if args.profile != Profile::Release && args.bundle.is_none() {
            words.extend(["--profile".into(), args.profile.to_string()]);
        }
        if let Some(t) = args.timeout {
            words.extend(["--timeout".into(), t.to_string()]);
        }
        if args.timeout_multiplier != 1.0 {
            words.extend([
                "--timeout-multiplier".into(),
                args.timeout_multiplier.to_string(),
            ]);
        }
        if let Some(budgets) = &args.budgets {
            words.extend(["--budgets".into(), budgets.display().to_string()]);
        }
        if let Some(bundle) = &args.bundle {
            words.extend(["--bundle".into(), bundle.display().to_string()]);
        } else if args.manifest.is_some() {
            words.extend([
                "--manifest".into(),
                self.manifest_path.display().to_string(),
            ]);
        }
        shell_words(&words)
    }
}

/// A passing verdict fails when a task's stack peaked over `budget`; a
/// failing one keeps its own reason.
fn with_stack_budget(
    verdict: Verdict,
    budget: Option<&StackBudget>,
    stack: &[TaskStack],
) -> Verdict {
    let over = budget.map(|b| b.check(stack)).unwrap_or_default();
    match verdict {
        Verdict::Passed if !over.is_empty() => Verdict::Failed(over.join("; ")),
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> String {
        shell_words(&w.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn shell_words_are_quoted() {
        assert_eq!(words(&["qemu/tests.toml"]), "qemu/tests.toml");
        assert_eq!(words(&["my dir/t.toml"]), "'my dir/t.toml'");
        let hint = words(&["--test", "sched;touch${IFS}pwned"]);
        assert_eq!(
            shlex::split(&hint).unwrap(),
            ["--test", "sched;touch${IFS}pwned"]
        );
        assert!(hint.contains('\'') && !hint.contains(" sched;"), "{hint}");
    }
}
