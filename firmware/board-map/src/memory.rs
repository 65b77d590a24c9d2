//! A board's memory map: its flash and RAM regions, and the linker script
//! fragment generated from them.

use serde::Deserialize;

/// The section that names, in a linked image, the board it was built for
/// (the board's table name, as bytes, without a terminator). It is not
/// allocated, so it is in no `PT_LOAD` segment and costs no flash.
pub const BOARD_SECTION: &str = ".qemu_board";

/// A memory region: `origin` and `length` in bytes. Validated at load to be
/// non-empty and to end at or below 2^32.
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

    /// Non-empty and inside a 32-bit address space.
    pub(crate) fn is_valid(&self) -> bool {
        self.length > 0
            && self
                .origin
                .checked_add(self.length)
                .is_some_and(|end| end <= 1 << 32)
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

    /// The linker script fragment that defines `MEMORY` with the regions
    /// `FLASH` and `RAM` (GNU ld "MEMORY Command" syntax, which LLD reads
    /// too), for a board's link script to `INCLUDE`, and the
    /// [`BOARD_SECTION`] that names `board` in the image, an `INFO`
    /// (not allocated) output section of `BYTE` data (GNU ld "Output
    /// Section Type", "Output Section Data").
    pub fn memory_x(&self, board: &str) -> String {
        let bytes: Vec<String> = board.bytes().map(|b| format!("BYTE({b:#04x})")).collect();
        format!(
            "/* Generated from qemu/boards.toml (board.{board}.memory); do not edit. */\n\
             MEMORY\n{{\n  FLASH : ORIGIN = {:#x}, LENGTH = {:#x}\n  RAM : ORIGIN = {:#x}, LENGTH = {:#x}\n}}\n\
             /* The board this image is built for: \"{board}\". */\n\
             SECTIONS\n{{\n  {BOARD_SECTION} 0 (INFO) : {{ {} }}\n}}\n",
            self.flash.origin,
            self.flash.length,
            self.ram.origin,
            self.ram.length,
            bytes.join(" ")
        )
    }
}
