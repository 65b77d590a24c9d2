//! How much of a failure the terminal gets: console lines are cut at
//! [`LINE_BYTES`], and a diff at [`DIFF_LINES`] lines or [`DIFF_BYTES`]
//! bytes, the whole of it written to a file whose path is printed instead.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::workspace::write_atomic;

/// How much of a diff the terminal gets; the rest is in the diff's file.
const DIFF_LINES: usize = 200;
const DIFF_BYTES: usize = 64 * 1024;
/// Longest console line printed, in bytes; longer ones are cut.
pub const LINE_BYTES: usize = 2000;

/// Writes the whole `diff` to `<reports>/diffs/<board>/<name>.diff`
/// atomically and returns that path.
///
/// Errors: the file cannot be written.
pub fn write_diff(reports: &Path, board: &str, name: &str, diff: &str) -> Result<PathBuf> {
    let path = reports
        .join("diffs")
        .join(board)
        .join(format!("{name}.diff"));
    write_atomic(&path, diff.as_bytes())?;
    Ok(path)
}

/// `line`, cut to at most `max` bytes on a character boundary.
pub fn clip(line: &str, max: usize) -> String {
    if line.len() <= max {
        return line.to_owned();
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} … ({} more bytes)", &line[..end], line.len() - end)
}

/// The lines of `diff` to print: the first [`DIFF_LINES`] lines or
/// [`DIFF_BYTES`] bytes, then where the whole diff is (`path`).
pub fn bounded_diff(diff: &str, path: &Path) -> Vec<String> {
    let mut shown = Vec::new();
    let mut budget = DIFF_BYTES;
    for (n, line) in diff.lines().enumerate() {
        if n == DIFF_LINES || budget == 0 {
            let left = diff.lines().count() - n;
            shown.push(format!(
                "… {left} more lines; the whole diff is in {}",
                path.display()
            ));
            return shown;
        }
        let line = clip(line, budget.min(LINE_BYTES));
        budget = budget.saturating_sub(line.len() + 1);
        shown.push(line);
    }
    shown.push(format!("(also in {})", path.display()));
    shown
}
