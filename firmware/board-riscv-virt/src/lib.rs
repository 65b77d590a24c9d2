//! Board support for QEMU's RISC-V `virt` machine, 32-bit (`-machine virt`
//! of `qemu-system-riscv32` with `-bios none`): NS16550A UART0 as the
//! console and the CLINT timer clock, as [`kernel::Board`] for
//! [`RiscvVirt`]. `_start` and the link script are `board-rt`'s.
//!
//! Facts from QEMU's `hw/riscv/virt.c` (`virt_memmap[]`): DRAM at
//! 0x8000_0000 (128 MiB by default), where the reset vector in MROM jumps
//! when `-bios none` loads no firmware, so the image starts there; the
//! SiFive-compatible CLINT at 0x0200_0000 (mtimecmp of hart 0 at
//! 0x0200_4000, mtime at 0x0200_BFF8, the addresses the kernel's RV32 port
//! uses); UART0 at 0x1000_0000.
//!
//! Images reach it through the `board` crate with its `virt` feature.
//! Everything is gated on the board's architecture, so that a
//! workspace-wide build for another target compiles this crate empty.
#![no_std]
#![cfg(target_arch = "riscv32")]

mod uart;

/// CLINT `mtime` rate: 10 MHz, `RISCV_ACLINT_DEFAULT_TIMEBASE_FREQ`
/// (QEMU's `include/hw/intc/riscv_aclint.h`), which `hw/riscv/virt.c`
/// gives the machine timer and writes to the device tree as
/// `timebase-frequency`; the same in every QEMU release since 7.0.
const TIMER_HZ: u32 = 10_000_000;

board_rt::board!(RiscvVirt: console uart::Uart0, timer_hz TIMER_HZ);
