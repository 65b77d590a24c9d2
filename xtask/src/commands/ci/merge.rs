//! `cargo xtask ci report --merge DIR…`: the QEMU suite's shard reports
//! (`cargo xtask qemu --bundle … --subset i/M --json …`, one per CI job)
//! merged into the reports of one run: `qemu.json`, `qemu-junit.xml` and
//! `summary.md`. The shards must partition the suite: every shard of `M`
//! once, no case twice, and together the cases the suite selected.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::report::append_step_summary;
use crate::commands::qemu::report::{self, CaseId, JsonReport, Status, Summary};
use crate::workspace::{Workspace, write_atomic};

/// The file name a shard's JSON report has under the merged folders.
const REPORT: &str = "qemu.json";

/// Merges the reports found under `inputs` into `out` (default
/// `<target_dir>/reports/`), appends the summary to `$GITHUB_STEP_SUMMARY`,
/// and fails when a case failed or errored, as the suite run would.
///
/// Errors: an input is missing; no report is found; a report cannot be
/// read; the shards do not partition the suite; a report cannot be
/// written; or a case failed or errored.
pub fn merge(ws: &Workspace, inputs: &[PathBuf], out: Option<&Path>) -> Result<()> {
    let out = out.map_or_else(|| ws.reports_dir(), Path::to_path_buf);
    let mut files = Vec::new();
    for input in inputs {
        find_reports(input, &mut files)?;
    }
    // A report this command wrote earlier is no shard.
    let written = std::fs::canonicalize(out.join(REPORT)).ok();
    files.retain(|f| std::fs::canonicalize(f).ok() != written || written.is_none());
    if files.is_empty() {
        let shown: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        bail!("no {REPORT} under {}: nothing to merge", shown.join(", "));
    }
    files.sort();
    let mut reports = Vec::new();
    for f in &files {
        reports.push((f.clone(), JsonReport::read(f)?));
    }
    let merged = combine(&reports)?;
    merged.write(&out.join(REPORT))?;
    let duration = Duration::from_secs_f64(merged.duration_s);
    report::write_junit(&out.join("qemu-junit.xml"), &merged.tests, duration)?;
    let md = summary(&merged, &reports);
    write_atomic(&out.join("summary.md"), md.as_bytes())?;
    append_step_summary(&md)?;
    print!("{md}");
    println!("merged {} reports into {}", reports.len(), out.display());
    let s = &merged.summary;
    if s.failed + s.error > 0 {
        bail!(
            "{} of {} tests failed or errored",
            s.failed + s.error,
            s.total
        );
    }
    Ok(())
}

/// `path` itself when it is a file, else every `qemu.json` below it.
fn find_reports(path: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        found.push(path.to_owned());
        return Ok(());
    }
    for entry in
        std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?
    {
        let p = entry?.path();
        if p.is_dir() {
            find_reports(&p, found)?;
        } else if p.file_name().is_some_and(|n| n == REPORT) {
            found.push(p);
        }
    }
    Ok(())
}

/// One report of all cases, after checking that the shards partition the
/// suite.
fn combine(reports: &[(PathBuf, JsonReport)]) -> Result<JsonReport> {
    let mut owner: BTreeMap<&CaseId, &Path> = BTreeMap::new();
    for (file, r) in reports {
        for t in &r.tests {
            if let Some(other) = owner.insert(&t.id, file) {
                bail!(
                    "{} is in both {} and {}: the reports overlap",
                    t.id,
                    other.display(),
                    file.display()
                );
            }
        }
    }
    check_shards(reports)?;
    let mut tests: Vec<_> = reports.iter().flat_map(|(_, r)| r.tests.clone()).collect();
    tests.sort_by(|a, b| a.id.cmp(&b.id));
    let mut environment = reports[0].1.environment.clone();
    for (_, r) in &reports[1..] {
        environment.qemu.extend(r.environment.qemu.clone());
    }
    Ok(JsonReport {
        environment,
        shard: None,
        summary: Summary::of(&tests),
        // The shards run side by side: the suite took as long as the slowest.
        duration_s: reports
            .iter()
            .map(|(_, r)| r.duration_s)
            .fold(0.0, f64::max),
        tests,
    })
}

/// Every report is a shard of one `--subset i/M` split (or none is), each
/// of the M shards is there once, and they hold all the selected cases.
fn check_shards(reports: &[(PathBuf, JsonReport)]) -> Result<()> {
    let shards: Vec<_> = reports.iter().map(|(f, r)| (f, r.shard)).collect();
    if shards.iter().all(|(_, s)| s.is_none()) {
        return Ok(());
    }
    let Some((first_file, Some(first))) = shards.iter().find(|(_, s)| s.is_some()).copied() else {
        return Ok(());
    };
    let mut seen: BTreeMap<usize, &Path> = BTreeMap::new();
    for (file, shard) in &shards {
        let Some(s) = shard else {
            bail!("{} is a whole run, the others are shards", file.display());
        };
        if (s.count, s.of) != (first.count, first.of) {
            bail!(
                "{} is shard {}/{} of {} cases, but {} is shard {}/{} of {}: not one split",
                file.display(),
                s.index,
                s.count,
                s.of,
                first_file.display(),
                first.index,
                first.count,
                first.of
            );
        }
        if let Some(other) = seen.insert(s.index, file) {
            bail!(
                "shard {}/{} is both {} and {}",
                s.index,
                s.count,
                other.display(),
                file.display()
            );
        }
    }
    let missing: Vec<String> = (1..=first.count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{}", first.count))
        .collect();
    if !missing.is_empty() {
        bail!(
            "shard {} missing: no report of it was found (did its job fail before writing one?)",
            missing.join(", ")
        );
    }
    let cases: usize = reports.iter().map(|(_, r)| r.tests.len()).sum();
    if cases != first.of {
        bail!(
            "the shards hold {cases} cases, but the suite selected {}",
            first.of
        );
    }
    Ok(())
}

/// The Markdown summary: the verdict, counts per board, the shards, and
/// every failure with its rerun command.
fn summary(merged: &JsonReport, reports: &[(PathBuf, JsonReport)]) -> String {
    let s = &merged.summary;
    let verdict = if s.failed + s.error == 0 {
        "✅ passed".to_string()
    } else {
        format!("❌ {} failed, {} error", s.failed, s.error)
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## QEMU suite: {verdict}: {} tests from {} reports in {:.1} s\n",
        s.total,
        reports.len(),
        merged.duration_s
    );
    let _ = writeln!(
        md,
        "| board | tests | passed | failed | error | skipped | flaky |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    let mut boards: BTreeMap<&str, Vec<report::CaseResult>> = BTreeMap::new();
    for t in &merged.tests {
        boards.entry(t.board.as_str()).or_default().push(t.clone());
    }
    for (board, tests) in &boards {
        let b = Summary::of(tests);
        let _ = writeln!(
            md,
            "| {board} | {} | {} | {} | {} | {} | {} |",
            b.total, b.passed, b.failed, b.error, b.skipped, b.flaky
        );
    }
    let _ = writeln!(
        md,
        "\n| report | shard | tests | time |\n|---|---|---:|---:|"
    );
    for (file, r) in reports {
        let shard = r.shard.map_or("whole run".to_string(), |s| {
            format!("{}/{}", s.index, s.count)
        });
        let _ = writeln!(
            md,
            "| `{}` | {shard} | {} | {:.1} s |",
            file.display(),
            r.tests.len(),
            r.duration_s
        );
    }
    let failures: Vec<_> = merged
        .tests
        .iter()
        .filter(|t| matches!(t.status, Status::Failed | Status::Error))
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(md, "\n### Failures\n");
        for t in failures {
            let _ = writeln!(
                md,
                "- ❌ `{}` {}: {}; rerun with `{}`",
                t.id,
                t.status.as_str(),
                t.reason.as_deref().unwrap_or(""),
                t.rerun
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::qemu::report::{CaseResult, Environment, Shard};

    fn case(board: &str, test: &str, status: Status) -> CaseResult {
        let id = CaseId {
            board: board.into(),
            test: test.into(),
        };
        let rerun = format!("cargo xtask qemu --board {board} --test {test}");
        CaseResult {
            status,
            reason: (status == Status::Failed).then(|| "exit code 3".into()),
            duration_s: 0.1,
            exit_code: Some(0),
            ..CaseResult::unrun(id, "t".into(), 0, rerun)
        }
    }

    /// `cases` split as `--subset i/count` splits them.
    fn shards(cases: &[CaseResult], count: usize) -> Vec<(PathBuf, JsonReport)> {
        (1..=count)
            .map(|index| {
                let tests: Vec<CaseResult> = cases
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % count == index - 1)
                    .map(|(_, c)| c.clone())
                    .collect();
                let report = JsonReport {
                    environment: Environment::default(),
                    shard: Some(Shard {
                        index,
                        count,
                        of: cases.len(),
                    }),
                    summary: Summary::of(&tests),
                    duration_s: index as f64,
                    tests,
                };
                (PathBuf::from(format!("shard-{index}/{REPORT}")), report)
            })
            .collect()
    }

    fn suite() -> Vec<CaseResult> {
        let mut cases = Vec::new();
        for board in ["lm3s6965evb", "sifive_e"] {
            for test in ["a", "b", "c", "d"] {
                cases.push(case(board, test, Status::Passed));
            }
        }
        cases[3].status = Status::Failed;
        cases
    }

    #[test]
    fn three_shards_merge_into_the_whole_suite() {
        let all = suite();
        let merged = combine(&shards(&all, 3)).unwrap();
        let ids: Vec<&CaseId> = merged.tests.iter().map(|t| &t.id).collect();
        let want: Vec<&CaseId> = all.iter().map(|t| &t.id).collect();
        assert_eq!(ids, want);
        assert_eq!((merged.summary.total, merged.summary.failed), (8, 1));
        assert_eq!(merged.duration_s, 3.0, "the slowest shard");
        let md = summary(&merged, &shards(&all, 3));
        assert!(
            md.contains("❌ 1 failed, 0 error: 8 tests from 3 reports"),
            "{md}"
        );
        assert!(
            md.contains("| lm3s6965evb | 4 | 3 | 1 | 0 | 0 | 0 |"),
            "{md}"
        );
        assert!(
            md.contains("rerun with `cargo xtask qemu --board lm3s6965evb --test d`"),
            "{md}"
        );
    }

    #[test]
    fn a_missing_overlapping_or_foreign_shard_is_refused() {
        let all = suite();
        let shard = |index, count| {
            Some(Shard {
                index,
                count,
                of: all.len(),
            })
        };
        type Breaks<'a> = &'a dyn Fn(&mut Vec<(PathBuf, JsonReport)>);
        let cases: [(Breaks, &str); 5] = [
            (&|r| drop(r.remove(1)), "shard 2/3 missing"),
            (
                &|r| r[2].1.tests.push(all[0].clone()),
                "lm3s6965evb/a is in both",
            ),
            (&|r| r[0].1.shard = shard(1, 2), "not one split"),
            (&|r| r[1].1.shard = shard(1, 3), "shard 1/3 is both"),
            (
                &|r| drop(r[0].1.tests.pop()),
                "hold 7 cases, but the suite selected 8",
            ),
        ];
        for (break_it, needle) in cases {
            let mut reports = shards(&all, 3);
            break_it(&mut reports);
            let e = combine(&reports).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }
}
