//! Board support for the TI Stellaris LM3S6965 evaluation board (QEMU
//! `lm3s6965evb`, a Cortex-M3): the vector table, the reset handler, UART0
//! as the console and the SysTick clock, as [`kernel::Board`] for
//! [`Lm3s6965evb`].
//!
//! Images reach it through the `board` crate with its `lm3s6965evb`
//! feature. Everything is gated on the board's architecture, so that a
//! workspace-wide build for another target compiles this crate empty.
#![no_std]

#[cfg(target_arch = "arm")]
mod startup;
#[cfg(target_arch = "arm")]
mod uart;

/// The LM3S6965 evaluation board.
#[cfg(target_arch = "arm")]
pub enum Lm3s6965evb {}

#[cfg(target_arch = "arm")]
impl kernel::Board for Lm3s6965evb {
    /// SysTick input clock: QEMU runs the LM3S6965 core at the 12 MHz of
    /// its default clock configuration (RCC reset value, main oscillator
    /// without PLL).
    fn timer_hz() -> u32 {
        12_000_000
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
