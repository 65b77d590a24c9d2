//! Runs one ELF in QEMU: spawn it directly (no shell, no cargo) in its own
//! process group, stream the console, stop at the first verdict, end QEMU
//! and reap it. Also the verdict rules ([`expect`]), the console lines
//! ([`console`]), the kernel's stack report ([`stack`]), the deadline
//! ([`deadline`]) and the test manifest ([`manifest`]) that
//! `cargo xtask qemu` and the benches share.

pub mod console;
pub mod deadline;
pub mod expect;
pub mod manifest;
pub mod process;
pub mod stack;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::boards::Board;
use deadline::Sample;
use process::Qemu;

pub use expect::{Expectation, Verdict};

/// The per-image timeout when neither the manifest nor `--timeout` sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Time QEMU gets to exit by itself once a verdict is known from the console
/// (fault marker, diverging transcript), so the firmware's exit code is still
/// reported when it follows promptly.
pub const VERDICT_GRACE: Duration = Duration::from_millis(250);

/// How QEMU ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// QEMU exited by itself with this status: the firmware's semihosting
    /// SYS_EXIT_EXTENDED code (wrapped to 8 bits), or QEMU's own error.
    Exited(i32),
    /// QEMU died from a signal that the runner did not send.
    Signalled(i32),
    /// The deadline passed (see [`deadline`]); the runner ended QEMU.
    TimedOut,
    /// The console gave a verdict and QEMU did not exit within
    /// [`VERDICT_GRACE`]; the runner ended it.
    Stopped,
}

/// Everything one run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The guest's console lines (QEMU stdout), CRLF-normalised, without
    /// QEMU's own lines.
    pub console: Vec<String>,
    /// QEMU's own lines (its stderr, and noise filtered from stdout).
    pub qemu_messages: Vec<String>,
    /// The kernel's stack report, taken out of `console` (see [`stack`]);
    /// empty when the image started no task or did not reach its exit.
    pub stack: Vec<stack::TaskStack>,
    pub end: End,
    /// Why the console watcher stopped the run early, if it did.
    pub early_verdict: Option<String>,
    /// The timeout the run was held to.
    pub timeout: Duration,
    /// Spawn to verdict, QEMU reaped.
    pub wall: Duration,
    /// Time QEMU spent runnable but waiting for a CPU (Linux schedstat;
    /// zero elsewhere), by which the deadline was extended.
    pub starved: Duration,
}

impl RunOutcome {
    /// The exit code, if QEMU exited by itself.
    pub fn exit_code(&self) -> Option<i32> {
        match self.end {
            End::Exited(code) => Some(code),
            _ => None,
        }
    }

    /// The first fault marker line on the console.
    pub fn fault(&self) -> Option<&str> {
        self.console
            .iter()
            .find(|l| console::is_fault(l))
            .map(String::as_str)
    }

    /// The last `n` console lines (and QEMU messages after them).
    pub fn tail(&self, n: usize) -> Vec<String> {
        let mut lines: Vec<String> = self.console.iter().rev().take(n).rev().cloned().collect();
        lines.extend(self.qemu_messages.iter().map(|m| format!("[qemu] {m}")));
        lines
    }
}

/// What to run and how to watch it.
pub struct RunSpec<'a> {
    pub board: &'a Board,
    pub elf: &'a Path,
    /// Extra QEMU arguments, after the board's and before `-kernel`.
    pub extra_args: &'a [String],
    pub timeout: Duration,
    /// Called with each console line; `Some(reason)` is a verdict reached
    /// early, after which QEMU gets [`VERDICT_GRACE`] to exit.
    pub watch: &'a mut dyn FnMut(&str) -> Option<String>,
    /// Print console lines to stdout (and QEMU's to stderr) as they arrive.
    pub echo: bool,
    /// Names the run in interrupt messages, e.g. `lm3s6965evb/sched`.
    pub label: &'a str,
}

/// Runs `elf` on `board` with the default watch: a fault marker ends the run
/// (after [`VERDICT_GRACE`] for the exit code). Use [`RunOutcome::exit_code`]
/// and [`Expectation::judge`] for the verdict.
///
/// Errors: the ELF does not exist, or QEMU cannot be started (not installed).
pub fn run_elf(board: &Board, elf: &Path, timeout: Duration) -> Result<RunOutcome> {
    let mut watch = |line: &str| console::is_fault(line).then(|| format!("fault: {line}"));
    run(RunSpec {
        board,
        elf,
        extra_args: &[],
        timeout,
        watch: &mut watch,
        echo: false,
        label: &elf.display().to_string(),
    })
}

enum Event {
    Out(Vec<u8>),
    Err(Vec<u8>),
    Closed,
}

/// What the console has shown so far.
struct Console<'s, 'a> {
    spec: &'s mut RunSpec<'a>,
    lines: Vec<String>,
    qemu_messages: Vec<String>,
    stack: Vec<stack::TaskStack>,
    /// The early verdict and the instant QEMU's grace ends.
    early: Option<(String, Instant)>,
    open_pipes: u32,
}

impl Console<'_, '_> {
    fn handle(&mut self, event: Event) {
        match event {
            Event::Out(raw) => self.guest_line(console::normalise(&raw)),
            Event::Err(raw) => self.qemu_line(console::normalise(&raw)),
            Event::Closed => self.open_pipes = self.open_pipes.saturating_sub(1),
        }
    }

    fn guest_line(&mut self, line: String) {
        if console::is_qemu_noise(&line) {
            return self.qemu_line(line);
        }
        if self.spec.echo {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
        }
        if let Some(report) = stack::parse(&line) {
            return self.stack.push(report);
        }
        if self.early.is_none()
            && let Some(reason) = (self.spec.watch)(&line)
        {
            self.early = Some((reason, Instant::now() + VERDICT_GRACE));
        }
        self.lines.push(line);
    }

    fn qemu_line(&mut self, line: String) {
        if self.spec.echo {
            eprintln!("{line}");
        }
        self.qemu_messages.push(line);
    }
}

/// How the watch over a running QEMU ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Watched {
    /// Both pipes closed: QEMU is exiting.
    Closed,
    TimedOut,
    Stopped,
}

/// Runs one spec; see [`RunSpec`].
///
/// Errors: the ELF does not exist, QEMU cannot be started, or an interrupt
/// arrived before the spawn.
pub fn run(mut spec: RunSpec<'_>) -> Result<RunOutcome> {
    if !spec.elf.is_file() {
        bail!("ELF missing: {} does not exist", spec.elf.display());
    }
    let start = Instant::now();
    let (mut qemu, rx) = spawn(&spec)?;
    let timeout = spec.timeout;
    let mut console = Console {
        spec: &mut spec,
        lines: Vec::new(),
        qemu_messages: Vec::new(),
        stack: Vec::new(),
        early: None,
        open_pipes: 2,
    };
    let (mut watched, last_sample) = watch(&mut console, &rx, &qemu, start, timeout);
    let status = match watched {
        Watched::Closed => match qemu.wait_for(left_until(start, timeout).max(process::TERM_GRACE))
        {
            Ok(Some(s)) => Ok(s),
            Ok(None) => {
                watched = Watched::TimedOut;
                qemu.terminate()
            }
            Err(e) => Err(e),
        },
        // SIGTERM makes QEMU exit 0, so only a natural exit has a meaningful code.
        Watched::TimedOut | Watched::Stopped => qemu.terminate(),
    }
    .context("waiting for QEMU")?;
    let wall = start.elapsed();
    // QEMU is gone; its pipes are closed. Collect what the readers still hold.
    while console.open_pipes > 0 {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => console.handle(event),
            Err(_) => break,
        }
    }
    let end = match watched {
        Watched::TimedOut => End::TimedOut,
        Watched::Stopped => End::Stopped,
        Watched::Closed => match status.code() {
            Some(code) => End::Exited(code),
            None => End::Signalled(signal_of(&status)),
        },
    };
    Ok(RunOutcome {
        console: console.lines,
        qemu_messages: console.qemu_messages,
        stack: console.stack,
        end,
        early_verdict: console.early.map(|(r, _)| r),
        timeout,
        wall,
        starved: deadline::starved(last_sample),
    })
}

fn left_until(start: Instant, timeout: Duration) -> Duration {
    timeout.saturating_sub(start.elapsed())
}

/// Starts QEMU for `spec` with both pipes forwarded as [`Event`]s.
fn spawn(spec: &RunSpec<'_>) -> Result<(Qemu, mpsc::Receiver<Event>)> {
    let mut cmd = Command::new(&spec.board.qemu);
    cmd.args(&spec.board.args)
        .args(spec.extra_args)
        .arg("-kernel")
        .arg(spec.elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut qemu = process::spawn(&mut cmd, spec.label).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "QEMU missing: `{}` not found on PATH (run `cargo xtask setup`)",
                spec.board.qemu
            )
        } else {
            anyhow::Error::new(e).context(format!("cannot start `{}`", spec.board.qemu))
        }
    })?;
    let (tx, rx) = mpsc::channel();
    let out = qemu.child.stdout.take().context("QEMU stdout")?;
    let err = qemu.child.stderr.take().context("QEMU stderr")?;
    pump(out, tx.clone(), Event::Out);
    pump(err, tx, Event::Err);
    Ok((qemu, rx))
}

/// Feeds console events until both pipes close, the deadline passes, or the
/// grace after an early verdict ends.
fn watch(
    console: &mut Console<'_, '_>,
    rx: &mpsc::Receiver<Event>,
    qemu: &Qemu,
    start: Instant,
    timeout: Duration,
) -> (Watched, Sample) {
    let mut last_sample = Sample::WallOnly;
    while console.open_pipes > 0 {
        let wall = start.elapsed();
        let mut wait = timeout.saturating_sub(wall);
        if wait.is_zero() {
            last_sample = deadline::sample(qemu.pid());
            if deadline::expired(timeout, wall, last_sample) {
                return (Watched::TimedOut, last_sample);
            }
            wait = deadline::next_check(timeout, wall, last_sample);
        }
        if let Some((_, until)) = &console.early {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (Watched::Stopped, last_sample);
            }
            wait = wait.min(left);
        }
        match rx.recv_timeout(wait) {
            Ok(event) => console.handle(event),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    (Watched::Closed, last_sample)
}

/// Forwards `reader`'s lines as events, then [`Event::Closed`] at EOF.
fn pump<R: Read + Send + 'static>(reader: R, tx: mpsc::Sender<Event>, wrap: fn(Vec<u8>) -> Event) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(wrap(line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Event::Closed);
    });
}

#[cfg(unix)]
fn signal_of(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.signal().unwrap_or(0)
}

#[cfg(not(unix))]
fn signal_of(_status: &std::process::ExitStatus) -> i32 {
    0
}
