//! Fuzzes the ELF reader of the xtask library (`Elf::parse`, the accounting
//! and the symbols) against every board of `qemu/boards.toml`: any input
//! must give `Ok` or `Err`, never a panic, an abort, a hang or an
//! out-of-memory.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use xtask::boards::{BoardArgs, Boards};
use xtask::elf::{self, Elf};

/// The boards, parsed from the checked-in file at start-up.
static BOARDS: LazyLock<Boards> = LazyLock::new(|| {
    Boards::parse(include_str!("../../qemu/boards.toml")).expect("qemu/boards.toml parses")
});

fuzz_target!(|data: &[u8]| {
    let Ok(elf) = Elf::parse(data) else {
        return;
    };
    for board in BOARDS.all() {
        let map = board.memory_map();
        if let Ok(usage) = elf::account(&elf, map) {
            // Totals are sums of the per-segment figures.
            let flash: u64 = usage.segments.iter().map(|s| s.flash).sum();
            assert_eq!(flash, usage.flash_bytes);
        }
        let _ = elf.symbols(map);
    }
    let _ = BOARDS.board_for_elf(&BoardArgs::default(), &elf);
    let _ = elf.section_data(".qemu_board");
});
