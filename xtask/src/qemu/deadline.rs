//! The timeout rule. A deadline counts the time QEMU could have run, not the
//! time the host made it wait, so a starved CI host does not produce false
//! timeouts:
//!
//! * Linux with scheduler statistics (`/proc/<pid>/task/*/schedstat`): QEMU
//!   times out when `wall − starved ≥ timeout`, where `starved` is the largest
//!   `run_delay` (nanoseconds a thread was runnable but waiting for a CPU)
//!   among QEMU's threads, i.e. the vCPU thread for a busy guest. An idle
//!   guest (WFI, no timer armed) is not runnable, so it is not starved and
//!   times out on wall time. Hard cap: `wall ≥ 3 × timeout`.
//! * Linux without schedstat: `cpu ≥ timeout` (user + system time from
//!   `/proc/<pid>/stat`), or `wall ≥ 2 × timeout` for a guest that sleeps.
//! * Elsewhere: `wall ≥ timeout`.

use std::time::Duration;

/// The shortest timeout a test may have (after `--timeout-multiplier`):
/// the deadline is polled every few milliseconds, so less cannot be met.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);
/// The longest: a day, far beyond any emulated test; more is a typo.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// `secs` seconds as a timeout.
///
/// Errors: `secs` is not a number of seconds from [`MIN_TIMEOUT`] to
/// [`MAX_TIMEOUT`]; the message gives the bounds.
pub fn timeout_from_secs(secs: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| (MIN_TIMEOUT..=MAX_TIMEOUT).contains(d))
        .ok_or_else(|| {
            format!(
                "{secs:?} is not a positive number of seconds from 1 ms (0.001) to 24 h (86400)"
            )
        })
}

/// What the host reports about a QEMU process at one instant.
// Only Linux has the accounting behind `Starved` and `Cpu`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    /// Largest per-thread `run_delay`.
    Starved(Duration),
    /// User + system CPU time of the process.
    Cpu(Duration),
    /// No per-process accounting available.
    WallOnly,
}

/// Takes a [`Sample`] of process `pid`.
pub fn sample(pid: u32) -> Sample {
    #[cfg(target_os = "linux")]
    {
        if let Some(d) = linux::max_run_delay(pid) {
            return Sample::Starved(d);
        }
        if let Some(c) = linux::cpu_time(pid) {
            return Sample::Cpu(c);
        }
    }
    let _ = pid;
    Sample::WallOnly
}

/// Whether the timeout has passed after `wall` of wall time, per the module
/// rule.
pub fn expired(timeout: Duration, wall: Duration, sample: Sample) -> bool {
    match sample {
        Sample::Starved(d) => wall.saturating_sub(d) >= timeout || wall >= timeout * 3,
        Sample::Cpu(c) => c >= timeout || wall >= timeout * 2,
        Sample::WallOnly => wall >= timeout,
    }
}

/// Wall time that may pass before [`expired`] can next become true: the
/// accounted time grows no faster than wall time, so sleeping this long never
/// overshoots the deadline. At least 5 ms, to bound the polling rate.
pub fn next_check(timeout: Duration, wall: Duration, sample: Sample) -> Duration {
    let used = match sample {
        Sample::Starved(d) => wall.saturating_sub(d).max(wall.saturating_sub(timeout * 2)),
        // Several threads can add CPU time faster than wall time passes.
        Sample::Cpu(c) => {
            let used = c.max(wall.saturating_sub(timeout));
            return timeout
                .saturating_sub(used)
                .clamp(Duration::from_millis(5), Duration::from_millis(100));
        }
        Sample::WallOnly => wall,
    };
    timeout.saturating_sub(used).max(Duration::from_millis(5))
}

/// The time the host made QEMU wait, for reports: zero without schedstat.
pub fn starved(sample: Sample) -> Duration {
    match sample {
        Sample::Starved(d) => d,
        _ => Duration::ZERO,
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::time::Duration;

    /// Largest `run_delay` (field 2 of `schedstat`, in ns) over all threads.
    pub fn max_run_delay(pid: u32) -> Option<Duration> {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        let mut max = None;
        for task in tasks.flatten() {
            let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
                continue;
            };
            if let Some(ns) = text
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
            {
                max = Some(max.unwrap_or(0).max(ns));
            }
        }
        max.map(Duration::from_nanos)
    }

    /// utime + stime (fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks).
    pub fn cpu_time(pid: u32) -> Option<Duration> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may contain spaces; fields are counted after it.
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
        (hz > 0).then(|| Duration::from_secs_f64(ticks as f64 / hz as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn starvation_extends_the_deadline() {
        assert!(!expired(10 * S, 11 * S, Sample::Starved(2 * S)));
        assert!(expired(10 * S, 12 * S, Sample::Starved(2 * S)));
        // An idle guest is never runnable: plain wall time.
        assert!(expired(10 * S, 10 * S, Sample::Starved(Duration::ZERO)));
        // Hard cap.
        assert!(expired(10 * S, 30 * S, Sample::Starved(29 * S)));
    }

    #[test]
    fn cpu_fallback_and_wall_only() {
        assert!(!expired(10 * S, 15 * S, Sample::Cpu(3 * S)));
        assert!(expired(10 * S, 15 * S, Sample::Cpu(10 * S)));
        assert!(expired(10 * S, 20 * S, Sample::Cpu(Duration::ZERO)));
        assert!(expired(10 * S, 10 * S, Sample::WallOnly));
        assert!(!expired(10 * S, 9 * S, Sample::WallOnly));
    }

    #[test]
    fn next_check_never_overshoots() {
        for (wall, sample) in [
            (11 * S, Sample::Starved(2 * S)),
            (25 * S, Sample::Starved(20 * S)),
            (15 * S, Sample::Cpu(3 * S)),
            (4 * S, Sample::WallOnly),
        ] {
            // With the sample unchanged, the deadline is not reached before
            // the next check.
            let next = wall + next_check(10 * S, wall, sample);
            assert!(!expired(10 * S, next - Duration::from_millis(1), sample));
            assert!(expired(10 * S, next, sample) || matches!(sample, Sample::Cpu(_)));
        }
    }

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(timeout_from_secs(2.5), Ok(Duration::from_millis(2500)));
        assert_eq!(timeout_from_secs(0.001), Ok(MIN_TIMEOUT));
        assert_eq!(timeout_from_secs(86400.0), Ok(MAX_TIMEOUT));
        for bad in [1e30, 1e-12, 0.0, -1.0, 86400.5, f64::NAN, f64::INFINITY] {
            let e = timeout_from_secs(bad).unwrap_err();
            assert!(
                e.contains("from 1 ms (0.001) to 24 h (86400)"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id());
        if cfg!(target_os = "linux") {
            assert!(!matches!(s, Sample::WallOnly), "{s:?}");
        }
    }
}
