//! `qemu/boards.toml`, typed: one table per QEMU board with its target
//! triple, QEMU command line, icount shift, oldest QEMU that runs it
//! correctly, and memory map, parsed with `deny_unknown_fields` and
//! validated once. This is the one schema of the file: the board build
//! scripts and xtask both read it through this crate.
//!
//! Board crates use it as a build-dependency to generate their linker
//! script's `MEMORY` ([`build_script::emit`]), so the memory map has one
//! source. It is a host crate: firmware reaches it only through build
//! scripts.
//!
//! ```
//! let text = r#"
//! [board.demo]
//! target = "thumbv7m-none-eabi"
//! default = true
//! qemu = "qemu-system-arm"
//! args = ["-machine", "lm3s6965evb"]
//! icount_shift = 4
//! memory.flash = { origin = 0x0, length = 0x40000 }
//! memory.ram = { origin = 0x2000_0000, length = 0x10000 }
//! "#;
//! let boards = board_map::Boards::parse(text)?;
//! let demo = boards.get("demo")?;
//! assert_eq!(demo.arch, board_map::Arch::Arm);
//! assert_eq!(demo.memory.ram.end(), 0x2001_0000);
//! assert!(demo.memory.memory_x("demo").contains("RAM : ORIGIN = 0x20000000, LENGTH = 0x10000"));
//! # Ok::<(), board_map::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub mod build_script;
mod error;
mod memory;
mod version;

pub use error::{Error, ErrorKind};
pub use memory::{BOARD_SECTION, MemoryMap, Region, Span};
pub use version::QemuVersion;

/// The largest `-icount shift` QEMU accepts (`MAX_ICOUNT_SHIFT` in
/// QEMU's `accel/tcg/icount-common.c`).
pub const MAX_ICOUNT_SHIFT: u8 = 10;

/// QEMU options the runner adds itself, so a board's `args` must not.
const RESERVED_ARGS: [&str; 2] = ["-icount", "-kernel"];

/// The schema of the file: `[board.<name>]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoardsFile {
    board: BTreeMap<String, BoardEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoardEntry {
    target: String,
    #[serde(default)]
    default: bool,
    qemu: String,
    args: Vec<String>,
    icount_shift: u8,
    min_qemu: Option<MinQemu>,
    memory: MemoryMap,
    fail_regex: Option<Vec<String>>,
}

/// The CPU architecture of a board, derived from its target triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// `thumb*` and `arm*` triples: Arm, ELF `EM_ARM`.
    Arm,
    /// `riscv32*` triples: RISC-V, ELF `EM_RISCV`.
    Riscv,
}

impl Arch {
    /// Every architecture.
    pub const ALL: [Arch; 2] = [Arch::Arm, Arch::Riscv];

    /// The architecture of a rustc target triple; `None` for any other.
    pub fn of_triple(triple: &str) -> Option<Self> {
        if triple.starts_with("thumb") || triple.starts_with("arm") {
            Some(Self::Arm)
        } else if triple.starts_with("riscv32") {
            Some(Self::Riscv)
        } else {
            None
        }
    }

    /// `arm` or `riscv`, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Arm => "arm",
            Self::Riscv => "riscv",
        }
    }

    /// The architecture named `arm` or `riscv`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// The oldest QEMU that runs a board correctly, and why.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinQemu {
    pub version: QemuVersion,
    /// What goes wrong on an older QEMU, with the QEMU commit that fixed it.
    pub reason: String,
}

/// One QEMU board: `name` is its table name (`board.<name>`), which is also
/// the firmware's cargo feature that selects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    pub name: String,
    /// From `target`.
    pub arch: Arch,
    /// The target triple the board's firmware is built for.
    pub target: String,
    /// Whether this is the board of its architecture that an ELF goes to
    /// when several boards' memory maps hold it; exactly one per
    /// architecture.
    pub default: bool,
    /// The QEMU executable, e.g. `qemu-system-arm`.
    pub qemu: String,
    /// The QEMU command line without `-icount` and `-kernel ELF`, which the
    /// runner adds.
    pub args: Vec<String>,
    /// `-icount shift=N`: one guest instruction per 2^N ns of virtual time,
    /// chosen near the part's clock (0..=[`MAX_ICOUNT_SHIFT`]).
    pub icount_shift: u8,
    pub min_qemu: Option<MinQemu>,
    pub memory: MemoryMap,
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
    /// Errors, each naming the board and field: the text is not valid
    /// TOML or does not match the schema (unknown and missing fields are
    /// named, with line and column); a `target` of no known architecture;
    /// a memory region that is empty or ends above 2^32; an
    /// `icount_shift` above [`MAX_ICOUNT_SHIFT`]; `args` holding
    /// `-icount` or `-kernel`; an architecture with no `default = true`
    /// board or several; no `[board.*]` table.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let file: BoardsFile = toml::from_str(text).map_err(|e| Error::new(ErrorKind::Toml(e)))?;
        let boards = file
            .board
            .into_iter()
            .map(|(name, e)| board(name, e))
            .collect::<Result<Vec<Board>, Error>>()?;
        if boards.is_empty() {
            return Err(Error::new(ErrorKind::NoBoards));
        }
        for arch in Arch::ALL {
            let of_arch: Vec<&Board> = boards.iter().filter(|b| b.arch == arch).collect();
            let defaults: Vec<String> = of_arch
                .iter()
                .filter(|b| b.default)
                .map(|b| b.name.clone())
                .collect();
            if !of_arch.is_empty() && defaults.len() != 1 {
                return Err(Error::new(ErrorKind::Defaults {
                    arch: arch.name(),
                    boards: of_arch.iter().map(|b| b.name.clone()).collect(),
                    defaults,
                }));
            }
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

    /// The `default = true` board of `arch`, if the file has a board of
    /// that architecture (validated: then it has exactly one default).
    pub fn default_of(&self, arch: Arch) -> Option<&Board> {
        self.0.iter().find(|b| b.arch == arch && b.default)
    }
}

/// Validates one table.
fn board(name: String, e: BoardEntry) -> Result<Board, Error> {
    let field = |field: &'static str, what: String| {
        Err(Error::new(ErrorKind::Field {
            board: name.clone(),
            field,
            what,
        }))
    };
    let Some(arch) = Arch::of_triple(&e.target) else {
        return field(
            "target",
            format!(
                "`{}` is of no known architecture: use a thumb*/arm* (Arm) or riscv32* (RISC-V) triple",
                e.target
            ),
        );
    };
    for (region, span) in [
        ("memory.flash", e.memory.flash),
        ("memory.ram", e.memory.ram),
    ] {
        if !span.is_valid() {
            return field(region, "empty or not inside a 32-bit address space".into());
        }
    }
    if e.icount_shift > MAX_ICOUNT_SHIFT {
        return field(
            "icount_shift",
            format!(
                "{} is above QEMU's largest shift, {MAX_ICOUNT_SHIFT}",
                e.icount_shift
            ),
        );
    }
    if let Some(arg) = e.args.iter().find(|a| RESERVED_ARGS.contains(&a.as_str())) {
        return field(
            "args",
            format!(
                "`{arg}` is added by the runner: set `icount_shift` instead of `-icount`, and leave `-kernel` out"
            ),
        );
    }
    Ok(Board {
        name,
        arch,
        target: e.target,
        default: e.default,
        qemu: e.qemu,
        args: e.args,
        icount_shift: e.icount_shift,
        min_qemu: e.min_qemu,
        memory: e.memory,
        fail_regex: e.fail_regex,
    })
}

#[cfg(test)]
mod tests;
