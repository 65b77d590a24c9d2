//! UART0 of the FE310 at 0x1001_3000 (FE310-G002 manual, chapter 18): the
//! console. Polled: each byte waits while `txdata.full` is set.

use core::ptr::{read_volatile, write_volatile};

const BASE: usize = 0x1001_3000;
const TXDATA: *mut u32 = BASE as *mut u32;
const TXCTRL: *mut u32 = (BASE + 0x08) as *mut u32;
const IP: *const u32 = (BASE + 0x14) as *const u32;
const TXDATA_FULL: u32 = 1 << 31;
/// txen, and a transmit watermark of 1 (txcnt, bits 18:16): `ip.txwm` is
/// set exactly while the transmit FIFO is empty.
const TXCTRL_ON: u32 = 1 | (1 << 16);
const IP_TXWM: u32 = 1;

/// Enables the transmitter.
pub(crate) fn init() {
    // SAFETY: UART0 transmit control, written once at boot.
    unsafe { write_volatile(TXCTRL, TXCTRL_ON) };
}

#[unsafe(no_mangle)]
pub fn __board_console_write(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: UART0 txdata; a byte is written only when it has room.
        unsafe {
            while read_volatile(TXDATA) & TXDATA_FULL != 0 {}
            write_volatile(TXDATA, u32::from(b));
        }
    }
}

/// Spin iterations covering the drain delay of QEMU's model, which sends
/// its FIFO 100 ns of virtual time after a write (100 instructions under
/// `-icount shift=0`) and, in QEMU 10.0, sets `ip.txwm` from `txcnt` alone.
const DRAIN_SPINS: u32 = 2000;

#[unsafe(no_mangle)]
pub fn __board_console_flush() {
    // SAFETY: UART0 interrupt-pending register, read only.
    while unsafe { read_volatile(IP) } & IP_TXWM == 0 {}
    // A counted loop, not `spin_loop`: QEMU ends the translation block at
    // a `pause` hint, and virtual time need not advance across it.
    let mut n = 0;
    while n < DRAIN_SPINS {
        n = core::hint::black_box(n + 1);
    }
}
