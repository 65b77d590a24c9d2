//! `qemu/boards.toml`, typed: one table per QEMU board with its target
//! triple, QEMU command line and memory map, parsed with
//! `deny_unknown_fields` and validated once.
//!
//! Board crates use it as a build-dependency to generate their linker
//! script's `MEMORY` ([`build_script::emit`]), so the memory map has one
//! source. It is a host crate: firmware reaches it only through build
//! scripts.
//!
//! ```
//! let text = r#"
//! [board.demo]
//! alias = "arm"
//! target = "thumbv7m-none-eabi"
//! qemu = "qemu-system-arm"
//! args = ["-machine", "lm3s6965evb"]
//! memory.flash = { origin = 0x0, length = 0x40000 }
//! memory.ram = { origin = 0x2000_0000, length = 0x10000 }
//! "#;
//! let boards = board_map::Boards::parse(text)?;
//! let demo = boards.get("demo")?;
//! assert_eq!(demo.memory.ram.end(), 0x2001_0000);
//! assert!(demo.memory.memory_x("demo").contains("RAM : ORIGIN = 0x20000000, LENGTH = 0x10000"));
//! # Ok::<(), board_map::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub mod build_script;
mod error;

pub use error::{Error, ErrorKind};

/// The schema of the file: `[board.<name>]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoardsFile {
    board: BTreeMap<String, BoardEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoardEntry {
    alias: String,
    target: String,
    qemu: String,
    args: Vec<String>,
    memory: Memory,
    fail_regex: Option<Vec<String>>,
}

/// A board's memory map, the same as its linker script's `MEMORY`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    pub flash: Region,
    pub ram: Region,
}

/// A memory region: `origin` and `length` in bytes. Validated to be
/// non-empty and to end at or below 2^32.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub origin: u64,
    pub length: u64,
}

impl Region {
    /// One past the last address of the region, in bytes.
    pub fn end(&self) -> u64 {
        self.origin + self.length
    }
}

/// One QEMU board: `name` is its table name (`board.<name>`), which is also
/// the firmware's cargo feature that selects it; `alias` is the short name
/// (`arm`, `riscv`) accepted on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    pub name: String,
    pub alias: String,
    /// The target triple the board's firmware is built for.
    pub target: String,
    /// The QEMU executable, e.g. `qemu-system-arm`.
    pub qemu: String,
    /// The QEMU command line without `-kernel ELF`.
    pub args: Vec<String>,
    pub memory: Memory,
    /// Regexes of guest lines that fail a QEMU run on this board; the QEMU
    /// harness compiles and applies them (README, "QEMU harness").
    pub fail_regex: Option<Vec<String>>,
}

/// Every board of a `boards.toml`, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boards(Vec<Board>);

impl Boards {
    /// Reads and validates the boards file at `path`.
    ///
    /// Errors name `path`: it cannot be read, it is not valid TOML or does
    /// not match the schema (with line and column), or it breaks a rule
    /// of [`Boards::parse`].
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(ErrorKind::Read(e)).in_file(path))?;
        Self::parse(&text).map_err(|e| e.in_file(path))
    }

    /// Parses and validates the text of a boards file.
    ///
    /// Errors: the text is not valid TOML or does not match the schema
    /// (unknown and missing fields are named, with line and column); a
    /// memory region is empty or ends above 2^32; two boards share an
    /// alias; there is no `[board.*]` table.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let file: BoardsFile = toml::from_str(text).map_err(|e| Error::new(ErrorKind::Toml(e)))?;
        let mut boards: Vec<Board> = Vec::new();
        for (name, e) in file.board {
            for (region, r) in [("flash", e.memory.flash), ("ram", e.memory.ram)] {
                if r.length == 0
                    || r.origin
                        .checked_add(r.length)
                        .is_none_or(|end| end > 1 << 32)
                {
                    return Err(Error::new(ErrorKind::Region {
                        board: name,
                        region,
                    }));
                }
            }
            if let Some(other) = boards.iter().find(|b| b.alias == e.alias) {
                return Err(Error::new(ErrorKind::DuplicateAlias {
                    alias: e.alias,
                    boards: [other.name.clone(), name],
                }));
            }
            boards.push(Board {
                name,
                alias: e.alias,
                target: e.target,
                qemu: e.qemu,
                args: e.args,
                memory: e.memory,
                fail_regex: e.fail_regex,
            });
        }
        if boards.is_empty() {
            return Err(Error::new(ErrorKind::NoBoards));
        }
        Ok(Self(boards))
    }

    /// Every board, sorted by name.
    pub fn all(&self) -> &[Board] {
        &self.0
    }

    /// The board whose table is `board.<name>`.
    ///
    /// Errors: no such board; the error lists the boards there are.
    pub fn get(&self, name: &str) -> Result<&Board, Error> {
        self.0.iter().find(|b| b.name == name).ok_or_else(|| {
            Error::new(ErrorKind::UnknownBoard {
                board: name.to_string(),
                known: self.0.iter().map(|b| b.name.clone()).collect(),
            })
        })
    }
}

impl Memory {
    /// The linker script fragment that defines `MEMORY` with the regions
    /// `FLASH` and `RAM` (GNU ld "MEMORY Command" syntax, which LLD reads
    /// too), for a board's `link.x` to `INCLUDE`. `board` names the source
    /// in its header comment.
    pub fn memory_x(&self, board: &str) -> String {
        format!(
            "/* Generated from qemu/boards.toml (board.{board}.memory); do not edit. */\n\
             MEMORY\n{{\n  FLASH : ORIGIN = {:#x}, LENGTH = {:#x}\n  RAM : ORIGIN = {:#x}, LENGTH = {:#x}\n}}\n",
            self.flash.origin, self.flash.length, self.ram.origin, self.ram.length
        )
    }
}

#[cfg(test)]
mod tests;
