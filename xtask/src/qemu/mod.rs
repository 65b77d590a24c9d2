//! Runs one ELF in QEMU: spawn it directly (no shell, no cargo) in its own
//! process group, capture each console stream byte for byte on a pipe of
//! its own (`capture`), decode defmt ([`defmt`]), stop at the first
//! verdict, end QEMU and reap it. Also the verdict rules ([`expect`]), the
//! streams and lines ([`console`]), the kernel's stack report ([`stack`]),
//! the deadline ([`deadline`]) and the test manifest ([`manifest`]) that
//! `cargo xtask qemu` and the benches share.

mod capture;
pub mod console;
pub mod deadline;
pub mod defmt;
pub mod expect;
pub mod manifest;
pub mod process;
pub mod stack;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use regex::bytes::Regex;

use crate::boards::Board;
use capture::{Event, Pipe, Source};
use console::{Console, FailMarkers, Line, LineBuffer, Stream};
use deadline::Sample;

pub use expect::{Expectation, Verdict};

/// The per-image timeout when neither the manifest nor `--timeout` sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Time QEMU gets to exit by itself once a verdict is known from the console
/// (failure marker, diverging transcript), so the firmware's exit code is
/// still reported when it follows promptly.
pub const VERDICT_GRACE: Duration = Duration::from_millis(250);

/// How long the runner waits, after QEMU has exited, for the rest of its
/// output and the decoders' (the pipes close when they are done).
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

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
    /// Each stream's bytes exactly as QEMU wrote them: [`Stream::Uart`],
    /// [`Stream::Semihosting`], and QEMU's whole stderr under
    /// [`Stream::GuestStderr`] (the guest's lines and QEMU's own).
    pub raw: BTreeMap<Stream, Vec<u8>>,
    /// The text of each stream decoded as defmt: one line per frame, as
    /// `xtask-defmt` prints it.
    pub decoded: BTreeMap<Stream, Vec<u8>>,
    /// Every line of every stream in the order the runner received them
    /// (decoded text for defmt streams), each with its stream.
    pub log: Vec<Line>,
    /// What the defmt decoder reported: frames that did not decode, or why
    /// it could not run.
    pub defmt_errors: Vec<String>,
    /// The kernel's stack report, taken out of the log and of what is
    /// compared (see [`stack`]); empty when the image started no task or
    /// did not reach its exit.
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

    /// A console stream's bytes: the decoded text for a defmt stream, else
    /// the raw bytes.
    fn stream_bytes(&self, stream: Stream) -> &[u8] {
        self.decoded
            .get(&stream)
            .or_else(|| self.raw.get(&stream))
            .map_or(&[], Vec::as_slice)
    }

    /// A console stream's lines as they are compared, each with its `\n`
    /// (the last may lack one): without the kernel's stack report lines,
    /// whose numbers differ per board and profile ([`stack`]).
    fn compared_lines(&self, stream: Stream) -> impl Iterator<Item = &[u8]> {
        self.stream_bytes(stream)
            .split_inclusive(|&b| b == b'\n')
            .filter(|l| stack::parse_line(without_newline(l)).is_none())
    }

    /// The bytes `console` compares: its streams concatenated, without
    /// stack report lines.
    pub fn console_bytes(&self, console: Console) -> Vec<u8> {
        console
            .streams()
            .iter()
            .flat_map(|&s| self.compared_lines(s))
            .flatten()
            .copied()
            .collect()
    }

    /// The lines `console` compares: each stream's lines in turn, without
    /// their `\n` and without stack report lines.
    pub fn console_lines(&self, console: Console) -> Vec<&[u8]> {
        console
            .streams()
            .iter()
            .flat_map(|&s| self.compared_lines(s))
            .map(without_newline)
            .collect()
    }

    /// The UART's and semihosting's lines as text, `\r` removed and bytes
    /// that are not UTF-8 replaced: for callers that parse figures.
    pub fn console_text(&self) -> Vec<String> {
        self.console_lines(Console::Both)
            .into_iter()
            .map(|l| String::from_utf8_lossy(console::trim_cr(l)).into_owned())
            .collect()
    }

    /// The first guest line that one of `markers` matches, and the marker.
    pub fn marker<'m>(&self, markers: &'m FailMarkers) -> Option<(&Line, &'m Regex)> {
        self.log
            .iter()
            .filter(|l| l.stream.is_guest())
            .find_map(|l| markers.find(l.normalised()).map(|re| (l, re)))
    }

    /// The last `n` lines of the log, each labelled with its stream, after
    /// any earlier lines from QEMU or the decoder (which are few and say
    /// why a run went wrong).
    pub fn tail(&self, n: usize) -> Vec<String> {
        let from = self.log.len().saturating_sub(n);
        let notes = self.log[..from].iter().filter(|l| !l.stream.is_guest());
        notes
            .chain(&self.log[from..])
            .map(Line::to_string)
            .collect()
    }
}

/// Decodes these console streams as defmt with the decoder at `tool`.
#[derive(Debug, Clone, Copy)]
pub struct DefmtDecode<'a> {
    /// The `xtask-defmt` executable ([`defmt::decoder`]).
    pub tool: &'a Path,
    pub streams: &'a [Stream],
}

/// What to run and how to watch it.
pub struct RunSpec<'a> {
    pub board: &'a Board,
    pub elf: &'a Path,
    /// Extra QEMU arguments, after the board's and before `-kernel`.
    pub extra_args: &'a [String],
    pub timeout: Duration,
    /// Streams to decode as defmt.
    pub defmt: Option<DefmtDecode<'a>>,
    /// Called with each line of each stream; `Some(reason)` is a verdict
    /// reached early, after which QEMU gets [`VERDICT_GRACE`] to exit.
    pub watch: &'a mut dyn FnMut(&Line) -> Option<String>,
    /// Echo as it arrives: these console streams' bytes (decoded text for
    /// defmt streams) to stdout, QEMU's stderr to stderr.
    pub echo: Option<Console>,
    /// Names the run in interrupt messages, e.g. `lm3s6965evb/sched`.
    pub label: &'a str,
}

/// Runs `elf` on `board` as text, with the default failure markers
/// ([`FailMarkers::defaults`]) ending the run (after [`VERDICT_GRACE`] for
/// the exit code). Use [`RunOutcome::exit_code`] and [`Expectation::judge`]
/// for the verdict.
///
/// Errors: the ELF does not exist, or QEMU cannot be started (not installed).
pub fn run_elf(board: &Board, elf: &Path, timeout: Duration) -> Result<RunOutcome> {
    let expectation = Expectation::exit_zero(FailMarkers::defaults());
    let mut watch = expectation.watcher();
    run(RunSpec {
        board,
        elf,
        extra_args: &[],
        timeout,
        defmt: None,
        watch: &mut watch,
        echo: None,
        label: &elf.display().to_string(),
    })
}

/// What the streams have shown so far.
struct Collector<'s, 'a> {
    spec: &'s mut RunSpec<'a>,
    raw: BTreeMap<Stream, Vec<u8>>,
    decoded: BTreeMap<Stream, Vec<u8>>,
    buffers: BTreeMap<Source, LineBuffer>,
    log: Vec<Line>,
    defmt_errors: Vec<String>,
    stack: Vec<stack::TaskStack>,
    /// The early verdict and the instant QEMU's grace ends.
    early: Option<(String, Instant)>,
    open_pipes: usize,
}

impl Collector<'_, '_> {
    fn handle(&mut self, event: Event) {
        match event {
            Event::Data(source, bytes) => self.data(source, &bytes),
            Event::Closed(source) => {
                if let Some(last) = self.buffers.get_mut(&source).and_then(LineBuffer::finish) {
                    self.line(source, last);
                }
                self.open_pipes = self.open_pipes.saturating_sub(1);
            }
        }
    }

    fn data(&mut self, source: Source, bytes: &[u8]) {
        match source {
            Source::Qemu(pipe) => {
                let stream = pipe.stream();
                self.raw.entry(stream).or_default().extend_from_slice(bytes);
                let defmt = self.spec.defmt.is_some_and(|d| d.streams.contains(&stream));
                if pipe != Pipe::Stderr && defmt {
                    // Raw frames: their lines come from the decoder.
                    return;
                }
            }
            Source::Decoded(stream) => {
                self.decoded
                    .entry(stream)
                    .or_default()
                    .extend_from_slice(bytes);
            }
            Source::DecoderErr(_) => {}
        }
        self.echo(source, bytes);
        let lines = self.buffers.entry(source).or_default().push(bytes);
        for line in lines {
            self.line(source, line);
        }
    }

    fn echo(&self, source: Source, bytes: &[u8]) {
        use std::io::Write;
        let Some(console) = self.spec.echo else {
            return;
        };
        let on_console = |stream| console.streams().contains(&stream);
        // A closed stdout (`| head`) must not end the run, so write errors
        // are ignored.
        let _ = match source {
            Source::Qemu(Pipe::Stderr) => std::io::stderr().lock().write_all(bytes),
            Source::Qemu(pipe) if on_console(pipe.stream()) => write_out(bytes),
            Source::Decoded(stream) if on_console(stream) => write_out(bytes),
            _ => Ok(()),
        };
    }

    fn line(&mut self, source: Source, bytes: Vec<u8>) {
        let stream = match source {
            Source::Qemu(Pipe::Stderr) if console::is_qemu_message(&bytes) => Stream::Qemu,
            Source::Qemu(pipe) => pipe.stream(),
            Source::Decoded(stream) => stream,
            Source::DecoderErr(stream) => {
                let message = format!(
                    "{} (on {})",
                    String::from_utf8_lossy(&bytes),
                    stream.label()
                );
                if self.spec.echo.is_some() {
                    eprintln!("[defmt] {message}");
                }
                self.defmt_errors.push(message.clone());
                Stream::Defmt
            }
        };
        if Console::Both.streams().contains(&stream)
            && let Some(report) = stack::parse_line(&bytes)
        {
            return self.stack.push(report);
        }
        let line = Line { stream, bytes };
        if self.early.is_none()
            && let Some(reason) = (self.spec.watch)(&line)
        {
            self.early = Some((reason, Instant::now() + VERDICT_GRACE));
        }
        self.log.push(line);
    }
}

fn without_newline(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

fn write_out(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// How the watch over a running QEMU ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Watched {
    /// Every pipe closed: QEMU is exiting.
    Closed,
    TimedOut,
    Stopped,
}

/// Runs one spec; see [`RunSpec`].
///
/// Errors: the ELF does not exist, QEMU or the decoder cannot be started,
/// or an interrupt arrived before the spawn.
pub fn run(mut spec: RunSpec<'_>) -> Result<RunOutcome> {
    if !spec.elf.is_file() {
        bail!("ELF missing: {} does not exist", spec.elf.display());
    }
    let start = Instant::now();
    let capture::Started {
        mut qemu,
        decoders,
        rx,
        pipes,
    } = capture::start(&spec)?;
    let timeout = spec.timeout;
    let mut collector = Collector {
        spec: &mut spec,
        raw: BTreeMap::new(),
        decoded: BTreeMap::new(),
        buffers: BTreeMap::new(),
        log: Vec::new(),
        defmt_errors: Vec::new(),
        stack: Vec::new(),
        early: None,
        open_pipes: pipes,
    };
    let (mut watched, last_sample) = watch(&mut collector, &rx, &qemu, start, timeout);
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
    drain(&mut collector, &rx);
    drop(decoders);
    let end = match watched {
        Watched::TimedOut => End::TimedOut,
        Watched::Stopped => End::Stopped,
        Watched::Closed => match status.code() {
            Some(code) => End::Exited(code),
            None => End::Signalled(signal_of(&status)),
        },
    };
    Ok(RunOutcome {
        raw: collector.raw,
        decoded: collector.decoded,
        log: collector.log,
        defmt_errors: collector.defmt_errors,
        stack: collector.stack,
        end,
        early_verdict: collector.early.map(|(r, _)| r),
        timeout,
        wall,
        starved: deadline::starved(last_sample),
    })
}

/// QEMU is gone and its pipes are closed; collects what the readers and
/// the decoders still hold.
fn drain(collector: &mut Collector<'_, '_>, rx: &mpsc::Receiver<Event>) {
    let until = Instant::now() + DRAIN_LIMIT;
    while collector.open_pipes > 0 {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(event) => collector.handle(event),
            Err(_) => break,
        }
    }
}

fn left_until(start: Instant, timeout: Duration) -> Duration {
    timeout.saturating_sub(start.elapsed())
}

/// Feeds stream events until every pipe closes, the deadline passes, or
/// the grace after an early verdict ends.
fn watch(
    collector: &mut Collector<'_, '_>,
    rx: &mpsc::Receiver<Event>,
    qemu: &process::Qemu,
    start: Instant,
    timeout: Duration,
) -> (Watched, Sample) {
    let mut last_sample = Sample::WallOnly;
    while collector.open_pipes > 0 {
        let wall = start.elapsed();
        let mut wait = timeout.saturating_sub(wall);
        if wait.is_zero() {
            last_sample = deadline::sample(qemu.pid());
            if deadline::expired(timeout, wall, last_sample) {
                return (Watched::TimedOut, last_sample);
            }
            wait = deadline::next_check(timeout, wall, last_sample);
        }
        if let Some((_, until)) = &collector.early {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (Watched::Stopped, last_sample);
            }
            wait = wait.min(left);
        }
        match rx.recv_timeout(wait) {
            Ok(event) => collector.handle(event),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    (Watched::Closed, last_sample)
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
