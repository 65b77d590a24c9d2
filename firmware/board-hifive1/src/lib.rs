//! Board support for the SiFive HiFive1 Rev B (FE310-G002, RV32IMAC; QEMU
//! `sifive_e,revb=true`): `_start`, UART0 as the console and the CLINT
//! timer clock.
//!
//! An image depends on this crate and on `kernel`, and names its entry
//! point with [`entry!`].
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

/// Names the image's entry point, a `fn() -> !` that `_start` calls once
/// RAM is initialised and the console is up.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(export_name = "__firmware_main")]
        pub fn __firmware_main() -> ! {
            let main: fn() -> ! = $main;
            main()
        }
    };
}
