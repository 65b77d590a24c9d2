//! What can go wrong: an ELF whose defmt table cannot be used, and a frame
//! that does not decode.

use std::fmt;

/// The ELF's defmt table cannot be read, so nothing can be decoded.
///
/// `Display` gives the cause as `defmt-decoder` reports it (first line only)
/// and what to do about it, on one line.
#[derive(Debug)]
pub struct ElfError {
    kind: ElfErrorKind,
    cause: String,
}

/// The kinds of [`ElfError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElfErrorKind {
    /// The bytes are not an ELF file.
    NotElf,
    /// The firmware's defmt wire format version (symbol `_defmt_version_`)
    /// is not one that `defmt-decoder` supports
    /// ([`defmt_decoder::DEFMT_VERSIONS`]).
    VersionMismatch,
    /// There is a `_defmt_version_` symbol but no `.defmt` section: the
    /// image was linked without `-Tdefmt.x`.
    NoDefmtSection,
    /// Anything else `defmt-decoder` rejects: an ELF it cannot parse,
    /// several defmt versions or encodings in one image, a table entry it
    /// does not understand.
    Table,
}

impl ElfError {
    pub(crate) fn not_elf() -> Self {
        ElfError {
            kind: ElfErrorKind::NotElf,
            cause: "not an ELF file (no \\x7fELF magic)".into(),
        }
    }

    pub(crate) fn unsupported_encoding(encoding: defmt_decoder::Encoding) -> Self {
        ElfError {
            kind: ElfErrorKind::Table,
            cause: format!("defmt encoding {encoding:?} is not supported (only rzCOBS and raw)"),
        }
    }

    /// Classifies an error of `defmt_decoder::Table::parse`, which reports
    /// everything as `anyhow::Error` text.
    pub(crate) fn from_table(error: &anyhow::Error) -> Self {
        let cause = format!("{error:#}");
        let kind = if cause.contains("version mismatch") {
            ElfErrorKind::VersionMismatch
        } else if cause.contains("no `.defmt` metadata section") {
            ElfErrorKind::NoDefmtSection
        } else {
            ElfErrorKind::Table
        };
        let cause = cause.lines().next().unwrap_or_default().to_owned();
        ElfError { kind, cause }
    }

    /// Which kind of problem this is.
    pub fn kind(&self) -> ElfErrorKind {
        self.kind
    }

    fn fix(&self) -> String {
        match self.kind {
            ElfErrorKind::NotElf => {
                "pass the firmware's ELF file, not a binary or hex image".into()
            }
            ElfErrorKind::VersionMismatch => format!(
                "build the firmware with a defmt release whose wire format is one of {} \
                 (defmt 0.3 or 1.x), or update defmt-decoder in this tool",
                defmt_decoder::DEFMT_VERSIONS.join(", ")
            ),
            ElfErrorKind::NoDefmtSection => {
                "link the firmware with `-C link-arg=-Tdefmt.x` (after `-Tlink.x`)".into()
            }
            ElfErrorKind::Table => {
                "rebuild the firmware against a single defmt version and encoding".into()
            }
        }
    }
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; fix: {}", self.cause, self.fix())
    }
}

impl std::error::Error for ElfError {}

/// A frame that does not decode. Its bytes produce no text.
///
/// `Display` is the line the CLI writes to stderr:
/// `malformed defmt frame at byte <offset>: <problem>[; <what happens next>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// Stream offset of the frame's first byte (bytes since the start of the
    /// stream, counting from 0; for rzCOBS, separators before the frame are
    /// not part of it).
    pub offset: u64,
    /// The frame's length in bytes, without its `0x00` separator (rzCOBS);
    /// for raw frames, the bytes held when the frame was found malformed.
    pub len: usize,
    /// What is wrong with it.
    pub problem: Problem,
    /// Whether decoding goes on after this frame: true for rzCOBS, which
    /// restarts at the next `0x00`; false for raw frames, which carry no
    /// boundaries, so nothing after a malformed one can be decoded.
    pub resumes: bool,
}

/// Why a frame does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The bytes between two `0x00` separators are not valid rzCOBS.
    InvalidRzcobs,
    /// Fewer than the two bytes of a format string index.
    NoIndex,
    /// The frame's format string index is not a log statement of this ELF.
    UnknownIndex(u16),
    /// The frame ends inside its timestamp or arguments.
    Truncated { index: u16 },
    /// The arguments do not fit the format string (e.g. an invalid `bool`,
    /// `char` or UTF-8 string).
    BadArguments { index: u16 },
    /// `extra` bytes follow the frame's last argument (rzCOBS only).
    TrailingBytes { index: u16, extra: usize },
    /// The stream ended inside this frame (no `0x00` after it, or a raw frame
    /// missing bytes).
    EndOfStream,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::InvalidRzcobs => f.write_str("not valid rzCOBS"),
            Problem::NoIndex => f.write_str("shorter than its 2-byte format string index"),
            Problem::UnknownIndex(index) => write!(
                f,
                "format string index {index:#06x} is not a log statement of this ELF \
                 (corrupted, or logged by other firmware)"
            ),
            Problem::Truncated { index } => write!(
                f,
                "ends inside the arguments of format string index {index:#06x}"
            ),
            Problem::BadArguments { index } => {
                write!(f, "arguments do not fit format string index {index:#06x}")
            }
            Problem::TrailingBytes { index, extra } => write!(
                f,
                "{extra} bytes after the last argument of format string index {index:#06x}"
            ),
            Problem::EndOfStream => f.write_str("the stream ended inside this frame"),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed defmt frame at byte {}: {}-byte frame {}",
            self.offset, self.len, self.problem
        )?;
        match (self.resumes, &self.problem) {
            (_, Problem::EndOfStream) => Ok(()),
            (true, _) => write!(
                f,
                "; decoding resumes after its 0x00 separator at byte {}",
                self.offset + self.len as u64
            ),
            (false, _) => f.write_str(
                "; the raw encoding has no frame boundaries, so nothing after it is decoded",
            ),
        }
    }
}

impl std::error::Error for FrameError {}
