//! The kernel's stack report: at exit, once its tasks have started, the
//! RTOS prints one console line per task (`kernel::rt::Kernel::exit`),
//!
//! ```text
//! @stack <task> <peak_bytes> <size_bytes>
//! ```
//!
//! the bytes of the task's stack ever used (the high-water mark of the
//! paint) and the stack's size. The numbers differ per board and profile,
//! so the runner takes these lines out of the console before the transcript
//! is matched; they become [`RunOutcome::stack`](super::RunOutcome).

use serde::{Deserialize, Serialize};

/// What starts a stack report line.
pub const PREFIX: &str = "@stack ";

/// One task's stack at the end of a run, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStack {
    pub task: String,
    /// Bytes ever used: from the top down to the lowest word that no longer
    /// holds the paint, guard words excluded.
    pub peak_bytes: u64,
    /// The declared stack, guard words included.
    pub size_bytes: u64,
}

/// The report in `line`, if it is a well-formed stack report line. The
/// numbers are the last two words, so a task name may hold spaces; a line
/// with the prefix but no numbers stays in the transcript, where it shows.
pub fn parse(line: &str) -> Option<TaskStack> {
    let rest = line.strip_prefix(PREFIX)?;
    let (rest, size) = rest.rsplit_once(' ')?;
    let (task, peak) = rest.rsplit_once(' ')?;
    Some(TaskStack {
        task: task.to_owned(),
        peak_bytes: peak.parse().ok()?,
        size_bytes: size.parse().ok()?,
    })
    .filter(|s| !s.task.is_empty() && s.peak_bytes <= s.size_bytes)
}

/// [`parse`] on one line of console bytes, without its `\n`; a `\r`
/// before it is ignored, and bytes that are not UTF-8 are no report.
pub fn parse_line(line: &[u8]) -> Option<TaskStack> {
    std::str::from_utf8(super::console::trim_cr(line))
        .ok()
        .and_then(parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_parse_and_others_do_not() {
        assert_eq!(
            parse("@stack monitor 248 1024"),
            Some(TaskStack {
                task: "monitor".into(),
                peak_bytes: 248,
                size_bytes: 1024
            })
        );
        assert_eq!(parse("@stack two words 8 16").unwrap().task, "two words");
        assert_eq!(parse_line(b"@stack a 8 16\r").unwrap().peak_bytes, 8);
        assert_eq!(parse_line(b"@stack a\xff 8 16"), None);
        for other in [
            "stack monitor 248 1024",
            "@stack monitor 248",
            "@stack  248 1024",
            "@stack m 2048 1024",
            "@stack m x 1024",
            "PASS sched",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }
}
