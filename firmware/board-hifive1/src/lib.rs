//! Board support for the SiFive HiFive1 Rev B (FE310-G002, RV32IMAC; QEMU
//! `sifive_e,revb=true`): `_start`, UART0 as the console and the CLINT
//! timer clock, as [`kernel::Board`] for [`HiFive1`].
//!
//! Images reach it through the `board` crate with its `sifive_e` feature.
//! Everything is gated on the board's architecture, so that a
//! workspace-wide build for another target compiles this crate empty.
#![no_std]

#[cfg(target_arch = "riscv32")]
mod startup;
#[cfg(target_arch = "riscv32")]
mod uart;

/// The HiFive1 Rev B.
#[cfg(target_arch = "riscv32")]
pub enum HiFive1 {}

#[cfg(target_arch = "riscv32")]
impl kernel::Board for HiFive1 {
    /// CLINT `mtime` rate: the FE310's 32.768 kHz real-time clock
    /// (FE310-G002 manual, CLINT chapter: `mtime` counts `rtcclk`).
    ///
    /// QEMU `sifive_e` models this rate from QEMU 8.2.0 (and 8.1.4) on,
    /// since commit a7472560ca5f ("riscv: Fix SiFive E CLINT clock
    /// frequency", QEMU issue #1978). Older QEMU, such as Debian 12's 7.2,
    /// clocks `mtime` at the ACLINT default of 10 MHz, so every tick there
    /// is 305 times too short: under `-icount shift=0` a tick lasts 3,300
    /// instructions instead of about a million, and a task that computes
    /// for a few thousand instructions misses its next deadline (the
    /// `preempt` image then reports `high: woke at tick 21 (asked 10)`).
    fn timer_hz() -> u32 {
        32_768
    }

    fn console_write(bytes: &[u8]) {
        uart::write(bytes);
    }

    fn console_flush() {
        uart::flush();
    }

    fn exit(code: u32) -> ! {
        kernel::semihosting_exit(code)
    }
}
