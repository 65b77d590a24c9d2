//! Board support for the SiFive HiFive1 Rev B (FE310-G002, RV32IMAC; QEMU
//! `sifive_e,revb=true`): `_start`, UART0 as the console and the CLINT
//! timer clock.
//!
//! Images reach it through the `board` crate, whose `entry!` names the
//! `__firmware_main` that the startup code calls.
//! Everything is gated on the board's architecture, so that a
//! workspace-wide build for another target compiles this crate empty.
#![no_std]

#[cfg(target_arch = "riscv32")]
mod startup;
#[cfg(target_arch = "riscv32")]
mod uart;

/// CLINT `mtime` rate in Hz: the FE310's 32.768 kHz real-time clock
/// (QEMU `sifive_e` models the same rate).
#[cfg(target_arch = "riscv32")]
#[unsafe(no_mangle)]
pub static __BOARD_TIMER_HZ: u32 = 32_768;
