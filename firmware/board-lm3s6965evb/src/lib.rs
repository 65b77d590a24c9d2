//! Board support for the TI Stellaris LM3S6965 evaluation board (QEMU
//! `lm3s6965evb`, a Cortex-M3): the vector table, the reset handler, UART0
//! as the console and the SysTick clock.
//!
//! Images reach it through the `board` crate, whose `entry!` names the
//! `__firmware_main` that the startup code calls.
//! Everything is gated on the board's architecture, so that a
//! workspace-wide build for another target compiles this crate empty.
#![no_std]

#[cfg(target_arch = "arm")]
mod startup;
#[cfg(target_arch = "arm")]
mod uart;

/// SysTick input clock in Hz. QEMU runs the LM3S6965 core at the 12 MHz
/// of its default clock configuration (RCC reset value, main oscillator
/// without PLL).
#[cfg(target_arch = "arm")]
#[unsafe(no_mangle)]
pub static __BOARD_TIMER_HZ: u32 = 12_000_000;
