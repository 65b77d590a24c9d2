//! Board support for the TI Stellaris LM3S6965 evaluation board (QEMU
//! `lm3s6965evb`, a Cortex-M3): its vector table, UART0 as the console and
//! the SysTick clock, as [`kernel::Board`] for [`Lm3s6965evb`]. Reset and
//! the link script are `board-rt`'s.
//!
//! Images reach it through the `board` crate with its `lm3s6965evb`
//! feature. The crate is gated on the board's architecture, so that a
//! workspace-wide build for another target compiles it empty.
#![no_std]
#![cfg(target_arch = "arm")]

mod uart;

// LM3S6965 device interrupts: 43 (datasheet, table 2-9).
board_rt::cortex_m_vector_table!(43);

/// SysTick input clock: the system clock, 12.5 MHz under QEMU.
///
/// QEMU's `hw/arm/stellaris.c` derives the system clock from RCC as a
/// 200 MHz source divided by SYSDIV + 1 (`ssys_calculate_system_clock`);
/// RCC's reset value 0x078E_3AC0 has SYSDIV = 15, so 200 MHz / 16 =
/// 12.5 MHz (80 ns a count) until firmware writes RCC. The SoC does
/// not connect SysTick's reference clock ("This SoC does not connect
/// the systick reference clock"), so SysTick always counts this clock.
const TIMER_HZ: u32 = 12_500_000;

board_rt::board!(Lm3s6965evb: console uart::Uart0, timer_hz TIMER_HZ);
