//! Stack peaks beside the sizes. `size-check` runs no firmware, so it
//! takes each task's peak from the last suite report,
//! `<target_dir>/reports/qemu.json` (what `cargo xtask qemu` always writes),
//! and only for an ELF whose SHA-256 there equals that of the ELF it has
//! just built: a report of another build never shows, and an image the
//! suite did not run is reported as not measured, never estimated.

use std::collections::BTreeMap;
use std::path::Path;

use crate::commands::qemu::report::{JsonReport, Status};
use crate::qemu::stack::TaskStack;

/// What the suite report says about one built ELF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peaks {
    /// The suite ran this very ELF: its tasks' peaks (empty when it
    /// started no task, e.g. an image that exits before `kernel::start`).
    Measured(Vec<TaskStack>),
    /// No run of this ELF in the report (not a test image, another build,
    /// or no report).
    NotMeasured,
}

/// The suite report, by ELF digest.
pub struct Source {
    /// Names the report: path and the commit it ran, e.g.
    /// `target/reports/qemu.json (commit 1a2b3c4)`.
    pub label: String,
    by_digest: BTreeMap<String, Vec<TaskStack>>,
}

impl Source {
    /// Reads the report at `path`, shown as `shown`; a missing or unreadable
    /// report measures nothing.
    pub fn load(path: &Path, shown: &str) -> Self {
        let Ok(report) = JsonReport::read(path) else {
            return Self {
                label: format!("{shown} (none: run `cargo xtask qemu` first)"),
                by_digest: BTreeMap::new(),
            };
        };
        let mut by_digest: BTreeMap<String, Vec<TaskStack>> = BTreeMap::new();
        for t in report.tests {
            // A run that did not get to the end reports no peaks worth the name.
            let ran = matches!(t.status, Status::Passed | Status::Flaky | Status::Failed);
            if let (Some(digest), true) = (t.elf_sha256, ran && t.exit_code.is_some()) {
                merge(by_digest.entry(digest).or_default(), t.stack);
            }
        }
        let commit = report.environment.commit;
        Self {
            label: format!("{shown} (commit {})", short(&commit)),
            by_digest,
        }
    }

    /// The peaks of the ELF with SHA-256 `digest` (see [`crate::image::digest`]).
    pub fn peaks(&self, digest: &str) -> Peaks {
        match self.by_digest.get(digest) {
            Some(tasks) => Peaks::Measured(tasks.clone()),
            None => Peaks::NotMeasured,
        }
    }
}

/// Adds the tasks of another run of the same ELF: the larger peak of each.
fn merge(into: &mut Vec<TaskStack>, tasks: Vec<TaskStack>) {
    for t in tasks {
        match into.iter_mut().find(|o| o.task == t.task) {
            Some(o) => o.peak_bytes = o.peak_bytes.max(t.peak_bytes),
            None => into.push(t),
        }
    }
}

/// `1a2b3c4d5e6f`, `1a2b3c4d5e6f-dirty`: the commit a report names,
/// shortened.
fn short(commit: &str) -> String {
    let (hash, dirty) = match commit.strip_suffix("-dirty") {
        Some(hash) => (hash, "-dirty"),
        None => (commit, ""),
    };
    format!("{}{dirty}", hash.get(..12).unwrap_or(hash))
}

/// The task with the largest peak, in bytes: the image's stack peak.
pub fn top(tasks: &[TaskStack]) -> Option<&TaskStack> {
    tasks.iter().max_by_key(|t| t.peak_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(task: &str, peak_bytes: u64) -> TaskStack {
        TaskStack {
            task: task.into(),
            peak_bytes,
            size_bytes: 1024,
        }
    }

    #[test]
    fn runs_of_one_elf_merge_to_the_larger_peak_per_task() {
        let mut all = vec![task("a", 10), task("b", 30)];
        merge(&mut all, vec![task("a", 20), task("c", 5)]);
        assert_eq!(all, [task("a", 20), task("b", 30), task("c", 5)]);
        assert_eq!(top(&all).map(|t| t.task.as_str()), Some("b"));
        assert_eq!(top(&[]), None);
    }

    #[test]
    fn commits_are_shortened_keeping_dirty() {
        assert_eq!(short("a54a93f7e41e0123-dirty"), "a54a93f7e41e-dirty");
        assert_eq!(short("a54a93f7e41e0123"), "a54a93f7e41e");
        assert_eq!(short("unknown"), "unknown");
    }

    #[test]
    fn a_missing_report_measures_nothing_and_says_so() {
        let s = Source::load(
            Path::new("/nonexistent/qemu.json"),
            "target/reports/qemu.json",
        );
        assert_eq!(s.peaks("00"), Peaks::NotMeasured);
        assert!(
            s.label.contains("run `cargo xtask qemu` first"),
            "{}",
            s.label
        );
    }
}
