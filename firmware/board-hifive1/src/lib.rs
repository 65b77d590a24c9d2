//! Board support for the SiFive HiFive1 Rev B (FE310-G002, RV32IMAC; QEMU
//! `sifive_e,revb=true`): UART0 as the console and the CLINT timer clock,
//! as [`kernel::Board`] for [`HiFive1`]. `_start` and the link script are
//! `board-rt`'s.
//!
//! Images reach it through the `board` crate with its `sifive_e` feature.
//! Everything is gated on the board's architecture, so that a
//! workspace-wide build for another target compiles this crate empty.
#![no_std]
#![cfg(target_arch = "riscv32")]

mod uart;

/// CLINT `mtime` rate: the FE310's 32.768 kHz real-time clock
/// (FE310-G002 manual, CLINT chapter: `mtime` counts `rtcclk`).
///
/// QEMU `sifive_e` models this rate from QEMU 8.2.0 (and 8.1.4) on,
/// since commit a7472560ca5f ("riscv: Fix SiFive E CLINT clock
/// frequency", QEMU issue #1978). Older QEMU, such as Debian 12's 7.2,
/// clocks `mtime` at the ACLINT default of 10 MHz, so every tick there
/// is 305 times too short (33 counts: 3.3 us instead of 1.007 ms), and
/// a task that computes for a few thousand instructions misses its
/// next deadline (the `preempt` image then reports `high: woke at tick
/// 21 (asked 10)`). Hence `min_qemu = 8.2.0` for this board in
/// `qemu/boards.toml`, which the harness checks before it runs a test.
const TIMER_HZ: u32 = 32_768;

board_rt::board!(HiFive1: console uart::Uart0, timer_hz TIMER_HZ);
