//! UART0 of QEMU `virt`, an NS16550A at 0x1000_0000 with byte-wide
//! registers (`serial_mm_init` with `regshift` 0 in `hw/riscv/virt.c`;
//! registers per `hw/char/serial.c` and the NS16550A data sheet): the
//! console. Polled: each byte waits for LSR.THRE.
#![allow(unsafe_code)] // reason: UART0 (NS16550A) registers

use core::ptr::{read_volatile, write_volatile};

const BASE: usize = 0x1000_0000;
/// Transmit holding register (write, with LCR.DLAB = 0 as at reset).
const THR: *mut u8 = BASE as *mut u8;
/// Line status register.
const LSR: *const u8 = (BASE + 5) as *const u8;
/// LSR.THRE: the transmit holding register is empty.
const LSR_THRE: u8 = 1 << 5;
/// LSR.TEMT: the holding and shift registers are both empty.
const LSR_TEMT: u8 = 1 << 6;

/// UART0.
pub enum Uart0 {}

impl kernel::Console for Uart0 {
    /// Nothing to do: the reset state (LCR.DLAB = 0, no loopback)
    /// transmits, and QEMU ignores the line settings.
    fn init() {}

    /// Writes `bytes`, each as soon as the holding register is empty.
    fn write(bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: UART0 holding and line status registers; a byte is
            // written only when the holding register is empty.
            unsafe {
                while read_volatile(LSR) & LSR_THRE == 0 {}
                write_volatile(THR, b);
            }
        }
    }

    /// Waits until the last byte has left the shift register.
    fn flush() {
        // SAFETY: UART0 line status register, read only.
        while unsafe { read_volatile(LSR) } & LSR_TEMT == 0 {}
    }
}
