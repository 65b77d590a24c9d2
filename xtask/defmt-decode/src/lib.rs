//! Decoding [defmt](https://defmt.ferrous-systems.com) log streams with the
//! firmware's own format table, as `defmt-print` prints them.
//!
//! This crate is kept out of xtask's own build (`defmt-decoder` and its
//! dependencies add about 50 crates): xtask builds it with
//! `cargo build -p xtask-defmt` the first time a run needs it and runs the
//! `xtask-defmt` binary as a child process. The library API is the same
//! decoder, for tests and other hosts.
//!
//! # Output
//!
//! Each decoded frame becomes one [`Record`] whose text is what `defmt-print`
//! 1.2 prints for it by default (no `--verbose`, so no locations), with
//! colour forced off:
//!
//! - a frame with a level: `[<timestamp> ]<LEVEL> <message>`, the level
//!   (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`) left-aligned and padded to
//!   5 characters, so `INFO  booted` and `ERROR failed`; the timestamp is
//!   there only when the firmware defines one with `defmt::timestamp!`, and
//!   is rendered with the firmware's format (e.g. `{=u32:us}` gives
//!   `0.000002`);
//! - a frame without a level (`defmt::println!`): the message alone, with no
//!   timestamp;
//! - a message may span lines (a failed `defmt::assert_eq!` adds a diff).
//!
//! The text comes from `defmt_decoder::log::format::Formatter` with
//! `FormatterConfig::default()`, the configuration `defmt-print` uses.
//!
//! # Malformed frames
//!
//! A frame that does not decode produces a [`FrameError`], never text. The
//! encoding is the firmware's choice (`defmt` features `encoding-rzcobs`,
//! the default, or `encoding-raw`; symbol `_defmt_encoding_` in the ELF):
//!
//! - **rzCOBS**: every frame ends with a `0x00`. A frame that is not valid
//!   rzCOBS, names a format string index the ELF does not have, ends inside
//!   its arguments, has arguments that do not fit, or has bytes after its
//!   last argument is reported, and decoding resumes with the next frame.
//! - **raw**: frames carry no boundaries, so after a malformed frame nothing
//!   more can be decoded; the error says so and later input is discarded.
//!
//! rzCOBS has no checksum: a corrupted byte inside an argument can still
//! decode to a well-formed frame with a different value. Such frames cannot
//! be told apart from real ones by any decoder.
//!
//! # CLI contract (`xtask-defmt`)
//!
//! ```text
//! xtask-defmt <ELF>            decode the stream on stdin
//! xtask-defmt --check <ELF>    does <ELF> carry a usable defmt table?
//! xtask-defmt --help | --version   (print the usage, or `xtask-defmt <version>`)
//! ```
//!
//! **Decoding** (`xtask-defmt <ELF>`): reads the raw defmt stream from stdin
//! as it arrives (each `read` is decoded at once, nothing waits for EOF) and
//! writes:
//!
//! - stdout: each record's text followed by `\n`, flushed after every record;
//!   nothing else is ever written to stdout;
//! - stderr: one line per malformed frame, exactly
//!   `malformed defmt frame at byte <N>: <L>-byte frame <problem>[; <next>]`
//!   where `<N>` is the frame's offset in the stream (decimal, from 0),
//!   `<L>` its length in bytes, `<problem>` a phrase from [`Problem`]'s
//!   `Display`, and `<next>` either
//!   `decoding resumes after its 0x00 separator at byte <M>` (rzCOBS) or
//!   `the raw encoding has no frame boundaries, so nothing after it is decoded`
//!   (raw). A stream that ends inside a frame gives one such line, without
//!   `<next>`, whose problem is `the stream ended inside this frame`. A regex
//!   for the line: `^malformed defmt frame at byte (\d+): (.*)$`. Any other
//!   stderr line is an error, `xtask-defmt: <message>`, followed by the usage
//!   text for a usage error.
//!
//! Exit status: **0** at EOF when every frame decoded; **1** when at least
//! one frame was malformed (all of stdin is still read, so the writer never
//! blocks on a full pipe); **2**, before stdin is read, for a usage error,
//! an unreadable ELF, or an ELF whose table cannot be used, with one line
//! `xtask-defmt: <ELF>: <what>; fix: <what to do>`: no `.defmt` section
//! (`no .defmt section, so the firmware does not log with defmt`), a defmt
//! wire format version this decoder does not support (`defmt wire format
//! version mismatch: …`), a `_defmt_version_` symbol without a `.defmt`
//! section, not an ELF file.
//!
//! **Checking** (`xtask-defmt --check <ELF>`): writes nothing to stdout and
//! exits **0** when the ELF has a defmt table this tool can decode, **3**
//! when it has no `.defmt` section (plain-text firmware: do not decode), and
//! **2** (with a message on stderr) when it cannot be read or its defmt data
//! is unusable, as above.

mod error;

use defmt_decoder::{
    DecodeError, Frame, Table,
    log::format::{Formatter, FormatterConfig},
};

pub use error::{ElfError, ElfErrorKind, FrameError, Problem};

/// How the firmware frames its defmt stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Reverse zero-compressing COBS; every frame ends with `0x00`.
    Rzcobs,
    /// Frames back to back, with no boundaries.
    Raw,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Stream offset of the frame's first byte (see [`FrameError::offset`]).
    pub offset: u64,
    /// The encoded frame's length in bytes, without its separator.
    pub len: usize,
    /// The text `defmt-print` prints for the frame, without a trailing
    /// newline (see the crate docs for its shape).
    pub text: String,
}

/// Decodes one defmt stream, fed in chunks of any size.
pub struct Decoder {
    table: Table,
    encoding: Encoding,
    formatter: Formatter,
    /// Bytes received but not decoded yet; `pending[0]` is at stream offset
    /// `start`.
    pending: Vec<u8>,
    start: u64,
    /// Raw encoding only: a malformed frame was seen, so later bytes are
    /// only counted.
    stopped: bool,
}

impl Decoder {
    /// Reads the defmt table of `elf` (the whole ELF file).
    ///
    /// Returns `Ok(None)` when the ELF has no `.defmt` section, i.e. the
    /// firmware does not use defmt. Also forces colour off for the process
    /// (`colored::control::set_override(false)`), which the formatter would
    /// otherwise turn on when stdout is a terminal.
    ///
    /// # Errors
    ///
    /// [`ElfError`] when `elf` is not an ELF file, or its defmt data cannot
    /// be used ([`ElfErrorKind`] says why).
    pub fn from_elf(elf: &[u8]) -> Result<Option<Decoder>, ElfError> {
        if !elf.starts_with(b"\x7fELF") {
            return Err(ElfError::not_elf());
        }
        let Some(table) = Table::parse(elf).map_err(|e| ElfError::from_table(&e))? else {
            return Ok(None);
        };
        let encoding = match table.encoding() {
            defmt_decoder::Encoding::Rzcobs => Encoding::Rzcobs,
            defmt_decoder::Encoding::Raw => Encoding::Raw,
            other => return Err(ElfError::unsupported_encoding(other)),
        };
        colored::control::set_override(false);
        let config = FormatterConfig {
            is_timestamp_available: table.has_timestamp(),
            ..FormatterConfig::default()
        };
        Ok(Some(Decoder {
            formatter: Formatter::new(config),
            table,
            encoding,
            pending: Vec::new(),
            start: 0,
            stopped: false,
        }))
    }

    /// The firmware's encoding.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Whether the firmware defines a timestamp (`defmt::timestamp!`).
    pub fn has_timestamp(&self) -> bool {
        self.table.has_timestamp()
    }

    /// Bytes fed so far.
    pub fn position(&self) -> u64 {
        self.start + self.pending.len() as u64
    }

    /// Takes the next `chunk` of the stream (any length, split anywhere) and
    /// returns every frame it completes, in stream order. A frame split
    /// across chunks comes out with the chunk that completes it.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Result<Record, FrameError>> {
        if self.stopped {
            self.start += chunk.len() as u64;
            return Vec::new();
        }
        self.pending.extend_from_slice(chunk);
        let (out, used) = match self.encoding {
            Encoding::Rzcobs => self.rzcobs_frames(),
            Encoding::Raw => self.raw_frames(),
        };
        self.pending.drain(..used);
        self.start += used as u64;
        out
    }

    /// Ends the stream: returns the frame it ended inside of, if any
    /// ([`Problem::EndOfStream`]), and forgets it.
    pub fn finish(&mut self) -> Option<FrameError> {
        if self.pending.is_empty() {
            return None;
        }
        let error = FrameError {
            offset: self.start,
            len: self.pending.len(),
            problem: Problem::EndOfStream,
            resumes: false,
        };
        self.start += self.pending.len() as u64;
        self.pending.clear();
        Some(error)
    }

    /// Decodes every `0x00`-terminated frame in `pending`; returns them and
    /// how many bytes they used.
    fn rzcobs_frames(&self) -> (Vec<Result<Record, FrameError>>, usize) {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some(zero) = self.pending[pos..].iter().position(|&b| b == 0) {
            let bytes = &self.pending[pos..pos + zero];
            // Consecutive separators delimit no frame.
            if !bytes.is_empty() {
                out.push(self.rzcobs_frame(self.start + pos as u64, bytes));
            }
            pos += zero + 1;
        }
        (out, pos)
    }

    fn rzcobs_frame(&self, offset: u64, bytes: &[u8]) -> Result<Record, FrameError> {
        let error = |problem| FrameError {
            offset,
            len: bytes.len(),
            problem,
            resumes: true,
        };
        let decoded = rzcobs::decode(bytes).map_err(|_| error(Problem::InvalidRzcobs))?;
        let (frame, consumed) = decode_frame(&self.table, &decoded).map_err(error)?;
        // rzCOBS works in groups of 7 bytes, so a frame may decode with up
        // to 6 zero bytes of padding after its last argument; anything else
        // there means the frame is not what the firmware sent.
        let extra = &decoded[consumed..];
        if extra.len() > 6 || extra.iter().any(|&b| b != 0) {
            return Err(error(Problem::TrailingBytes {
                index: frame.index() as u16,
                extra: extra.len(),
            }));
        }
        Ok(self.record(offset, bytes.len(), frame))
    }

    /// Decodes raw frames from the start of `pending` until one is
    /// incomplete or malformed.
    fn raw_frames(&mut self) -> (Vec<Result<Record, FrameError>>, usize) {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < self.pending.len() {
            let offset = self.start + pos as u64;
            let rest = &self.pending[pos..];
            match decode_frame(&self.table, rest) {
                Ok((frame, consumed)) => {
                    out.push(Ok(self.record(offset, consumed, frame)));
                    pos += consumed;
                }
                Err(Problem::Truncated { .. } | Problem::NoIndex) => break,
                Err(problem) => {
                    out.push(Err(FrameError {
                        offset,
                        len: rest.len(),
                        problem,
                        resumes: false,
                    }));
                    self.stopped = true;
                    pos = self.pending.len();
                }
            }
        }
        (out, pos)
    }

    fn record(&self, offset: u64, len: usize, frame: Frame<'_>) -> Record {
        Record {
            offset,
            len,
            text: self.formatter.format_frame(frame, None, None, None),
        }
    }
}

/// Decodes one unencoded frame (index, timestamp, arguments) from the start
/// of `bytes`; returns it and the bytes it took.
fn decode_frame<'t>(table: &'t Table, bytes: &[u8]) -> Result<(Frame<'t>, usize), Problem> {
    let [lo, hi, ..] = *bytes else {
        return Err(Problem::NoIndex);
    };
    let index = u16::from_le_bytes([lo, hi]);
    let known = || table.indices().any(|i| i == usize::from(index));
    match table.decode(bytes) {
        Ok(decoded) => Ok(decoded),
        // The timestamp is decoded before the index is looked up, so either
        // error can hide an unknown index.
        Err(_) if !known() => Err(Problem::UnknownIndex(index)),
        Err(DecodeError::UnexpectedEof) => Err(Problem::Truncated { index }),
        Err(DecodeError::Malformed) => Err(Problem::BadArguments { index }),
    }
}
