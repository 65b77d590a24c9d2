//! What the board crates share, so that a board crate holds only its
//! board's facts (UART, timer clock, memory map): [`board!`], which declares
//! the board type and its `kernel::Board`, and per architecture:
//!
//! - Cortex-M (`cortex_m`): the reset handler, which initialises RAM and
//!   enters the kernel, and [`cortex_m_vector_table!`], the vector table
//!   for a given number of device interrupts;
//! - RISC-V (`riscv`): `_start`, at the start of flash, which does the same
//!   and installs the kernel's trap vector;
//! - one link script per architecture (`link/arm.x`, `link/riscv32.x`),
//!   which `INCLUDE`s the `memory.x` that each board crate's build script
//!   generates from `qemu/boards.toml`.
//!
//! Everything is gated on the architecture, so that a workspace-wide build
//! for another target compiles this crate empty.
#![no_std]

#[doc(hidden)]
pub use kernel as __kernel;

#[cfg(target_arch = "arm")]
pub mod cortex_m;
#[cfg(target_arch = "riscv32")]
mod riscv;

/// Declares a board: the type `$board` and its [`kernel::Board`]
/// implementation, with the console UART `$console` (a
/// [`kernel::Console`]) and the tick timer's input clock `$timer_hz`, in Hz.
/// The board crate's documentation describes the board.
#[macro_export]
macro_rules! board {
    ($board:ident: console $console:ty, timer_hz $timer_hz:expr) => {
        #[doc = concat!("The board of this crate, `", stringify!($board), "` (see the crate docs).")]
        pub enum $board {}

        impl $crate::__kernel::Board for $board {
            type Console = $console;

            fn timer_hz() -> u32 {
                $timer_hz
            }
        }
    };
}
