//! QEMU child processes: each in its own process group with a parent-death
//! signal, ended by group signals, always reaped, and listed in a registry so
//! that SIGINT/SIGTERM to xtask can end every QEMU still running. Waits are
//! bounded with wait-timeout.

// `pre_exec` is unsafe: the closure runs between fork and exec. It is the
// only unsafe code in xtask; everything else goes through nix's safe calls.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::io;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::Duration;

use wait_timeout::ChildExt;

/// Running QEMU processes: pid → what it runs (e.g. `lm3s6965evb/sched`).
static LIVE: Mutex<BTreeMap<u32, String>> = Mutex::new(BTreeMap::new());
/// Set once an interrupt arrived: no new QEMU may start after that.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// How long QEMU gets between SIGTERM and SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(1);

fn live() -> MutexGuard<'static, BTreeMap<u32, String>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A spawned QEMU. Dropping it without [`Qemu::wait_for`] or [`Qemu::terminate`]
/// kills its process group and reaps it, so an early return or a panic never
/// leaves QEMU behind.
pub struct Qemu {
    pub child: Child,
    status: Option<ExitStatus>,
}

/// Spawns `cmd` in a new process group (its pgid is its pid) with
/// PR_SET_PDEATHSIG = SIGKILL on Linux, and registers it under `label`.
///
/// Errors: the program cannot be started, or an interrupt already arrived
/// (`ErrorKind::Interrupted`).
pub fn spawn(cmd: &mut Command, label: &str) -> io::Result<Qemu> {
    isolate(cmd);
    // Holding the registry lock across the spawn means an interrupt handler
    // either sees this child or runs before it exists.
    let mut live = live();
    if STOPPING.load(Ordering::SeqCst) {
        return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
    }
    let child = cmd.spawn()?;
    live.insert(child.id(), label.to_owned());
    Ok(Qemu {
        child,
        status: None,
    })
}

#[cfg(unix)]
fn isolate(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    {
        let parent = nix::unistd::getpid();
        // SAFETY: the closure runs between fork and exec and only makes
        // async-signal-safe calls (prctl, getppid) without allocating.
        unsafe {
            cmd.pre_exec(move || {
                // The signal follows the death of the spawning *thread*; the
                // runner waits for QEMU in the thread that spawned it.
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
                // xtask died before the prctl took effect.
                if nix::unistd::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(nix::libc::ESRCH));
                }
                Ok(())
            });
        }
    }
}

#[cfg(not(unix))]
fn isolate(_cmd: &mut Command) {}

/// Lets the child of `cmd` inherit `fds`, which the parent holds with
/// close-on-exec set (as std opens every pipe): the flag is cleared in the
/// child only, between fork and exec, so no other process started
/// meanwhile inherits them. Each fd must be above 2 (stdio is set up
/// before this runs).
#[cfg(unix)]
pub fn inherit_fds(cmd: &mut Command, fds: Vec<std::os::fd::RawFd>) {
    use nix::libc::{F_SETFD, fcntl};
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls
    // fcntl(2), which is async-signal-safe, on descriptors the parent
    // keeps open until the spawn returns; it does not allocate.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                if fcntl(fd, F_SETFD, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

impl Qemu {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Non-blocking: the exit status once QEMU has exited (and is reaped).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// Waits up to `limit` for QEMU to exit, and reaps it; `None` when it is
    /// still running.
    pub fn wait_for(&mut self, limit: Duration) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.wait_timeout(limit)?;
        }
        Ok(self.status)
    }

    /// SIGTERM to the process group, SIGKILL to the group after
    /// [`TERM_GRACE`], then reap. Returns the exit status.
    pub fn terminate(&mut self) -> io::Result<ExitStatus> {
        if let Some(s) = self.try_wait()? {
            return Ok(s);
        }
        signal_group(self.pid(), Signal::Term, &mut self.child);
        if let Some(s) = self.wait_for(TERM_GRACE)? {
            return Ok(s);
        }
        self.kill()
    }

    /// SIGKILL to the process group, then reap within [`TERM_GRACE`]: the
    /// kernel ends a killed process at once.
    ///
    /// Errors: waiting fails, or QEMU is still there after the grace (a
    /// process stuck in the kernel), which is then left to init.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        if let Some(s) = self.try_wait()? {
            return Ok(s);
        }
        signal_group(self.pid(), Signal::Kill, &mut self.child);
        self.wait_for(TERM_GRACE)?.ok_or_else(|| {
            io::Error::other(format!(
                "QEMU pid {} did not exit {} s after SIGKILL",
                self.pid(),
                TERM_GRACE.as_secs()
            ))
        })
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.kill();
        live().remove(&self.child.id());
    }
}

#[derive(Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

#[cfg(unix)]
fn signal_group(pgid: u32, signal: Signal, _child: &mut Child) {
    kill_group(pgid, signal);
}

#[cfg(not(unix))]
fn signal_group(_pgid: u32, _signal: Signal, child: &mut Child) {
    let _ = child.kill();
}

#[cfg(unix)]
fn kill_group(pgid: u32, signal: Signal) {
    use nix::sys::signal::{Signal as Sig, killpg};
    let sig = match signal {
        Signal::Term => Sig::SIGTERM,
        Signal::Kill => Sig::SIGKILL,
    };
    if let Ok(pgid) = i32::try_from(pgid) {
        // The group may be gone already; there is nothing else to do then.
        let _ = killpg(nix::unistd::Pid::from_raw(pgid), sig);
    }
}

#[cfg(not(unix))]
fn kill_group(pid: u32, _signal: Signal) {
    let _ = Command::new("taskkill")
        .args(["/F", "/T", "/PID", &pid.to_string()])
        .status();
}

/// Installs the SIGINT/SIGTERM/SIGHUP handler (once per process) that kills
/// every registered QEMU, prints what was interrupted, and exits 130. If
/// another handler is already installed, that one should call
/// [`kill_all`]; PR_SET_PDEATHSIG still ends QEMU when xtask dies.
pub fn install_interrupt_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            kill_all();
            std::process::exit(130);
        });
    });
}

/// Stops new spawns, SIGKILLs every registered QEMU group, reaps what it can
/// within 0.5 s, and prints one `interrupted:` line per run to stderr.
pub fn kill_all() {
    STOPPING.store(true, Ordering::SeqCst);
    // The lock is kept: runner threads block in `Drop` instead of racing us.
    let live = live();
    if live.is_empty() {
        eprintln!("interrupted: no QEMU was running");
    }
    for (&pid, label) in live.iter() {
        kill_group(pid, Signal::Kill);
        eprintln!("interrupted: {label} (QEMU pid {pid} killed)");
    }
    reap(live.keys().copied().collect(), Duration::from_millis(500));
    std::mem::forget(live);
}

/// Reaps the given children within `limit`; a runner thread that reaped one
/// first makes waitpid fail with ECHILD, which also ends the wait for it.
#[cfg(unix)]
fn reap(mut pending: Vec<u32>, limit: Duration) {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    use std::time::Instant;
    let until = Instant::now() + limit;
    while !pending.is_empty() && Instant::now() < until {
        pending.retain(|&pid| {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            matches!(
                waitpid(pid, Some(WaitPidFlag::WNOHANG)),
                Ok(WaitStatus::StillAlive)
            )
        });
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(not(unix))]
fn reap(_pending: Vec<u32>, _limit: Duration) {}
