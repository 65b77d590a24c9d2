//! Errors of reading ELFs and QEMU logs.

use std::fmt;

/// Why an ELF or a log cannot be used. `Display` is one line; the CLI adds
/// the file's path in front.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The ELF cannot be parsed, or has no usable DWARF line information.
    Elf(String),
    /// A line of a QEMU log does not have the expected shape (1-based
    /// `line`), or the log lacks what coverage needs.
    Log { line: u64, message: String },
    /// The log's disassembly shows other bytes than the ELF has at
    /// `address`: the log is from a run of another image.
    Mismatch {
        address: u64,
        traced: Vec<u8>,
        image: Vec<u8>,
    },
    /// Reading the log failed.
    Io(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Elf(message) => f.write_str(message),
            Error::Log { line, message } => write!(f, "line {line}: {message}"),
            Error::Mismatch {
                address,
                traced,
                image,
            } => write!(
                f,
                "the instruction at {address:#x} is {} in the log but {} in the ELF: \
                 the log is from a run of another image (pair each --log with the --elf it ran)",
                hex(traced),
                hex(image)
            ),
            Error::Io(error) => write!(f, "cannot read: {error}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::Io(error)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
