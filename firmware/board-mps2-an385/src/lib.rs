//! Board support for the Arm MPS2 with the AN385 FPGA image (QEMU
//! `mps2-an385`, a Cortex-M3): its vector table, CMSDK APB UART0 as the
//! console and the SysTick clock, as [`kernel::Board`] for [`Mps2An385`].
//! Reset and the link script are `board-rt`'s.
//!
//! The memory map (`qemu/boards.toml`) is QEMU's `hw/arm/mps2.c` for the
//! AN385: ZBT SSRAM1 ("code", 4 MiB at 0x0000_0000, where QEMU's M-profile
//! loader reads the vector table) as flash, and ZBT SSRAM2&3 ("data",
//! 4 MiB at 0x2000_0000) as RAM. Both are RAM to QEMU.
//!
//! Images reach it through the `board` crate with its `mps2-an385`
//! feature. The crate is gated on the board's architecture, so that a
//! workspace-wide build for another target compiles it empty.
#![no_std]
#![cfg(target_arch = "arm")]

mod uart;

// AN385 device interrupts: 32 (`hw/arm/mps2.c`, `num-irq`).
board_rt::cortex_m_vector_table!(32);

/// SysTick input clock: the 25 MHz system clock (`SYSCLK_FRQ` in
/// QEMU's `hw/arm/mps2.c`, the CPU clock). The kernel selects the
/// processor clock as SysTick's source (CSR.CLKSOURCE = 1), not the
/// 1 MHz reference clock (`REFCLK_FRQ`).
const TIMER_HZ: u32 = 25_000_000;

board_rt::board!(Mps2An385: console uart::Uart0, timer_hz TIMER_HZ);
