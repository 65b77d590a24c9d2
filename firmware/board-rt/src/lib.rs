//! What the board crates of one architecture share, so that a board crate
//! holds only its board's facts (UART, timer clock, memory map):
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

#[cfg(target_arch = "arm")]
pub mod cortex_m;
#[cfg(target_arch = "riscv32")]
mod riscv;
