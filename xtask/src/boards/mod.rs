//! The QEMU boards of `qemu/boards.toml`, as xtask runs them. The schema,
//! its validation and the memory maps are the `board-map` crate's (the
//! reader the board build scripts use too); this module adds what only
//! xtask needs: the QEMU executable and command line of a run
//! ([`Board::qemu_args`]), which boards a command works on
//! ([`BoardArgs`], [`Boards::select`]), which board an ELF runs on
//! ([`Boards::for_elf`], [`Boards::board_for_elf`], [`Boards::check_fits`]),
//! and whether the installed QEMU is new enough for a board
//! ([`qemu_version`]).

pub mod qemu_version;
mod select;

use std::ops::Deref;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

pub use board_map::{Arch, MemoryMap, MinQemu, QemuVersion, Region, Span};
pub use select::{BoardArgs, Selector};

use crate::elf::Machine;
use crate::qemu::console::FailMarkers;
use crate::workspace::Workspace;

/// One QEMU board: its `qemu/boards.toml` table (through `Deref`: `name`,
/// `target`, `qemu`, `args`, `icount_shift`, `min_qemu`, …) and the QEMU
/// executable that runs it.
#[derive(Debug, Clone)]
pub struct Board {
    spec: board_map::Board,
    /// `qemu`, found on `PATH`, or a path under `--qemu-dir`.
    exe: PathBuf,
    /// Whether runs count instructions (`-icount`); see [`Board::without_icount`].
    icount: bool,
    /// The table's `fail_regex`, compiled: guest lines that fail a run on
    /// this board, replacing the harness's defaults unless the manifest or
    /// the test sets its own.
    pub fail_markers: Option<FailMarkers>,
}

impl Deref for Board {
    type Target = board_map::Board;

    fn deref(&self) -> &board_map::Board {
        &self.spec
    }
}

impl Board {
    /// Errors: a `fail_regex` entry is not a regex.
    fn new(spec: board_map::Board) -> Result<Self> {
        let fail_markers = spec
            .fail_regex
            .as_deref()
            .map(FailMarkers::compile)
            .transpose()
            .map_err(|err| anyhow!("board `{}`: {err}", spec.name))?;
        Ok(Self {
            exe: PathBuf::from(&spec.qemu),
            spec,
            icount: true,
            fail_markers,
        })
    }

    /// The flash and RAM regions (bytes), as the board's linker script has them.
    pub fn memory_map(&self) -> &MemoryMap {
        &self.spec.memory
    }

    /// The `e_machine` of the images this board runs.
    pub fn machine(&self) -> Machine {
        match self.spec.arch {
            Arch::Arm => Machine::Arm,
            Arch::Riscv => Machine::RiscV,
        }
    }

    /// The QEMU executable to start: the board's `qemu` on `PATH`, or in
    /// the `--qemu-dir` directory.
    pub fn qemu_exe(&self) -> &Path {
        &self.exe
    }

    /// The QEMU command line without `-kernel ELF`: the board's `args`,
    /// then `-icount shift=N,sleep=off` (QEMU's `-icount` option: one
    /// instruction per 2^N ns of virtual time; with `sleep=off` an idle
    /// guest's virtual time jumps to the next timer deadline, so runs are
    /// deterministic and idle waits cost no host time).
    pub fn qemu_args(&self) -> Vec<String> {
        let mut args = self.spec.args.clone();
        if self.icount {
            args.extend([
                "-icount".to_string(),
                format!("shift={},sleep=off", self.spec.icount_shift),
            ]);
        }
        args
    }

    /// Nanoseconds of virtual time per guest instruction under the board's
    /// icount shift: 2^`icount_shift`.
    pub fn ns_per_instruction(&self) -> u64 {
        1 << self.spec.icount_shift
    }

    /// The same board run without instruction counting: virtual time is
    /// host time, as under plain QEMU (for `cargo xtask bench qemu`).
    pub fn without_icount(&self) -> Self {
        Self {
            icount: false,
            ..self.clone()
        }
    }
}

/// Every board of `qemu/boards.toml`, sorted by name.
#[derive(Debug, Clone)]
pub struct Boards(Vec<Board>);

impl Boards {
    /// Reads `qemu/boards.toml` from the workspace.
    pub fn load(ws: &Workspace) -> Result<Self> {
        Self::from_file(&ws.qemu_dir().join("boards.toml"))
    }

    /// Errors name the file, and the board and field at fault (see
    /// [`board_map::Boards::parse`]).
    pub fn from_file(path: &Path) -> Result<Self> {
        Self::of(board_map::Boards::from_file(path)?).with_context(|| format!("{}", path.display()))
    }

    /// Parses the text of a `boards.toml` (see [`board_map::Boards::parse`]).
    pub fn parse(text: &str) -> Result<Self> {
        Self::of(board_map::Boards::parse(text)?)
    }

    fn of(boards: board_map::Boards) -> Result<Self> {
        let boards = boards.all().iter().cloned().map(Board::new);
        Ok(Self(boards.collect::<Result<_>>()?))
    }

    /// Runs every board's QEMU from `dir` instead of `PATH`.
    ///
    /// Errors: `dir` is not a directory.
    pub fn with_qemu_dir(mut self, dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            bail!("--qemu-dir {}: not a directory", dir.display());
        }
        for b in &mut self.0 {
            b.exe = dir.join(&b.spec.qemu);
        }
        Ok(self)
    }

    pub fn all(&self) -> &[Board] {
        &self.0
    }

    /// The board called `name`.
    pub fn get(&self, name: &str) -> Option<&Board> {
        self.0.iter().find(|b| b.name == name)
    }

    /// The `default = true` board of `arch`, if there is a board of it.
    pub fn default_of(&self, arch: Arch) -> Option<&Board> {
        self.0.iter().find(|b| b.arch == arch && b.default)
    }

    fn names(&self) -> Vec<&str> {
        self.0.iter().map(|b| b.name.as_str()).collect()
    }
}

/// `a, b, c`.
fn names(boards: &[&Board]) -> String {
    boards
        .iter()
        .map(|b| b.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
