//! Starting QEMU with every console stream on a pipe of its own, and the
//! threads that read those pipes (all of them at once: QEMU's writes are
//! synchronous, so a full pipe would stall the guest).
//!
//! - The first UART goes to `-chardev file,path=/dev/fd/N -serial
//!   chardev:…`, where N is the write end of a pipe that only this QEMU
//!   inherits. A `file` chardev on an inherited pipe is the simplest
//!   byte-exact capture: no temporary FIFO or socket to create, name and
//!   clean up, no open that can block or race with QEMU's start, and the
//!   reader sees end-of-file exactly when QEMU exits. The fd is handed over
//!   by clearing its close-on-exec flag in the child only
//!   ([`process::inherit_fds`]), so a QEMU started at the same moment by
//!   another thread never holds it.
//! - Semihosting `:tt` stdout stays on QEMU's stdout and `:tt` stderr on
//!   QEMU's stderr, where no option moves them (QEMU
//!   `semihosting/arm-compat-semi.c`, `SYS_OPEN` of `:tt`).
//!   `SYS_WRITEC`/`SYS_WRITE0`, which QEMU would write to its stderr, go to
//!   a chardev on QEMU's own stdout (`-semihosting-config …,chardev=…` with
//!   `file,path=/dev/fd/1`): one pipe for all of semihosting's output, in
//!   the guest's order.
//! - A stream decoded as defmt is also copied, chunk by chunk as it
//!   arrives, into the decoder's stdin; the decoder's stdout and stderr are
//!   read like QEMU's.
//!
//! Without Unix file descriptors (Windows) the UART stays on QEMU's stdout,
//! as `-nographic` puts it there, and is read as semihosting output.

use std::io::{self, Read, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;

use anyhow::{Context, Result};

use super::RunSpec;
use super::console::Stream;
use super::defmt::Decoder;
use super::process::{self, Qemu};

/// One of QEMU's output pipes.
// Without Unix file descriptors there is no UART pipe.
#[cfg_attr(not(unix), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pipe {
    /// Semihosting: `:tt` stdout, `SYS_WRITEC` and `SYS_WRITE0`.
    Stdout,
    /// Semihosting `:tt` stderr and QEMU's own messages.
    Stderr,
    Uart,
}

impl Pipe {
    /// The stream the pipe's bytes belong to (QEMU's messages on stderr
    /// are told apart line by line).
    pub fn stream(self) -> Stream {
        match self {
            Self::Stdout => Stream::Semihosting,
            Self::Stderr => Stream::GuestStderr,
            Self::Uart => Stream::Uart,
        }
    }
}

/// Whose bytes an event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Qemu(Pipe),
    /// The decoder's text for a defmt stream.
    Decoded(Stream),
    /// The decoder's reports for a defmt stream.
    DecoderErr(Stream),
}

pub enum Event {
    Data(Source, Vec<u8>),
    Closed(Source),
}

/// A started QEMU, its decoders, and the events of every pipe.
pub struct Started {
    pub qemu: Qemu,
    /// Killed and reaped on drop.
    pub decoders: Vec<Decoder>,
    pub rx: mpsc::Receiver<Event>,
    /// How many [`Event::Closed`] will arrive.
    pub pipes: usize,
}

#[cfg_attr(not(unix), allow(dead_code))]
const UART_CHARDEV: &str = "xtask-uart";
const SEMIHOSTING_CHARDEV: &str = "xtask-semihosting";

/// Starts QEMU for `spec` and a reader thread per pipe.
///
/// Errors: a pipe cannot be made, QEMU is missing or does not start, or the
/// decoder does not start.
pub fn start(spec: &RunSpec<'_>) -> Result<Started> {
    let chardevs = Chardevs::new().context("cannot create the console pipes")?;
    let mut cmd = Command::new(spec.board.qemu_exe());
    cmd.args(chardevs.args())
        .args(with_semihosting_chardev(
            &spec.board.qemu_args(),
            chardevs.has_semihosting(),
        ))
        .args(with_semihosting_chardev(
            spec.extra_args,
            chardevs.has_semihosting(),
        ))
        .arg("-kernel")
        .arg(spec.elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    chardevs.pass_to(&mut cmd);
    let mut qemu = process::spawn(&mut cmd, spec.label).map_err(|e| spawn_error(spec, e))?;
    let mut readers: Vec<(Pipe, Box<dyn Read + Send>)> = chardevs.into_readers();
    let out = qemu.child.stdout.take().context("QEMU stdout")?;
    let err = qemu.child.stderr.take().context("QEMU stderr")?;
    readers.push((Pipe::Stdout, Box::new(out)));
    readers.push((Pipe::Stderr, Box::new(err)));
    let (tx, rx) = mpsc::channel();
    let mut started = Started {
        qemu,
        decoders: Vec::new(),
        rx,
        pipes: 0,
    };
    for (pipe, reader) in readers {
        let tee = match spec.defmt {
            Some(d) if d.streams.contains(&pipe.stream()) => Some(start_decoder(
                &mut started,
                d.tool,
                spec,
                pipe.stream(),
                &tx,
            )?),
            _ => None,
        };
        pump(reader, Source::Qemu(pipe), tx.clone(), tee);
        started.pipes += 1;
    }
    Ok(started)
}

/// Starts a decoder for `stream`; returns its stdin.
fn start_decoder(
    started: &mut Started,
    tool: &std::path::Path,
    spec: &RunSpec<'_>,
    stream: Stream,
    tx: &mpsc::Sender<Event>,
) -> Result<ChildStdin> {
    let mut decoder = Decoder::spawn(tool, spec.elf)?;
    let (stdin, stdout, stderr) = decoder.pipes()?;
    pump(stdout, Source::Decoded(stream), tx.clone(), None);
    pump(stderr, Source::DecoderErr(stream), tx.clone(), None);
    started.pipes += 2;
    started.decoders.push(decoder);
    Ok(stdin)
}

fn spawn_error(spec: &RunSpec<'_>, e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::NotFound {
        anyhow::anyhow!(
            "QEMU missing: `{}` not found on PATH (run `cargo xtask setup`)",
            spec.board.qemu
        )
    } else {
        anyhow::Error::new(e).context(format!("cannot start `{}`", spec.board.qemu))
    }
}

/// `args` with `,chardev=xtask-semihosting` added to each
/// `-semihosting-config` value that names no chardev, when there is one.
fn with_semihosting_chardev(args: &[String], chardev: bool) -> Vec<String> {
    let mut out = args.to_vec();
    if !chardev {
        return out;
    }
    for i in 1..out.len() {
        if out[i - 1] == "-semihosting-config" && !out[i].contains("chardev=") {
            out[i] = format!("{},chardev={SEMIHOSTING_CHARDEV}", out[i]);
        }
    }
    out
}

/// Forwards `reader`'s bytes as events as they arrive (and into `tee`),
/// then [`Event::Closed`] at end-of-file.
fn pump(
    mut reader: impl Read + Send + 'static,
    source: Source,
    tx: mpsc::Sender<Event>,
    mut tee: Option<ChildStdin>,
) {
    std::thread::spawn(move || {
        let mut buf = vec![0; 16 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let chunk = buf[..n].to_vec();
            // A decoder that died has said why on its stderr.
            if tee
                .as_mut()
                .is_some_and(|sink| sink.write_all(&chunk).is_err())
            {
                tee = None;
            }
            if tx.send(Event::Data(source, chunk)).is_err() {
                return;
            }
        }
        // End-of-file for the decoder.
        drop(tee);
        let _ = tx.send(Event::Closed(source));
    });
}

/// The UART's pipe, and the chardevs on it and on QEMU's stdout.
#[cfg(unix)]
struct Chardevs {
    uart: (io::PipeReader, io::PipeWriter),
}

#[cfg(unix)]
impl Chardevs {
    fn new() -> io::Result<Self> {
        Ok(Self { uart: high_pipe()? })
    }

    fn has_semihosting(&self) -> bool {
        true
    }

    fn args(&self) -> Vec<String> {
        use std::os::fd::AsRawFd;
        let uart_fd = self.uart.1.as_raw_fd();
        vec![
            "-chardev".into(),
            format!("file,id={UART_CHARDEV},path=/dev/fd/{uart_fd}"),
            "-serial".into(),
            format!("chardev:{UART_CHARDEV}"),
            "-chardev".into(),
            format!("file,id={SEMIHOSTING_CHARDEV},path=/dev/fd/1"),
        ]
    }

    fn pass_to(&self, cmd: &mut Command) {
        use std::os::fd::AsRawFd;
        process::inherit_fds(cmd, vec![self.uart.1.as_raw_fd()]);
    }

    /// The read end; the write end closes here, so that end-of-file comes
    /// when QEMU exits.
    fn into_readers(self) -> Vec<(Pipe, Box<dyn Read + Send>)> {
        vec![(Pipe::Uart, Box::new(self.uart.0))]
    }
}

/// A pipe whose write end is not one of fds 0–2, which the child's stdio
/// setup would replace.
#[cfg(unix)]
fn high_pipe() -> io::Result<(io::PipeReader, io::PipeWriter)> {
    use std::os::fd::AsRawFd;
    let (r, w) = io::pipe()?;
    // `try_clone` duplicates with F_DUPFD_CLOEXEC from fd 3 up.
    let w = if w.as_raw_fd() < 3 { w.try_clone()? } else { w };
    Ok((r, w))
}

#[cfg(not(unix))]
struct Chardevs;

#[cfg(not(unix))]
impl Chardevs {
    fn new() -> io::Result<Self> {
        Ok(Self)
    }

    fn has_semihosting(&self) -> bool {
        false
    }

    fn args(&self) -> Vec<String> {
        Vec::new()
    }

    fn pass_to(&self, _cmd: &mut Command) {}

    fn into_readers(self) -> Vec<(Pipe, Box<dyn Read + Send>)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_semihosting_chardev_is_added_once() {
        let args: Vec<String> = ["-semihosting-config", "enable=on,target=native", "-x"]
            .map(String::from)
            .to_vec();
        let with = with_semihosting_chardev(&args, true);
        assert_eq!(with[1], "enable=on,target=native,chardev=xtask-semihosting");
        assert_eq!(with_semihosting_chardev(&with, true), with);
        assert_eq!(with_semihosting_chardev(&args, false), args);
    }
}
