//! Cortex-M3 port (ARMv7-M Architecture Reference Manual, B1.5 "ARMv7-M
//! exception model"; system registers from B3.2 and B3.3).
//!
//! Tasks run in Thread mode on the process stack (PSP); handlers run on the
//! main stack (MSP). SysTick raises the tick; a context switch is the lowest
//! priority PendSV exception, which the hardware enters with r0-r3, r12, lr,
//! pc and xPSR already stacked on the PSP (B1.5.6), so the handler only
//! saves r4-r11. SysTick and PendSV share the lowest priority so they never
//! preempt each other, and tasks mask both with PRIMASK.
#![allow(unsafe_code)] // reason: the arch port: system registers, PRIMASK, exception handlers and semihosting

use core::arch::{asm, naked_asm};
use core::ptr::{read_volatile, write_volatile};

use super::StackRegion;
use crate::config::TICK_HZ;
use crate::port::{Counter, Port};
use crate::rt::target;

/// Interrupt Control and State Register (B3.2.4) and its PENDSVSET bit.
const ICSR: *mut u32 = 0xE000_ED04 as *mut u32;
const PENDSVSET: u32 = 1 << 28;
/// System Handler Priority Register 3: PendSV in [23:16], SysTick in [31:24].
const SHPR3: *mut u32 = 0xE000_ED20 as *mut u32;
/// Configurable Fault Status Register (B3.2.15).
const CFSR: *const u32 = 0xE000_ED28 as *const u32;
/// SysTick control/status, reload and current value (B3.3.2).
const SYST_CSR: *mut u32 = 0xE000_E010 as *mut u32;
const SYST_RVR: *mut u32 = 0xE000_E014 as *mut u32;
const SYST_CVR: *mut u32 = 0xE000_E018 as *mut u32;
/// ENABLE | TICKINT | CLKSOURCE (processor clock).
const SYST_ON: u32 = 0b111;

/// Words of a saved context: r4-r11 pushed by PendSV, then the hardware
/// frame r0-r3, r12, lr, pc, xPSR.
const FRAME_WORDS: usize = 16;

/// The Cortex-M3 port.
pub enum CortexM {}

impl Port for CortexM {
    const FRAME_WORDS: usize = FRAME_WORDS;

    /// Masks interrupts with PRIMASK, restoring the previous mask.
    #[inline(always)]
    fn critical<R>(f: impl FnOnce() -> R) -> R {
        let primask: u32;
        // SAFETY: reads and sets PRIMASK only; acts as a compiler barrier.
        unsafe {
            asm!("mrs {}, PRIMASK", "cpsid i", out(reg) primask, options(nostack, preserves_flags))
        };
        let r = f();
        if primask & 1 == 0 {
            // SAFETY: re-enables interrupts that were enabled on entry.
            unsafe { asm!("cpsie i", options(nostack, preserves_flags)) };
        }
        r
    }

    /// PendSV can be preempted by device interrupts of higher priority,
    /// which may call the kernel, so this masks them as `critical` does.
    #[inline(always)]
    fn handler_critical<R>(f: impl FnOnce() -> R) -> R {
        Self::critical(f)
    }

    /// A frame that "returns" into `entry` in Thumb state.
    fn init_frame(stack: &StackRegion, entry: fn() -> !) -> usize {
        let mut f = [0u32; FRAME_WORDS];
        f[14] = entry as usize as u32 & !1; // stacked pc: halfword address
        f[15] = 1 << 24; // xPSR.T
        stack.push_frame(&f)
    }

    /// Starts SysTick and enters `entry` in Thread mode on the process
    /// stack `top`, with the main stack reset for handlers.
    #[inline(always)]
    fn start_first(top: usize, entry: fn() -> !, timer_hz: u32) -> ! {
        let reload = timer_hz / TICK_HZ - 1;
        // SAFETY: configures SysTick and the two handler priorities before
        // any task runs; then abandons the boot stack for good.
        unsafe {
            write_volatile(SHPR3, read_volatile(SHPR3) | 0xFFFF_0000);
            write_volatile(SYST_RVR, reload);
            write_volatile(SYST_CVR, 0);
            write_volatile(SYST_CSR, SYST_ON);
            asm!(
                "movw r2, :lower16:_stack_start",
                "movt r2, :upper16:_stack_start",
                "msr msp, r2",
                "msr psp, r0",
                "movs r2, #2", // CONTROL.SPSEL: Thread mode uses the PSP
                "msr control, r2",
                "isb",
                "cpsie i",
                "bx r1",
                in("r0") top,
                in("r1") entry,
                options(noreturn),
            )
        }
    }

    /// Pends PendSV.
    #[inline(always)]
    fn request_switch() {
        // SAFETY: ICSR is write-one-to-set; PENDSVSET touches only PendSV.
        unsafe { write_volatile(ICSR, PENDSVSET) };
    }

    /// The same as `request_switch` on this port: PendSV is taken as soon
    /// as interrupts are unmasked.
    #[inline(always)]
    fn switch_from_task() {
        Self::request_switch();
    }

    /// WFI.
    fn wait_for_interrupt() {
        // SAFETY: WFI has no effect on memory.
        unsafe { asm!("wfi", options(nomem, nostack, preserves_flags)) };
    }

    /// The Cortex-M3 has no instruction counter and QEMU does not model
    /// the DWT cycle counter, so the benchmark counter is virtual time.
    const COUNTER: Counter = Counter::VirtualNanoseconds;

    /// SysTick periods elapsed plus the counts into the current one, at
    /// `timer_hz`, in nanoseconds. Resolution: one SysTick count (80 ns at
    /// 12.5 MHz, 40 ns at 25 MHz).
    fn counter(ticks: u32, timer_hz: u32) -> u64 {
        let hz = u64::from(timer_hz);
        let period = hz / u64::from(TICK_HZ);
        let (cvr, pending) = Self::critical(|| {
            // SAFETY: reads SysTick's counter and the pending bit (ICSR
            // PENDSTSET, bit 26) of a tick not yet handled.
            unsafe {
                (
                    read_volatile(SYST_CVR),
                    read_volatile(ICSR) & (1 << 26) != 0,
                )
            }
        });
        let periods = u64::from(ticks) + u64::from(pending);
        let counts = periods * period + (period - 1 - u64::from(cvr));
        counts * 1_000_000_000 / hz
    }

    #[inline(always)]
    fn return_address() -> usize {
        let lr: usize;
        // SAFETY: reads lr only.
        unsafe { asm!("mov {}, lr", out(reg) lr, options(nomem, nostack, preserves_flags)) };
        lr
    }
}

/// Ends the run: Arm semihosting SYS_EXIT_EXTENDED (0x20) with
/// ADP_Stopped_ApplicationExit (0x20026) and `code`, issued with
/// `bkpt 0xAB` (Arm "Semihosting for AArch32 and AArch64", 6.5 and 5.1).
pub fn semihosting_exit(code: u32) -> ! {
    let block = [0x2_0026u32, code];
    loop {
        // SAFETY: r1 points at the two-word parameter block, live across
        // the call; the debugger (QEMU) ends the run.
        unsafe {
            asm!("bkpt 0xAB", inout("r0") 0x20u32 => _, in("r1") block.as_ptr(), options(nostack))
        };
    }
}

/// PendSV handler: the context switch. Pushes r4-r11 below the hardware
/// frame on the PSP, asks the kernel for the next task's stack pointer and
/// pops its context the same way. EXC_RETURN is kept in r4 across the
/// call (AAPCS callee-saved) and used to return to Thread mode on the PSP.
#[unsafe(naked)]
pub extern "C" fn pendsv() {
    naked_asm!(
        "mrs r0, psp",
        "stmdb r0!, {{r4-r11}}",
        "mov r4, lr",
        "bl {switch}",
        "mov lr, r4",
        "ldmia r0!, {{r4-r11}}",
        "msr psp, r0",
        "bx lr",
        switch = sym target::switch_context,
    )
}

/// SysTick handler: the kernel tick.
pub extern "C" fn systick() {
    if target::on_tick().is_due() {
        CortexM::request_switch();
    }
}

/// HardFault handler (every fault escalates here: MemManage, BusFault and
/// UsageFault are left disabled). Finds the stacked frame on the stack that
/// was in use (EXC_RETURN bit 2) and reports its pc.
#[unsafe(naked)]
pub extern "C" fn hard_fault() {
    naked_asm!(
        "tst lr, #4",
        "ite eq",
        "mrseq r0, msp",
        "mrsne r0, psp",
        "b {report}",
        report = sym report_fault,
    )
}

extern "C" fn report_fault(frame: *const u32) -> ! {
    // SAFETY: `frame` is the exception frame the hardware just stacked
    // (B1.5.6): eight words, pc at index 6. CFSR is a read-only status.
    let (pc, cfsr) = unsafe { (read_volatile(frame.add(6)), read_volatile(CFSR)) };
    target::fault("HardFault, CFSR=", pc, cfsr)
}

/// Handler for any exception or interrupt nothing else claims.
pub extern "C" fn unexpected() {
    let ipsr: u32;
    // SAFETY: reads IPSR only.
    unsafe { asm!("mrs {}, IPSR", out(reg) ipsr, options(nomem, nostack, preserves_flags)) };
    target::fault("unexpected exception, IPSR=", 0, ipsr)
}
