//! Which cases run: tests × boards after `--target`, `--test`,
//! `--only-failed` and `--subset`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::super::Args;
use super::super::report::{CaseId, JsonReport, Status};
use crate::boards::{Board, Boards};
use crate::qemu::manifest::{Manifest, Test};
use crate::workspace::Workspace;

/// `--subset N/M`: shard N (1-based) of M.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subset {
    pub index: usize,
    pub count: usize,
}

impl Subset {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not N/M with 1 <= N <= M, e.g. 2/4");
        let (n, m) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            n.trim().parse::<usize>().map_err(|_| bad())?,
            m.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Keeps this shard of `ids`, which must be sorted: the i-th id goes to
    /// shard `i mod M + 1`, so the M shards partition the set and sizes differ
    /// by at most one.
    pub fn select<T>(&self, sorted: Vec<T>) -> Vec<T> {
        sorted
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index - 1)
            .map(|(_, t)| t)
            .collect()
    }
}

/// One test on one board.
pub struct Case<'a> {
    pub test: &'a Test,
    pub board: &'a Board,
    pub id: CaseId,
    /// After `--timeout` and `--timeout-multiplier`.
    pub timeout: Duration,
}

/// `<target_dir>/reports/qemu.json` for `qemu/tests.toml`; another manifest
/// gets its own file (`qemu-<stem>-<hash of its path>.json`) so that
/// `--only-failed` never mixes the tests of two manifests.
pub fn last_report_path(ws: &Workspace, manifest: Option<&Path>) -> PathBuf {
    let Some(path) = manifest else {
        return ws.reports_dir().join("qemu.json");
    };
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    // FNV-1a: stable across toolchains, unlike `DefaultHasher`.
    let hash = path
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    ws.reports_dir()
        .join(format!("qemu-{stem}-{:08x}.json", hash as u32))
}

/// The selected cases, sorted by id, then sharded.
///
/// Errors: an unknown board selector or `--test` name, `--only-failed`
/// without a readable previous report, or a timeout outside 1 ms to 24 h.
pub fn cases<'a>(
    manifest: &'a Manifest,
    boards: &'a Boards,
    args: &Args,
    last_report: &Path,
) -> Result<Vec<Case<'a>>> {
    let selected = boards.select(&args.boards.selector())?;
    for name in &args.test {
        if !manifest.tests.iter().any(|t| t.name == *name) {
            let names: Vec<&str> = manifest.tests.iter().map(|t| t.name.as_str()).collect();
            bail!(
                "no test `{name}` in {}; tests: {}",
                manifest.path.display(),
                names.join(", ")
            );
        }
    }
    let failed = if args.only_failed {
        Some(failed_last_time(last_report)?)
    } else {
        None
    };
    let mut cases: Vec<Case> = Vec::new();
    for test in &manifest.tests {
        if !args.test.is_empty() && !args.test.contains(&test.name) {
            continue;
        }
        for board in selected.iter().copied().filter(|b| test.runs_on(b)) {
            let id = CaseId {
                board: board.name.clone(),
                test: test.name.clone(),
            };
            if failed.as_ref().is_some_and(|f| !f.contains(&id)) {
                continue;
            }
            let timeout = args
                .timeout(test.timeout)
                .with_context(|| format!("test `{}` in {}", test.name, manifest.path.display()))?;
            cases.push(Case {
                test,
                board,
                id,
                timeout,
            });
        }
    }
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(match args.subset {
        Some(s) => s.select(cases),
        None => cases,
    })
}

/// Why a selection is empty: the manifest, and each filter that was set.
pub fn nothing_selected(manifest: &Manifest, args: &Args, last_report: &Path) -> String {
    let from = format!("{}", manifest.path.display());
    if manifest.tests.is_empty() {
        return format!("no test selected: {from} has no [[test]]");
    }
    if args.only_failed {
        return format!(
            "no test selected: nothing failed or errored in the last run of {from} ({})",
            last_report.display()
        );
    }
    let mut filters: Vec<String> = Vec::new();
    if let Some(t) = &args.boards.target {
        filters.push(format!("--target {t}"));
    }
    filters.extend(args.test.iter().map(|t| format!("--test {t}")));
    if let Some(s) = args.subset {
        filters.push(format!("--subset {}/{}", s.index, s.count));
    }
    let n = manifest.tests.len();
    if filters.is_empty() {
        return format!("no test selected: none of the {n} tests of {from} runs on any board");
    }
    format!(
        "no test selected: the {n} tests of {from} leave none after {}",
        filters.join(" ")
    )
}

/// The ids that failed or errored in the report at `path`.
fn failed_last_time(path: &Path) -> Result<BTreeSet<CaseId>> {
    if !path.exists() {
        bail!(
            "--only-failed: no previous report at {}; run `cargo xtask qemu` first",
            path.display()
        );
    }
    Ok(JsonReport::read(path)?
        .tests
        .into_iter()
        .filter(|t| matches!(t.status, Status::Failed | Status::Error))
        .map(|t| t.id)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_parses_and_rejects() {
        assert_eq!(Subset::parse("2/4"), Ok(Subset { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1", "a/b", "1/0"] {
            assert!(Subset::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subsets_partition_the_set() {
        let ids: Vec<String> = (0..23).map(|i| format!("board/t{i:02}")).collect();
        for m in 1..=7 {
            let mut seen: Vec<String> = Vec::new();
            let mut sizes = Vec::new();
            for n in 1..=m {
                let shard = Subset { index: n, count: m }.select(ids.clone());
                sizes.push(shard.len());
                seen.extend(shard);
            }
            seen.sort();
            assert_eq!(seen, ids, "M={m}");
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }
    }
}
