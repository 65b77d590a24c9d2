//! UART0 of the FE310 at 0x1001_3000 (FE310-G002 manual, chapter 18): the
//! console. Polled: each byte waits while `txdata.full` is set.
#![allow(unsafe_code)] // reason: UART0 and CLINT registers, and the WFI wait of the final flush

use core::arch::asm;
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

/// UART0.
pub enum Uart0 {}

impl kernel::Console for Uart0 {
    /// Enables the transmitter.
    fn init() {
        // SAFETY: UART0 transmit control, written once at boot.
        unsafe { write_volatile(TXCTRL, TXCTRL_ON) };
    }

    /// Writes `bytes`, each as soon as the transmit FIFO has room.
    fn write(bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: UART0 txdata; a byte is written only when it has room.
            unsafe {
                while read_volatile(TXDATA) & TXDATA_FULL != 0 {}
                write_volatile(TXDATA, u32::from(b));
            }
        }
    }

    fn flush() {
        drain();
    }
}

/// SiFive CLINT: mtimecmp of hart 0 and mtime (low words; the high words
/// follow).
const MTIMECMP: *mut u32 = 0x0200_4000 as *mut u32;
const MTIME: *const u32 = 0x0200_BFF8 as *const u32;
/// mie.MTIE and mip.MTIP (privileged spec 3.1.9).
const MTI: usize = 1 << 7;
/// Length of one idle period, in `mtime` counts (two periods of the
/// 32.768 kHz clock, about 61 us of virtual time).
const DRAIN_COUNTS: u32 = 2;

/// Idle periods before the run ends. Each lets QEMU's main loop run once
/// more, which is also when it finishes a console write the host pipe did
/// not take at once.
const IDLE_ROUNDS: u32 = 8;

/// Waits until the console has sent everything (`Console::flush`). QEMU's model sends its
/// FIFO from a virtual-time timer 100 ns after a write, without blocking
/// on the host (a write the host does not take at once is finished later
/// by QEMU's main loop), and in QEMU 10.0 sets `ip.txwm` from `txcnt`
/// alone, so the guest cannot see the FIFO empty, and busy-waiting does not
/// reliably let either happen before the exit. So after `ip.txwm`, the
/// hart idles (WFI) for a few machine-timer periods: while it idles QEMU
/// runs its due timers and its main loop. Interrupts stay masked (WFI
/// wakes on a pending enabled interrupt regardless of mstatus.MIE,
/// privileged spec 3.3.3); mtimecmp and mie are left changed, which only
/// matters to a run that is about to end.
fn drain() {
    // SAFETY: UART0's interrupt-pending register and the CLINT of hart 0;
    // machine interrupts are masked for the rest of the run, so the timer
    // compares never trap. Only mtimecmp's low word is set: the high words
    // of mtime and mtimecmp are both 0 for the first 36 hours after reset
    // (the kernel copies mtime's), and a carry only shortens one period.
    unsafe {
        while read_volatile(IP) & IP_TXWM == 0 {}
        asm!("csrci mstatus, 8", "csrs mie, {}", in(reg) MTI, options(nostack));
        for _ in 0..IDLE_ROUNDS {
            write_volatile(MTIMECMP, read_volatile(MTIME).wrapping_add(DRAIN_COUNTS));
            asm!(
                "1:",
                "wfi",
                "csrr {t}, mip",
                "and {t}, {t}, {mti}",
                "beqz {t}, 1b",
                t = out(reg) _,
                mti = in(reg) MTI,
                options(nostack),
            );
        }
    }
}
