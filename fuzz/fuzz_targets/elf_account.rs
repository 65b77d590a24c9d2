//! Fuzzes the ELF accounting entry points of `cargo xtask size-check`
//! (`account` and `symbols`): any input must give `Ok` or `Err`, never a
//! panic, an abort, a hang or an out-of-memory.

#![no_main]

use libfuzzer_sys::fuzz_target;

// The module xtask compiles, by path: it depends on `std` and `object` only.
#[allow(dead_code)]
#[path = "../../xtask/src/size/elf.rs"]
mod elf;

/// The memory maps of the two boards in `qemu/boards.toml`.
const MAPS: [elf::MemoryMap; 2] = [
    elf::MemoryMap {
        flash: elf::Span {
            origin: 0x0000_0000,
            length: 0x4_0000,
        },
        ram: elf::Span {
            origin: 0x2000_0000,
            length: 0x1_0000,
        },
    },
    elf::MemoryMap {
        flash: elf::Span {
            origin: 0x2001_0000,
            length: 0x3F_0000,
        },
        ram: elf::Span {
            origin: 0x8000_0000,
            length: 0x4000,
        },
    },
];

fuzz_target!(|data: &[u8]| {
    let _ = elf::machine(data);
    for map in &MAPS {
        if let Ok(usage) = elf::account(data, map) {
            // Totals are sums of the per-segment figures.
            let flash: u64 = usage.segments.iter().map(|s| s.flash).sum();
            assert_eq!(flash, usage.flash_bytes);
        }
        let _ = elf::symbols(data, map);
    }
});
