//! SIGINT, SIGTERM and SIGHUP to `cargo xtask ci`. Every step command leads
//! a process group of its own, so a signal sent to ci alone would otherwise
//! leave the steps (and their QEMUs) running. On Unix one thread takes the
//! three signals (signal-hook's iterator: handlers, not a signal mask, so
//! step commands start with the usual dispositions and mask), forwards the
//! signal to the process group of every running step command, SIGKILLs the
//! groups still there after [`GRACE`] (at once on a second signal), and
//! records what it interrupted.
//! The runner then starts no further command, waits for the running one,
//! writes its reports and exits 130.

use anyhow::{Result, bail};
use std::collections::BTreeMap;
use std::process::Child;
use std::sync::{Condvar, Mutex, MutexGuard};

/// How long step commands get to exit after the forwarded signal; only
/// Unix forwards signals.
#[cfg(unix)]
pub const GRACE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Default)]
struct State {
    /// Running step commands: pid (= process group) → what it runs.
    running: BTreeMap<u32, String>,
    /// The first signal received, e.g. `SIGTERM`.
    signal: Option<&'static str>,
    /// One line per step command the signal reached.
    interrupted: Vec<String>,
}

static STATE: Mutex<State> = Mutex::new(State {
    running: BTreeMap::new(),
    signal: None,
    interrupted: Vec::new(),
});
/// Notified whenever a step command is reaped.
static REAPED: Condvar = Condvar::new();

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The first signal received, if any (`SIGINT`, `SIGTERM` or `SIGHUP`).
pub fn signal() -> Option<&'static str> {
    state().signal
}

/// What the signal interrupted, one line per step command.
pub fn interrupted() -> Vec<String> {
    state().interrupted.clone()
}

/// Starts a step command through `spawn` and registers it as `label`,
/// unless a signal already arrived. The registry lock is held across the
/// spawn, so a signal either reaches the new command or comes before it.
///
/// Errors: a signal arrived, or `spawn` failed.
pub fn spawn(label: &str, spawn: impl FnOnce() -> std::io::Result<Child>) -> Result<Child> {
    let mut st = state();
    if let Some(sig) = st.signal {
        bail!("not started: ci was interrupted by {sig}");
    }
    let child = spawn()?;
    st.running.insert(child.id(), label.to_owned());
    Ok(child)
}

/// Forgets a step command once it has been reaped.
pub fn reaped(pid: u32) {
    state().running.remove(&pid);
    REAPED.notify_all();
}

#[cfg(unix)]
mod unix {
    use super::*;
    use anyhow::Context;
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    fn send(pgid: u32, signal: Signal) {
        if let Ok(pgid) = i32::try_from(pgid) {
            // The group may be gone already; nothing else to do then.
            let _ = killpg(Pid::from_raw(pgid), signal);
        }
    }

    /// Installs the handlers and starts the thread that takes the signals.
    ///
    /// Errors: a handler cannot be installed or the thread cannot start.
    pub fn install() -> Result<()> {
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
            .context("cannot handle SIGINT, SIGTERM and SIGHUP")?;
        std::thread::Builder::new()
            .name("ci-signals".into())
            .spawn(move || {
                for raw in signals.forever() {
                    if let Ok(signal) = Signal::try_from(raw) {
                        forward(signal);
                    }
                }
            })
            .context("cannot start the signal thread")?;
        Ok(())
    }

    fn forward(signal: Signal) {
        let mut st = state();
        let first = st.signal.is_none();
        if first {
            st.signal = Some(signal.as_str());
        }
        let sent = if first { signal } else { Signal::SIGKILL };
        let running: Vec<(u32, String)> = st.running.iter().map(|(p, l)| (*p, l.clone())).collect();
        for (pid, label) in running {
            send(pid, sent);
            st.interrupted.push(format!(
                "{label} (pid {pid}): {} sent to its process group",
                sent.as_str()
            ));
        }
        drop(st);
        if first {
            std::thread::spawn(|| {
                let st = state();
                let (st, wait) = REAPED
                    .wait_timeout_while(st, GRACE, |s| !s.running.is_empty())
                    .unwrap_or_else(|e| e.into_inner());
                if wait.timed_out() {
                    for &pid in st.running.keys() {
                        send(pid, Signal::SIGKILL);
                    }
                }
            });
        }
    }
}

#[cfg(unix)]
pub use unix::install;

/// Elsewhere a console interrupt reaches every process attached to it.
#[cfg(not(unix))]
pub fn install() -> Result<()> {
    Ok(())
}
