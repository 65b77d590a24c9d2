//! Fault points: a test hook at every rename or persist of an output, and
//! halfway through every atomic write, where the process can be made to die
//! as `kill -9` would kill it. The fault-injection tests use them to check
//! that no file under a final name is ever partial and that the previous
//! good output survives a crash at any of these instants.
//!
//! Inert unless one of these variables is set (one lookup per process):
//!
//! - `XTASK_FAULT=<point>` or `<point>:<file name>`: SIGKILL this process
//!   the first time it reaches `<point>` (for a destination with that file
//!   name);
//! - `XTASK_FAULT_TRACE=<file>`: append `<point> <file name>` to `<file>`
//!   for every point reached (child processes inherit it), which tells a
//!   test where a command writes;
//! - `XTASK_FAULT_NO_EXCHANGE=1`: publish a release with the portable
//!   two-rename sequence instead of Linux's `renameat2(RENAME_EXCHANGE)`,
//!   so that path is tested on Linux too.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

/// Every fault point; each names exactly one call site in xtask's sources
/// (the tidy tests check that every rename or persist has one).
pub const POINTS: &[&str] = &[
    // `workspace::write_atomic`: half of the bytes written, then just
    // before the rename.
    "atomic-write",
    "atomic-persist",
    // A built image copied to `<target_dir>/images/…`.
    "image-copy",
    // nvcc's fatbin moved into place.
    "fatbin-persist",
    // A ci step's log moved to `reports/logs/<step>.log`.
    "ci-log-persist",
    // The release: its folder moved to `--out` (first release), swapped
    // with the previous one, or, without the swap, the previous one moved
    // aside and the new one moved in; the previous one removed; and a
    // previous release restored from `.<out>.old` after a crash.
    "release-first",
    "release-exchange",
    "release-move-aside",
    "release-move-in",
    "release-remove-old",
    "release-restore",
];

pub const FAULT_ENV: &str = "XTASK_FAULT";
pub const TRACE_ENV: &str = "XTASK_FAULT_TRACE";
pub const NO_EXCHANGE_ENV: &str = "XTASK_FAULT_NO_EXCHANGE";

struct Hook {
    /// The point, and the destination file name if one was given.
    fault: Option<(String, Option<String>)>,
    trace: Option<std::path::PathBuf>,
}

fn hook() -> &'static Hook {
    static HOOK: OnceLock<Hook> = OnceLock::new();
    HOOK.get_or_init(|| Hook {
        fault: std::env::var(FAULT_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| match v.split_once(':') {
                Some((p, f)) => (p.to_owned(), Some(f.to_owned())),
                None => (v, None),
            }),
        trace: std::env::var_os(TRACE_ENV)
            .filter(|v| !v.is_empty())
            .map(Into::into),
    })
}

/// Marks fault point `name` (one of [`POINTS`]) before writing or renaming
/// `target`: records it when tracing, and dies here when `XTASK_FAULT`
/// names it.
pub fn point(name: &'static str, target: &Path) {
    let hook = hook();
    if hook.fault.is_none() && hook.trace.is_none() {
        return;
    }
    debug_assert!(POINTS.contains(&name), "unknown fault point {name}");
    let file = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(trace) = &hook.trace
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(trace)
    {
        // One write per line, so the lines of several processes do not mix.
        let _ = f.write_all(format!("{name} {file}\n").as_bytes());
    }
    if let Some((point, only)) = &hook.fault
        && point == name
        && only.as_ref().is_none_or(|o| *o == file)
    {
        die();
    }
}

/// Whether `XTASK_FAULT_NO_EXCHANGE` asks for the portable release publish.
pub fn no_exchange() -> bool {
    std::env::var_os(NO_EXCHANGE_ENV).is_some_and(|v| !v.is_empty())
}

#[cfg(unix)]
fn die() -> ! {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    std::process::abort()
}

#[cfg(not(unix))]
fn die() -> ! {
    std::process::abort()
}
