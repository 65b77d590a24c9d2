//! What a release records about its commit, read with the `git` CLI from
//! the workspace root.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Runs `git <args>` in `root` and returns its trimmed stdout.
///
/// Errors: git is missing, or exits non-zero (its stderr is included).
pub fn git(root: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(root)
        .args(args)
        .output()
        .context("cannot run git; install it or set SOURCE_DATE_EPOCH")?;
    if !out.status.success() {
        bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `HEAD`'s full hash, with `-dirty` when tracked files changed or
/// untracked, non-ignored files exist (as Hubris records it).
pub fn revision(root: &Path) -> Result<String> {
    let head = git(root, &["rev-parse", "HEAD"])?;
    let dirty = !git(root, &["status", "--porcelain"])?.is_empty();
    Ok(if dirty { format!("{head}-dirty") } else { head })
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
pub fn tags_at_head(root: &Path) -> Result<Vec<String>> {
    Ok(git(root, &["tag", "--points-at", "HEAD", "--list", "v*"])?
        .lines()
        .map(str::to_string)
        .collect())
}

/// The newest `v*` tag reachable from `HEAD` that does not point at `HEAD`
/// itself: where the notes start. `None` when there is none.
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
