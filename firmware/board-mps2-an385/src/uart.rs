//! UART0, an Arm CMSDK APB UART at 0x4000_4000 (`uartbase[0]` in QEMU's
//! `hw/arm/mps2.c`; registers as in `hw/char/cmsdk-apb-uart.c` and the
//! Cortex-M System Design Kit TRM, "APB UART"): the console. Polled: each
//! byte waits while STATE.TXFULL is set.
#![allow(unsafe_code)] // reason: UART0 (CMSDK APB UART) registers

use core::ptr::{read_volatile, write_volatile};

const BASE: usize = 0x4000_4000;
const DATA: *mut u32 = BASE as *mut u32;
const STATE: *const u32 = (BASE + 0x04) as *const u32;
const CTRL: *mut u32 = (BASE + 0x08) as *mut u32;
const BAUDDIV: *mut u32 = (BASE + 0x10) as *mut u32;
/// STATE.TXFULL: the one-byte transmit buffer is full.
const STATE_TXFULL: u32 = 1 << 0;
/// CTRL.TX_EN. The UART resets with it clear, and QEMU's model holds
/// every byte until it is set.
const CTRL_TX_EN: u32 = 1 << 0;
/// 25 MHz / 115 200 Bd. QEMU sends at any rate, but logs a guest error
/// for a divider below 16 when the transmitter is enabled.
const BAUDDIV_115200: u32 = 25_000_000 / 115_200;

/// UART0.
pub enum Uart0 {}

impl kernel::Console for Uart0 {
    /// Sets the baud rate divider, then enables the transmitter.
    fn init() {
        // SAFETY: UART0 baud divider and control, written once at boot.
        unsafe {
            write_volatile(BAUDDIV, BAUDDIV_115200);
            write_volatile(CTRL, CTRL_TX_EN);
        }
    }

    /// Writes `bytes`, each as soon as the transmit buffer is free.
    fn write(bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: UART0 data and state registers; a byte is written
            // only when the buffer is free.
            unsafe {
                while read_volatile(STATE) & STATE_TXFULL != 0 {}
                write_volatile(DATA, u32::from(b));
            }
        }
    }

    /// Waits until the last byte has left the buffer.
    fn flush() {
        // SAFETY: UART0 state register, read only.
        while unsafe { read_volatile(STATE) } & STATE_TXFULL != 0 {}
    }
}
