//! The QEMU boards, read from `qemu/boards.toml`: target triple, QEMU command
//! line and memory map. Parsed once with `deny_unknown_fields` and validated;
//! [`Selector`] is the `--target`/`--board` value of `build`, `qemu` and
//! `size-check`, and [`Boards::for_elf`] tells which boards an ELF fits.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::elf::{self, Elf, Machine};
use crate::qemu::console::FailMarkers;
use crate::workspace::Workspace;

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
    memory: MemoryMap,
    /// Failure markers of the firmware this board runs (see `Board`).
    fail_regex: Option<Vec<String>>,
}

/// A memory region: `origin` and `length` in bytes.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Span {
    pub origin: u64,
    pub length: u64,
}

impl Span {
    /// One past the last byte (saturating).
    pub fn end(&self) -> u64 {
        self.origin.saturating_add(self.length)
    }

    /// Whether `[start, start + len)` lies wholly inside the region.
    pub fn contains(&self, start: u64, len: u64) -> bool {
        start >= self.origin && start.checked_add(len).is_some_and(|end| end <= self.end())
    }
}

/// A board's memory map, the same as its linker script's `MEMORY`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MemoryMap {
    pub flash: Span,
    pub ram: Span,
}

/// The two regions of a [`MemoryMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Region {
    Flash,
    Ram,
}

impl Region {
    /// `flash` or `ram`, as in `qemu/boards.toml` and the reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flash => "flash",
            Self::Ram => "ram",
        }
    }
}

impl MemoryMap {
    /// The span of `region`.
    pub fn span(&self, region: Region) -> Span {
        match region {
            Region::Flash => self.flash,
            Region::Ram => self.ram,
        }
    }

    /// The region holding address `addr`, if any.
    pub fn region_of(&self, addr: u64) -> Option<Region> {
        [Region::Flash, Region::Ram]
            .into_iter()
            .find(|&r| self.span(r).contains(addr, 1))
    }
}

/// One QEMU board: `name` is QEMU's machine name, `alias` the short name
/// (`arm`, `riscv`) accepted on the command line.
#[derive(Debug, Clone)]
pub struct Board {
    pub name: String,
    pub alias: String,
    pub target: String,
    pub qemu: String,
    pub args: Vec<String>,
    memory: MemoryMap,
    /// `fail_regex`: guest lines that fail a run on this board, replacing
    /// the harness's defaults unless the manifest or the test sets its own.
    pub fail_regex: Option<FailMarkers>,
}

impl Board {
    /// The flash and RAM regions (bytes), as the board's linker script has them.
    pub fn memory_map(&self) -> &MemoryMap {
        &self.memory
    }

    /// The `e_machine` of the images this board runs, from its triple.
    pub fn machine(&self) -> Option<Machine> {
        Machine::of_triple(&self.target)
    }
}

/// Which boards a command works on: `all`, or one alias (`arm`), target
/// triple or board name. Resolved against `qemu/boards.toml` by
/// [`Boards::select`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selector {
    #[default]
    All,
    Named(String),
}

impl FromStr for Selector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "" => Err("empty board selector; use all, an alias, a triple or a board name".into()),
            "all" => Ok(Self::All),
            name => Ok(Self::Named(name.to_owned())),
        }
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::Named(n) => f.write_str(n),
        }
    }
}

/// The board option shared by `build`, `qemu` and `size-check`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BoardArgs {
    /// `arm`, `riscv`, `all`, a target triple or a board name [default: all;
    /// with `--elf`: the board whose memory map holds the ELF's segments].
    #[arg(long = "target", visible_alias = "board", value_name = "BOARD")]
    pub target: Option<Selector>,
}

impl BoardArgs {
    /// The selector, `all` when none was given.
    pub fn selector(&self) -> Selector {
        self.target.clone().unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct Boards(Vec<Board>);

impl Boards {
    /// Reads `qemu/boards.toml` from the workspace.
    pub fn load(ws: &Workspace) -> Result<Self> {
        Self::from_file(&ws.qemu_dir().join("boards.toml"))
    }

    /// Errors name the file with line and column for TOML and schema errors,
    /// and the board for a region that overflows or duplicate aliases.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid board file {}", path.display()))
    }

    /// Parses the text of a `boards.toml`.
    ///
    /// Errors: TOML or schema errors (with line and column), a region that
    /// does not fit a 32-bit address space, an alias or triple used twice,
    /// a `fail_regex` that is not a regex, or no board at all.
    pub fn parse(text: &str) -> Result<Self> {
        let file: BoardsFile = toml::from_str(text)?;
        let mut boards: Vec<Board> = Vec::new();
        for (name, e) in file.board {
            for region in [Region::Flash, Region::Ram] {
                let r = e.memory.span(region);
                if r.length == 0
                    || r.origin
                        .checked_add(r.length)
                        .is_none_or(|end| end > 1 << 32)
                {
                    bail!(
                        "board `{name}`: memory.{} does not fit a 32-bit address space",
                        region.name()
                    );
                }
            }
            if boards
                .iter()
                .any(|b| b.alias == e.alias || b.target == e.target)
            {
                bail!(
                    "board `{name}`: alias `{}` or target `{}` is used twice",
                    e.alias,
                    e.target
                );
            }
            let fail_regex = e
                .fail_regex
                .map(|p| FailMarkers::compile(&p))
                .transpose()
                .map_err(|err| anyhow::anyhow!("board `{name}`: {err}"))?;
            boards.push(Board {
                name,
                alias: e.alias,
                target: e.target,
                qemu: e.qemu,
                args: e.args,
                memory: e.memory,
                fail_regex,
            });
        }
        if boards.is_empty() {
            bail!("no [board.*] table");
        }
        Ok(Self(boards))
    }

    pub fn all(&self) -> &[Board] {
        &self.0
    }

    /// The board called `name`.
    pub fn get(&self, name: &str) -> Option<&Board> {
        self.0.iter().find(|b| b.name == name)
    }

    /// Resolves `all`, an alias (`arm`), a triple (`thumbv7m-none-eabi`) or a
    /// board name (`lm3s6965evb`).
    ///
    /// Errors: an unknown selector, with the list of valid ones.
    pub fn select(&self, selector: &Selector) -> Result<Vec<&Board>> {
        let Selector::Named(name) = selector else {
            return Ok(self.0.iter().collect());
        };
        let found: Vec<&Board> = self
            .0
            .iter()
            .filter(|b| [&b.alias, &b.target, &b.name].contains(&name))
            .collect();
        if found.is_empty() {
            let valid: Vec<&str> = self
                .0
                .iter()
                .flat_map(|b| [b.alias.as_str(), b.target.as_str(), b.name.as_str()])
                .chain(["all"])
                .collect();
            bail!(
                "unknown target `{name}`; valid targets: {}",
                valid.join(", ")
            );
        }
        Ok(found)
    }

    /// The boards that run `elf`: same `e_machine`, and a memory map that
    /// holds every `PT_LOAD` segment (see [`elf::place_segments`]).
    pub fn for_elf(&self, elf: &Elf<'_>) -> Vec<&Board> {
        self.0
            .iter()
            .filter(|b| b.machine() == Some(elf.machine))
            .filter(|b| elf::place_segments(elf, b.memory_map()).is_ok())
            .collect()
    }

    /// The one board for `elf` when none is named: the only board of
    /// [`Boards::for_elf`].
    ///
    /// Errors: no board fits (with the segment that does not fit, when one
    /// board has the ELF's `e_machine`), or several do.
    pub fn board_for_elf(&self, elf: &Elf<'_>) -> Result<&Board> {
        let machine = elf.machine.name();
        match self.for_elf(elf).as_slice() {
            [one] => return Ok(one),
            [] => {}
            many => bail!(
                "the memory maps of several boards hold this {machine} image ({}); pick one with --target",
                names(many)
            ),
        }
        let same: Vec<&Board> = self
            .0
            .iter()
            .filter(|b| b.machine() == Some(elf.machine))
            .collect();
        if let [one] = same.as_slice()
            && let Err(e) = elf::place_segments(elf, one.memory_map())
        {
            bail!("{e} on board {}", one.name);
        }
        if same.is_empty() {
            bail!("no board in qemu/boards.toml runs {machine} images");
        }
        bail!(
            "no {machine} board's memory map holds every PT_LOAD segment (tried {}); pick one with --target",
            names(&same)
        )
    }

    /// The one board `selector` names for `elf`, as `--elf` with `--target`
    /// takes it: it must name a single board, and that board must run the
    /// ELF's `e_machine`.
    ///
    /// Errors: an unknown selector, one naming several boards, or a board
    /// of another architecture.
    pub fn board_for_elf_named(&self, selector: &Selector, elf: &Elf<'_>) -> Result<&Board> {
        let found = self.select(selector)?;
        let [board] = found.as_slice() else {
            bail!(
                "--target `{selector}` selects {} boards ({}); name one board for --elf",
                found.len(),
                names(&found)
            );
        };
        if board.machine() != Some(elf.machine) {
            bail!(
                "the ELF is {} but board `{}` is {}",
                elf.machine.name(),
                board.name,
                board.target
            );
        }
        Ok(board)
    }
}

fn names(boards: &[&Board]) -> String {
    boards
        .iter()
        .map(|b| b.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked_in() -> Boards {
        Boards::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu/boards.toml"))
            .expect("qemu/boards.toml parses")
    }

    fn sel(s: &str) -> Selector {
        s.parse().unwrap()
    }

    #[test]
    fn selects_by_alias_triple_and_name() {
        let boards = checked_in();
        for s in ["arm", "thumbv7m-none-eabi", "lm3s6965evb"] {
            let b = boards.select(&sel(s)).unwrap();
            assert_eq!(b.len(), 1);
            assert_eq!(b[0].name, "lm3s6965evb");
        }
        assert_eq!(
            boards.select(&sel("all")).unwrap().len(),
            boards.all().len()
        );
        assert!("".parse::<Selector>().is_err());
    }

    #[test]
    fn unknown_target_lists_valid_ones() {
        let err = checked_in().select(&sel("mips")).unwrap_err().to_string();
        assert!(
            err.contains("mips")
                && err.contains("riscv32imac-unknown-none-elf")
                && err.contains("arm"),
            "{err}"
        );
    }

    #[test]
    fn typo_is_reported_with_line_and_column() {
        let text =
            "[board.x]\nalias = \"a\"\ntarget = \"t\"\nqemu = \"q\"\nargs = []\nmemroy = 1\n";
        let err = format!("{:#}", Boards::parse(text).unwrap_err());
        assert!(err.contains("line 6") && err.contains("memroy"), "{err}");
    }

    #[test]
    fn memory_map_regions() {
        let boards = checked_in();
        let map = boards.get("sifive_e").unwrap().memory_map();
        assert_eq!(map.region_of(0x8000_0000), Some(Region::Ram));
        assert_eq!(map.region_of(0x2001_0000), Some(Region::Flash));
        assert_eq!(map.region_of(0), None);
        assert!(!map.flash.contains(u64::MAX, 2), "no overflow");
    }
}
