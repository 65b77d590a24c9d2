//! Errors of reading a boards file, each naming the file (when there is
//! one) and the board or field at fault.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong, and in which file. `Debug` prints the same message as
/// `Display`, so that a build script's `main` that returns the error shows
/// it as it is.
pub struct Error {
    file: Option<PathBuf>,
    kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file cannot be read.
    Read(std::io::Error),
    /// Not valid TOML, or not the schema: an unknown, missing or mistyped
    /// field, with its line and column.
    Toml(toml::de::Error),
    /// `board.<board>.<field>` breaks a rule: `what` says which.
    Field {
        board: String,
        field: &'static str,
        what: String,
    },
    /// The boards of architecture `arch` have no `default = true` board, or
    /// several (`defaults`).
    Defaults {
        arch: &'static str,
        boards: Vec<String>,
        defaults: Vec<String>,
    },
    /// The file has no `[board.*]` table.
    NoBoards,
    /// No `[board.<board>]` table; `known` lists the boards there are.
    UnknownBoard { board: String, known: Vec<String> },
    /// A build script's input or output file cannot be found, read or
    /// written.
    BuildFile { path: PathBuf, what: String },
    /// `board.<board>` is selected for a build whose target is
    /// `build_target`, but its firmware is built for `target`.
    WrongTarget {
        board: String,
        target: String,
        build_target: String,
    },
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self { file: None, kind }
    }

    /// Names `path` as the file the error is in.
    pub(crate) fn in_file(mut self, path: &Path) -> Self {
        self.file = Some(path.to_path_buf());
        self
    }

    /// The file the error is in, if it came from one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        match &self.kind {
            ErrorKind::Read(e) => write!(f, "cannot read: {e}"),
            ErrorKind::Toml(e) => write!(f, "invalid board file: {e}"),
            ErrorKind::Field { board, field, what } => write!(f, "board.{board}.{field}: {what}"),
            ErrorKind::Defaults {
                arch,
                boards,
                defaults,
            } if defaults.is_empty() => write!(
                f,
                "no {arch} board has `default = true`; mark exactly one of board.{}",
                boards.join(", board.")
            ),
            ErrorKind::Defaults { arch, defaults, .. } => write!(
                f,
                "board.{} all have `default = true`; exactly one {arch} board may",
                defaults.join(", board.")
            ),
            ErrorKind::NoBoards => write!(f, "no [board.<name>] table"),
            ErrorKind::UnknownBoard { board, known } => write!(
                f,
                "no [board.{board}] table; the boards are: {}",
                known.join(", ")
            ),
            ErrorKind::BuildFile { path, what } => write!(f, "{}: {what}", path.display()),
            ErrorKind::WrongTarget {
                board,
                target,
                build_target,
            } => write!(
                f,
                "board.{board} runs {target} firmware, and this build is for {build_target}: \
                 build it with `--target {target}`, or select a board of {build_target}"
            ),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The messages include their causes (the I/O or TOML error), so there is
/// no separate `source`.
impl std::error::Error for Error {}
