//! UART0, an ARM PrimeCell PL011 at 0x4000_C000 (PL011 TRM, 3.3): the
//! console. Polled: each byte waits while the transmit FIFO is full.
#![allow(unsafe_code)] // reason: UART0 (PL011) registers

use core::ptr::{read_volatile, write_volatile};

const BASE: usize = 0x4000_C000;
const DR: *mut u32 = BASE as *mut u32;
const FR: *const u32 = (BASE + 0x18) as *const u32;
const CR: *mut u32 = (BASE + 0x30) as *mut u32;
const FR_TXFF: u32 = 1 << 5;
const FR_BUSY: u32 = 1 << 3;
/// UARTEN | TXE | RXE.
const CR_ON: u32 = (1 << 0) | (1 << 8) | (1 << 9);

/// UART0.
pub enum Uart0 {}

impl kernel::Console for Uart0 {
    /// Enables the UART; its reset line settings are used as they are.
    fn init() {
        // SAFETY: UART0 control register, written once at boot.
        unsafe { write_volatile(CR, CR_ON) };
    }

    /// Writes `bytes`, each as soon as the transmit FIFO has room.
    fn write(bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: PL011 data and flag registers; a byte is written only
            // when the FIFO has room.
            unsafe {
                while read_volatile(FR) & FR_TXFF != 0 {}
                write_volatile(DR, u32::from(b));
            }
        }
    }

    /// Waits until the last byte has left the UART.
    fn flush() {
        // SAFETY: PL011 flag register; BUSY stays set until the last bit left.
        while unsafe { read_volatile(FR) } & FR_BUSY != 0 {}
    }
}
