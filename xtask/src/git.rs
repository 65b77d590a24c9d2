//! What the project reads from git, through the `git` CLI (xshell): the
//! commit, its time, tags, and the files of the working tree.

use std::path::Path;

use anyhow::{Context, Result};
use xshell::cmd;

use crate::cmd::{capture, shell};

/// Runs `git <args>` in `root` and returns its trimmed stdout.
///
/// Errors: git is missing, or exits non-zero (its stderr is included).
pub fn git(root: &Path, args: &[&str]) -> Result<String> {
    let sh = shell(root)?;
    capture(cmd!(sh, "git {args...}"))
}

/// `HEAD`'s full hash.
///
/// Errors: see [`git`].
pub fn head(root: &Path) -> Result<String> {
    git(root, &["rev-parse", "HEAD"])
}

/// `HEAD`'s full hash, with `-dirty` when tracked files changed or
/// untracked, non-ignored files exist (as Hubris records it).
///
/// Errors: see [`git`].
pub fn revision(root: &Path) -> Result<String> {
    let head = head(root)?;
    let dirty = !git(root, &["status", "--porcelain"])?.is_empty();
    Ok(if dirty { format!("{head}-dirty") } else { head })
}

/// Whether tracked files differ from `HEAD` (untracked files do not count).
///
/// Errors: see [`git`].
pub fn tracked_changes(root: &Path) -> Result<bool> {
    Ok(!git(root, &["status", "--porcelain", "--untracked-files=no"])?.is_empty())
}

/// Seconds since the Unix epoch for archive mtimes: `SOURCE_DATE_EPOCH`
/// (reproducible-builds.org) when set, else `HEAD`'s committer time.
///
/// Errors: the variable is not an integer, or git cannot tell.
pub fn source_date_epoch(root: &Path) -> Result<u64> {
    if let Ok(value) = std::env::var("SOURCE_DATE_EPOCH") {
        return value.trim().parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH=`{value}` is not a count of seconds since 1970")
        });
    }
    let time = git(root, &["log", "-1", "--format=%ct", "HEAD"])?;
    time.parse()
        .with_context(|| format!("git printed `{time}` as HEAD's commit time"))
}

/// `v*` tags that point at `HEAD`.
///
/// Errors: see [`git`].
pub fn tags_at_head(root: &Path) -> Result<Vec<String>> {
    Ok(git(root, &["tag", "--points-at", "HEAD", "--list", "v*"])?
        .lines()
        .map(str::to_string)
        .collect())
}

/// The newest `v*` tag reachable from `HEAD` that does not point at `HEAD`
/// itself: where release notes start. `None` when there is none.
///
/// Errors: see [`git`].
pub fn previous_tag(root: &Path) -> Result<Option<String>> {
    let at_head = tags_at_head(root)?;
    let mut args = vec!["describe", "--tags", "--abbrev=0", "--match", "v[0-9]*"];
    for t in &at_head {
        args.extend(["--exclude", t.as_str()]);
    }
    args.push("HEAD");
    // describe fails exactly when no such tag exists.
    Ok(git(root, &args).ok())
}

/// The working tree's files, `/`-separated and relative to `root`: what git
/// tracks plus untracked files it does not ignore. `None` outside a checkout.
pub fn files(root: &Path) -> Option<Vec<String>> {
    let sh = shell(root).ok()?;
    let out = cmd!(sh, "git ls-files -z --cached --others --exclude-standard")
        .quiet()
        .ignore_stderr()
        .output()
        .ok()?;
    Some(
        out.stdout
            .split(|&b| b == 0)
            .filter(|f| !f.is_empty())
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect(),
    )
}
