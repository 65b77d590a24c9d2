//! Whether the QEMU that runs a board is new enough for it: each distinct
//! executable's `--version` is read once per run and compared with the
//! boards' `min_qemu`, before any test runs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use xshell::{Shell, cmd};

use super::{Board, QemuVersion};
use crate::cmd::first_line;

/// How to get a QEMU that every board accepts; the same words as
/// `cargo xtask setup` and the README's "Supported QEMU".
pub const HOW_TO_UPGRADE: &str = "get a newer QEMU with `cargo xtask setup` (on Debian 12 it \
     installs QEMU 10.0 from bookworm-backports: `apt-get install -t bookworm-backports \
     --no-install-recommends qemu-system-arm qemu-system-riscv`), or leave the board out with --board";

/// The first `--version` line of each QEMU executable, once per run.
#[derive(Debug, Clone, Default)]
pub struct Installed(BTreeMap<PathBuf, Option<String>>);

impl Installed {
    /// Runs `<qemu> --version` once for each distinct executable of
    /// `boards`; one that cannot run is recorded as not installed.
    pub fn read(boards: &[&Board]) -> Self {
        let sh = Shell::new().ok();
        let mut found = BTreeMap::new();
        for b in boards {
            let exe = b.qemu_exe().to_path_buf();
            if found.contains_key(&exe) {
                continue;
            }
            let line = sh.as_ref().and_then(|sh| banner(sh, &exe));
            found.insert(exe, line);
        }
        Self(found)
    }

    /// The version line of `board`'s QEMU, `None` when it cannot run.
    pub fn banner(&self, board: &Board) -> Option<&str> {
        self.0.get(board.qemu_exe()).and_then(|l| l.as_deref())
    }

    /// The version of `board`'s QEMU, if it runs and says one.
    pub fn version(&self, board: &Board) -> Option<QemuVersion> {
        self.banner(board).and_then(QemuVersion::from_banner)
    }

    /// Each executable's version line (or `not installed`), by its name as
    /// the boards give it, for the reports.
    pub fn by_name(&self, boards: &[&Board]) -> BTreeMap<String, String> {
        boards
            .iter()
            .map(|b| {
                let line = self.banner(b).unwrap_or("not installed").to_string();
                (b.qemu.clone(), line)
            })
            .collect()
    }

    /// The boards whose `min_qemu` is above the version of their QEMU.
    /// A QEMU that is missing or says no version is not refused here: the
    /// run then reports it as it does today.
    pub fn too_old<'a>(&self, boards: &[&'a Board]) -> Vec<TooOld<'a>> {
        boards
            .iter()
            .filter_map(|&board| {
                let min = board.min_qemu.as_ref()?;
                let found = self.version(board)?;
                (found < min.version).then_some(TooOld { board, found })
            })
            .collect()
    }
}

fn banner(sh: &Shell, exe: &Path) -> Option<String> {
    first_line(cmd!(sh, "{exe} --version"))
}

/// A board whose QEMU is older than its `min_qemu`.
#[derive(Debug, Clone)]
pub struct TooOld<'a> {
    pub board: &'a Board,
    pub found: QemuVersion,
}

impl TooOld<'_> {
    /// The status of a case refused for it: `QEMU 7.2.22 < 8.2.0 (reason)`.
    pub fn status(&self) -> String {
        let min = self.min();
        format!("QEMU {} < {} ({})", self.found, min.version, min.reason)
    }

    fn min(&self) -> &super::MinQemu {
        self.board
            .min_qemu
            .as_ref()
            .expect("only boards with a min_qemu are too old")
    }
}

impl fmt::Display for TooOld<'_> {
    /// The refusal: the board, the version found, the minimum, the reason
    /// and how to get a newer QEMU.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let min = self.min();
        write!(
            f,
            "board {} needs QEMU {} or newer, and {} is QEMU {}: {}; {HOW_TO_UPGRADE}",
            self.board.name,
            min.version,
            self.board.qemu_exe().display(),
            self.found,
            min.reason
        )
    }
}
