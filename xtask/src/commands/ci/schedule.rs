//! Which step runs when: the plan's jobs run side by side, as the GitHub
//! matrix runs them, and each job's steps run in plan order, one at a time.
//! At most `jobs` steps run at once. A failure (without `--keep-going`) or
//! a signal starts nothing new; the steps already running finish.
//!
//! A step also waits for the steps its [`Step::after`] names, when they are
//! in the run: those write files it reads or writes too. Otherwise steps of
//! different jobs need no order: every step that needs firmware images
//! builds them itself, and `cargo build` and the image copies are
//! serialised by cargo's lock and xtask's build lock.

use std::sync::mpsc;

use anyhow::Result;

use super::interrupt;
use super::plan::{Job, Step};
use super::report::StepResult;
use super::ui::Status;

/// Runs `steps` with `run`, at most `jobs` at once, and returns one result
/// per step, in plan order; a step that never started is
/// [`Status::NotRun`].
///
/// Errors: the first error `run` returned (a step's log could not be
/// written); the steps already running finish first.
pub fn run_all(
    steps: &[Step],
    jobs: usize,
    keep_going: bool,
    run: &(dyn Fn(&Step) -> Result<StepResult> + Sync),
) -> Result<Vec<StepResult>> {
    let mut results: Vec<Option<StepResult>> = steps.iter().map(|_| None).collect();
    let mut started = vec![false; steps.len()];
    let mut busy: Vec<Job> = Vec::new();
    let mut stopped = false;
    let mut error = None;
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        loop {
            while !stopped && busy.len() < jobs.max(1) {
                let Some(i) = next_ready(steps, &started, &results, &busy) else {
                    break;
                };
                started[i] = true;
                busy.push(steps[i].job);
                let tx = tx.clone();
                let step = &steps[i];
                scope.spawn(move || {
                    let _ = tx.send((i, run(step)));
                });
            }
            if busy.is_empty() {
                break;
            }
            let Ok((i, outcome)) = rx.recv() else { break };
            busy.retain(|&j| j != steps[i].job);
            match outcome {
                Ok(result) => {
                    stopped |= result.status == Status::Failed && !keep_going;
                    results[i] = Some(result);
                }
                Err(e) => {
                    stopped = true;
                    error.get_or_insert(e);
                }
            }
            stopped |= interrupt::signal().is_some();
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    Ok(steps
        .iter()
        .zip(results)
        .map(|(step, r)| r.unwrap_or_else(|| StepResult::new(step)))
        .collect())
}

/// The first step, in plan order, that has not started, whose job has no
/// step running, and whose job's earlier steps and whose
/// [`Step::after`] steps have all finished.
fn next_ready(
    steps: &[Step],
    started: &[bool],
    results: &[Option<StepResult>],
    busy: &[Job],
) -> Option<usize> {
    (0..steps.len()).find(|&i| {
        let step = &steps[i];
        !started[i]
            && !busy.contains(&step.job)
            && steps
                .iter()
                .zip(results)
                .enumerate()
                .all(|(j, (other, r))| {
                    let first =
                        (j < i && other.job == step.job) || step.after.contains(&other.name);
                    !first || r.is_some()
                })
    })
}

/// How many steps `cargo xtask ci` runs at once by default: one per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::commands::ci::plan::Inputs;

    fn step(name: &'static str, job: Job) -> Step {
        Step {
            name,
            job,
            commands: Vec::new(),
            inputs: Inputs::default(),
            outputs: Vec::new(),
            junit: None,
            libtest: false,
            after: &[],
        }
    }

    /// Runs the steps, each sleeping 50 ms, and returns the statuses and
    /// every step's start and end.
    fn run(
        steps: &[Step],
        jobs: usize,
        keep_going: bool,
        failing: &str,
    ) -> (Vec<Status>, Vec<(&'static str, Instant, Instant)>) {
        let spans = Mutex::new(Vec::new());
        let results = run_all(steps, jobs, keep_going, &|s| {
            let start = Instant::now();
            std::thread::sleep(Duration::from_millis(50));
            spans.lock().unwrap().push((s.name, start, Instant::now()));
            let mut r = StepResult::new(s);
            r.status = if s.name == failing {
                Status::Failed
            } else {
                Status::Passed
            };
            Ok(r)
        })
        .unwrap();
        let statuses = results.iter().map(|r| r.status).collect();
        (statuses, spans.into_inner().unwrap())
    }

    fn overlap(spans: &[(&str, Instant, Instant)], a: &str, b: &str) -> bool {
        let find = |n: &str| spans.iter().find(|s| s.0 == n).unwrap();
        let (a, b) = (find(a), find(b));
        a.1 < b.2 && b.1 < a.2
    }

    #[test]
    fn jobs_run_side_by_side_and_each_job_in_order() {
        let steps = [
            step("fmt", Job::Lint),
            step("clippy", Job::Lint),
            step("test", Job::Test),
            step("build", Job::Firmware),
        ];
        let (statuses, spans) = run(&steps, 2, false, "");
        assert!(statuses.iter().all(|&s| s == Status::Passed));
        assert!(
            !overlap(&spans, "fmt", "clippy"),
            "one job, one step at a time"
        );
        assert!(overlap(&spans, "fmt", "test"), "two jobs run at once");
        let (statuses, spans) = run(&steps, 1, false, "");
        assert!(statuses.iter().all(|&s| s == Status::Passed));
        assert!(
            !overlap(&spans, "fmt", "test"),
            "--jobs 1 runs one at a time"
        );
    }

    #[test]
    fn a_step_waits_for_the_steps_it_runs_after() {
        let mut size = step("size-check", Job::Firmware);
        size.after = &["qemu"];
        let steps = [step("qemu", Job::Qemu), size, step("test", Job::Test)];
        let (statuses, spans) = run(&steps, 3, false, "");
        assert!(statuses.iter().all(|&s| s == Status::Passed));
        assert!(!overlap(&spans, "qemu", "size-check"));
        assert!(overlap(&spans, "qemu", "test"));
    }

    #[test]
    fn a_failure_starts_nothing_new_unless_keep_going() {
        let steps = [
            step("fmt", Job::Lint),
            step("workflow-lint", Job::Lint),
            step("build", Job::Firmware),
        ];
        let (statuses, _) = run(&steps, 1, false, "fmt");
        assert_eq!(statuses, [Status::Failed, Status::NotRun, Status::NotRun]);
        let (statuses, _) = run(&steps, 2, true, "fmt");
        assert_eq!(statuses, [Status::Failed, Status::Passed, Status::Passed]);
    }
}
