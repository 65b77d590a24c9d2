//! Which boards a command works on (`--board`, `--target`), and which board
//! an ELF runs on: the one whose memory map holds every `PT_LOAD` segment.

use std::collections::BTreeSet;
use std::str::FromStr;

use anyhow::{Result, bail};

use super::{Arch, Board, Boards, names};
use crate::elf::{self, Elf};

/// A `--target` value: `all`, an architecture (`arm`, `riscv`), or a
/// target triple; a board name is accepted too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selector {
    #[default]
    All,
    Arch(Arch),
    /// A target triple or a board name.
    Named(String),
}

impl FromStr for Selector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "" => Err("empty target; use all, arm, riscv or a target triple".into()),
            "all" => Ok(Self::All),
            name => {
                Ok(Arch::from_name(name).map_or_else(|| Self::Named(name.to_owned()), Self::Arch))
            }
        }
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::Arch(a) => f.write_str(a.name()),
            Self::Named(n) => f.write_str(n),
        }
    }
}

/// The board options shared by `build`, `qemu` and `size-check`. Both may
/// be given; the boards of either are selected. With neither: every board,
/// or with `--elf`, the board whose memory map holds the ELF.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BoardArgs {
    /// Every board of this architecture (`arm`, `riscv`) or target triple,
    /// or `all` [default: all].
    #[arg(long = "target", value_name = "ARCH|TRIPLE")]
    pub target: Option<Selector>,
    /// This board, by its name in qemu/boards.toml (repeatable).
    #[arg(long = "board", value_name = "NAME")]
    pub board: Vec<String>,
}

impl BoardArgs {
    /// The boards named `names`, as `--board` gives them.
    pub fn named(names: &[&str]) -> Self {
        Self {
            target: None,
            board: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    /// Neither option was given.
    pub fn is_empty(&self) -> bool {
        self.target.is_none() && self.board.is_empty()
    }
}

impl Boards {
    /// The boards of `--target` and `--board`, sorted by name; every board
    /// when neither is given.
    ///
    /// Errors: an unknown target or board name, with the valid ones.
    pub fn select(&self, args: &BoardArgs) -> Result<Vec<&Board>> {
        if args.is_empty() {
            return Ok(self.0.iter().collect());
        }
        let mut picked: BTreeSet<&str> = BTreeSet::new();
        if let Some(target) = &args.target {
            picked.extend(self.matching(target)?.iter().map(|b| b.name.as_str()));
        }
        for name in &args.board {
            let Some(board) = self.get(name) else {
                bail!(
                    "unknown board `{name}`; the boards of qemu/boards.toml are: {}",
                    self.names().join(", ")
                );
            };
            picked.insert(&board.name);
        }
        Ok(self
            .0
            .iter()
            .filter(|b| picked.contains(b.name.as_str()))
            .collect())
    }

    fn matching(&self, target: &Selector) -> Result<Vec<&Board>> {
        let found: Vec<&Board> = self
            .0
            .iter()
            .filter(|b| match target {
                Selector::All => true,
                Selector::Arch(a) => b.arch == *a,
                Selector::Named(n) => b.target == *n || b.name == *n,
            })
            .collect();
        if found.is_empty() {
            let mut valid: BTreeSet<&str> = ["all", "arm", "riscv"].into();
            valid.extend(self.0.iter().map(|b| b.target.as_str()));
            bail!(
                "unknown target `{target}`; valid targets: {} (or a board: --board {})",
                valid.into_iter().collect::<Vec<_>>().join(", "),
                self.names().join("|")
            );
        }
        Ok(found)
    }

    /// The boards that run `elf`: same `e_machine`, and a memory map that
    /// holds every `PT_LOAD` segment (see [`elf::place_segments`]).
    pub fn for_elf(&self, elf: &Elf<'_>) -> Vec<&Board> {
        self.0.iter().filter(|b| fits(b, elf).is_ok()).collect()
    }

    /// Checks, before booting, that `board` runs `elf`: its `e_machine`,
    /// and every `PT_LOAD` segment inside the board's memory map.
    ///
    /// Errors: the first segment that lies outside, with the board and the
    /// boards whose memory maps would hold the ELF.
    pub fn check_fits(&self, board: &Board, elf: &Elf<'_>) -> Result<()> {
        let Err(why) = fits(board, elf) else {
            return Ok(());
        };
        let others = self.for_elf(elf);
        let hint = match others.as_slice() {
            [] => "no board's memory map holds it".to_string(),
            [one] => format!("it fits {0} (--board {0})", one.name),
            many => format!("it fits {}", names(many)),
        };
        bail!("{why} on board {}; {hint}", board.name)
    }

    /// The board to run or account `elf` on, among the selected ones (all
    /// when `args` is empty): one named alone is checked with
    /// [`Boards::check_fits`]; otherwise the one whose memory map holds
    /// every segment. Where several do, the board the image names (the
    /// `.qemu_board` section that the board crates' `memory.x` adds), else
    /// the default board of its architecture.
    ///
    /// Errors: no selected board of the ELF's `e_machine`; it does not fit
    /// the board named; no selected board fits (with each one's first
    /// segment outside); several fit and neither rule picks one.
    pub fn board_for_elf(&self, args: &BoardArgs, elf: &Elf<'_>) -> Result<&Board> {
        let machine = elf.machine.name();
        let all = self.select(args)?;
        let selected: Vec<&Board> = all
            .iter()
            .copied()
            .filter(|b| b.machine() == elf.machine)
            .collect();
        if let ([named], true) = (all.as_slice(), selected.is_empty()) {
            bail!(
                "the ELF is {machine} but board `{}` is {}",
                named.name,
                named.target
            );
        }
        if let ([one], false) = (selected.as_slice(), args.is_empty()) {
            self.check_fits(one, elf)?;
            return Ok(one);
        }
        let fitting: Vec<&Board> = selected
            .iter()
            .copied()
            .filter(|b| fits(b, elf).is_ok())
            .collect();
        match fitting.as_slice() {
            [one] => return Ok(one),
            [] if selected.is_empty() => bail!(
                "no selected board runs {machine} images (selected: {})",
                names(&all)
            ),
            [] => {
                let why: Vec<String> = selected
                    .iter()
                    .filter_map(|b| fits(b, elf).err().map(|e| format!("on {}: {e}", b.name)))
                    .collect();
                bail!(
                    "no {machine} board's memory map holds every PT_LOAD segment:\n  {}",
                    why.join("\n  ")
                );
            }
            _ => {}
        }
        let named = elf
            .section_data(board_map::BOARD_SECTION)
            .map(|n| String::from_utf8_lossy(n).into_owned());
        let default = self.default_of(selected[0].arch).map(|b| b.name.clone());
        for choice in [named, default].into_iter().flatten() {
            if let Some(b) = fitting.iter().find(|b| b.name == choice) {
                return Ok(b);
            }
        }
        bail!(
            "the memory maps of several boards hold this {machine} image ({}); pick one with --board",
            names(&fitting)
        )
    }
}

/// Why `board` cannot run `elf`, if it cannot.
fn fits(board: &Board, elf: &Elf<'_>) -> Result<(), String> {
    if board.machine() != elf.machine {
        return Err(format!(
            "the ELF is {}, not {}",
            elf.machine.name(),
            board.machine().name()
        ));
    }
    elf::place_segments(elf, board.memory_map())
        .map(|_| ())
        .map_err(|e| e.to_string())
}
