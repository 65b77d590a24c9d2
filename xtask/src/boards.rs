//! The QEMU boards, read from `qemu/boards.toml`: target triple, QEMU command
//! line and memory map. Parsed once with `deny_unknown_fields` and validated.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

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
    memory: Memory,
}

/// A board's memory map, the same as its linker script's `MEMORY`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    pub flash: Region,
    pub ram: Region,
}

/// A memory region: `origin` and `length` in bytes.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub origin: u64,
    pub length: u64,
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
    pub memory: Memory,
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

    fn parse(text: &str) -> Result<Self> {
        let file: BoardsFile = toml::from_str(text)?;
        let mut boards = Vec::new();
        for (name, e) in file.board {
            for (region, r) in [("flash", e.memory.flash), ("ram", e.memory.ram)] {
                if r.length == 0
                    || r.origin
                        .checked_add(r.length)
                        .is_none_or(|end| end > 1 << 32)
                {
                    bail!("board `{name}`: memory.{region} does not fit a 32-bit address space");
                }
            }
            if boards
                .iter()
                .any(|b: &Board| b.alias == e.alias || b.target == e.target)
            {
                bail!(
                    "board `{name}`: alias `{}` or target `{}` is used twice",
                    e.alias,
                    e.target
                );
            }
            boards.push(Board {
                name,
                alias: e.alias,
                target: e.target,
                qemu: e.qemu,
                args: e.args,
                memory: e.memory,
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

    /// Resolves `all`, an alias (`arm`), a triple (`thumbv7m-none-eabi`) or a
    /// board name (`lm3s6965evb`).
    ///
    /// Errors: an unknown selector, with the list of valid ones.
    pub fn select(&self, selector: &str) -> Result<Vec<&Board>> {
        if selector == "all" {
            return Ok(self.0.iter().collect());
        }
        let found: Vec<&Board> = self
            .0
            .iter()
            .filter(|b| b.alias == selector || b.target == selector || b.name == selector)
            .collect();
        if found.is_empty() {
            let valid: Vec<String> = self
                .0
                .iter()
                .flat_map(|b| [b.alias.clone(), b.target.clone(), b.name.clone()])
                .chain(["all".to_string()])
                .collect();
            bail!(
                "unknown target `{selector}`; valid targets: {}",
                valid.join(", ")
            );
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked_in() -> Boards {
        Boards::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu/boards.toml"))
            .expect("qemu/boards.toml parses")
    }

    #[test]
    fn selects_by_alias_triple_and_name() {
        let boards = checked_in();
        for sel in ["arm", "thumbv7m-none-eabi", "lm3s6965evb"] {
            let b = boards.select(sel).unwrap();
            assert_eq!(b.len(), 1);
            assert_eq!(b[0].name, "lm3s6965evb");
        }
        assert_eq!(boards.select("all").unwrap().len(), boards.all().len());
    }

    #[test]
    fn unknown_target_lists_valid_ones() {
        let err = checked_in().select("mips").unwrap_err().to_string();
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
}
