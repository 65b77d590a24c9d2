//! RV32IMAC port, machine mode only (RISC-V Privileged Architecture,
//! chapter 3 "Machine-Level ISA": mstatus, mtvec, mepc, mcause, mie; 3.2.1
//! the machine timer mtime/mtimecmp, here in the SiFive CLINT).
//!
//! Every trap enters `trap_entry` (mtvec direct mode). It saves the integer
//! context (ra, t0-t6, s0-s11, a0-a7; gp and tp are global) and mepc on
//! the interrupted task's stack (only s0-s11 and mepc for an `ecall`, see
//! there), then calls the kernel on the dedicated trap stack at the top of
//! RAM. The kernel returns the stack pointer to
//! resume, which is the same task or, after a switch, another one. A task
//! asks for a switch with `ecall`; a switch wanted inside a trap (a tick
//! hook giving a semaphore) is deferred to the end of that trap.
#![allow(unsafe_code)] // reason: the arch port: CSRs, the CLINT, the trap vector and semihosting

use core::arch::{asm, global_asm};
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::StackRegion;
use crate::config::TICK_HZ;
use crate::port::{Counter, Port};
use crate::rt::target;

/// SiFive CLINT: mtimecmp of hart 0 and mtime, 64-bit each (low word first).
const MTIMECMP: *mut u32 = 0x0200_4000 as *mut u32;
const MTIME: *const u32 = 0x0200_BFF8 as *const u32;

/// mcause of the machine timer interrupt.
const CAUSE_MTIMER: usize = 0x8000_0007;
/// mie.MTIE and mstatus.MIE.
const MTIE: usize = 1 << 7;

/// Words of a saved context (see `trap_entry`), 32 so that the stack
/// pointer stays 16-byte aligned (ILP32 ABI).
const FRAME_WORDS: usize = 32;

static IN_TRAP: AtomicBool = AtomicBool::new(false);
static SWITCH_PENDING: AtomicBool = AtomicBool::new(false);
/// `mtime` counts per tick, set once by `start_first`.
static TICK_COUNTS: AtomicU32 = AtomicU32::new(0);

/// The RV32IMAC port, machine mode.
pub enum Riscv32 {}

impl Port for Riscv32 {
    const FRAME_WORDS: usize = FRAME_WORDS;

    /// Disables machine interrupts (mstatus.MIE), restoring the previous
    /// state.
    #[inline(always)]
    fn critical<R>(f: impl FnOnce() -> R) -> R {
        let mstatus: usize;
        // SAFETY: clears mstatus.MIE only; acts as a compiler barrier.
        unsafe { asm!("csrrci {}, mstatus, 8", out(reg) mstatus, options(nostack)) };
        let r = f();
        if mstatus & 8 != 0 {
            // SAFETY: re-enables interrupts that were enabled on entry.
            unsafe { asm!("csrsi mstatus, 8", options(nostack)) };
        }
        r
    }

    /// Traps run with mstatus.MIE clear and never nest, so there is
    /// nothing to mask.
    #[inline(always)]
    fn handler_critical<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    /// A frame whose mepc is `entry`.
    fn init_frame(stack: &StackRegion, entry: fn() -> !) -> usize {
        let mut f = [0u32; FRAME_WORDS];
        f[0] = entry as usize as u32;
        stack.push_frame(&f)
    }

    /// Arms the machine timer and enters `entry` on stack `top` with
    /// machine interrupts enabled.
    #[inline(always)]
    fn start_first(top: usize, entry: fn() -> !, timer_hz: u32) -> ! {
        TICK_COUNTS.store(timer_hz.div_ceil(TICK_HZ), Ordering::Relaxed);
        set_mtimecmp(read_mtime() + tick_counts());
        // SAFETY: enables the timer interrupt, then abandons the boot stack
        // for good; the trap handler is installed (mtvec) by the board's
        // `_start`.
        unsafe {
            asm!("csrs mie, {}", in(reg) MTIE, options(nostack));
            asm!(
                "mv sp, {top}",
                "csrsi mstatus, 8",
                "jr {entry}",
                top = in(reg) top,
                entry = in(reg) entry,
                options(noreturn),
            )
        }
    }

    /// Switches now from a task (`ecall`), or at the end of the current
    /// trap.
    #[inline(always)]
    fn request_switch() {
        if IN_TRAP.load(Ordering::Relaxed) {
            SWITCH_PENDING.store(true, Ordering::Relaxed);
        } else {
            Self::switch_from_task();
        }
    }

    /// `ecall`.
    #[inline(always)]
    fn switch_from_task() {
        // SAFETY: the trap handler keeps the callee-saved registers and
        // resumes after the ecall; the caller-saved ones are declared
        // clobbered, so the handler need not save them.
        unsafe { asm!("ecall", clobber_abi("C"), options(nostack)) };
    }

    /// WFI.
    fn wait_for_interrupt() {
        // SAFETY: WFI has no effect on memory.
        unsafe { asm!("wfi", options(nomem, nostack)) };
    }

    /// The `minstret` counter (privileged spec 3.1.11), which QEMU counts
    /// exactly.
    const COUNTER: Counter = Counter::Instructions;

    /// `minstret`; the tick and the clock are not needed.
    fn counter(_ticks: u32, _timer_hz: u32) -> u64 {
        instructions_retired()
    }

    #[inline(always)]
    fn return_address() -> usize {
        let ra: usize;
        // SAFETY: reads ra only.
        unsafe { asm!("mv {}, ra", out(reg) ra, options(nomem, nostack)) };
        ra
    }
}

/// `minstreth:minstret`, read so that a carry between the halves is seen.
fn instructions_retired() -> u64 {
    loop {
        let (hi, lo, hi2): (u32, u32, u32);
        // SAFETY: reads the machine instruction counter only.
        unsafe {
            asm!(
                "csrr {0}, minstreth",
                "csrr {1}, minstret",
                "csrr {2}, minstreth",
                out(reg) hi, out(reg) lo, out(reg) hi2,
                options(nomem, nostack),
            )
        };
        if hi == hi2 {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

/// Ends the run: semihosting SYS_EXIT_EXTENDED (0x20) with
/// ADP_Stopped_ApplicationExit (0x20026) and `code`. RISC-V semihosting
/// (RISC-V Semihosting spec, 2.1) marks the `ebreak` with an uncompressed
/// `slli x0, x0, 0x1f` before and `srai x0, x0, 7` after, in one page.
pub fn semihosting_exit(code: u32) -> ! {
    let block = [0x2_0026u32, code];
    loop {
        // SAFETY: a1 points at the two-word parameter block, live across
        // the call; the debugger (QEMU) ends the run.
        unsafe {
            asm!(
                ".option push",
                ".option norvc",
                ".p2align 4",
                "slli x0, x0, 0x1f",
                "ebreak",
                "srai x0, x0, 7",
                ".option pop",
                inout("a0") 0x20usize => _,
                in("a1") block.as_ptr(),
                options(nostack),
            )
        };
    }
}

/// `mtime` counts per tick.
fn tick_counts() -> u64 {
    u64::from(TICK_COUNTS.load(Ordering::Relaxed))
}

fn read_mtime() -> u64 {
    // SAFETY: CLINT registers; re-read the high word to catch a carry.
    unsafe {
        loop {
            let hi = read_volatile(MTIME.add(1));
            let lo = read_volatile(MTIME);
            if read_volatile(MTIME.add(1)) == hi {
                return (u64::from(hi) << 32) | u64::from(lo);
            }
        }
    }
}

fn set_mtimecmp(t: u64) {
    // SAFETY: CLINT register of hart 0. The order is the one the
    // privileged spec recommends for RV32 (3.2.1, "Machine Timer
    // Registers"): the low word as all-ones first, so that each
    // intermediate value is no smaller than the old or the new compare
    // value and no spurious timer interrupt is raised while the halves
    // disagree.
    unsafe {
        write_volatile(MTIMECMP, u32::MAX);
        write_volatile(MTIMECMP.add(1), (t >> 32) as u32);
        write_volatile(MTIMECMP, t as u32);
    }
}

fn mtimecmp() -> u64 {
    // SAFETY: CLINT register of hart 0, only written with interrupts off.
    unsafe {
        (u64::from(read_volatile(MTIMECMP.add(1))) << 32) | u64::from(read_volatile(MTIMECMP))
    }
}

// The trap vector `trap_entry` (mtvec, direct mode, so 4-byte aligned).
//
// Frame (32 words on the interrupted task's stack): 0 mepc, 1 ra, 2-4
// t0-t2, 5-6 s0-s1, 7-14 a0-a7, 15-24 s2-s11, 25-28 t3-t6, 29 kind.
// An interrupt saves every register (kind 0). An `ecall` comes only from
// `switch_from_task`, whose asm declares every caller-saved register
// clobbered, so it saves just s0-s11 and the return point (kind: the
// non-zero stack pointer), and falls straight into the restore path: the
// switch path stays short. Faults save nothing and never return.
//
// `mret` re-enables interrupts from mstatus.MPIE, which is set for every
// trap that reaches the restore path: interrupts trap only while enabled,
// and `switch_from_task` is only called with interrupts enabled.
global_asm!(
    // Both paths save s0-s11; one assembler macro writes them.
    ".macro kernel_save_s_regs",
    "sw s0, 20(sp)",
    "sw s1, 24(sp)",
    "sw s2, 60(sp)",
    "sw s3, 64(sp)",
    "sw s4, 68(sp)",
    "sw s5, 72(sp)",
    "sw s6, 76(sp)",
    "sw s7, 80(sp)",
    "sw s8, 84(sp)",
    "sw s9, 88(sp)",
    "sw s10, 92(sp)",
    "sw s11, 96(sp)",
    ".endm",
    ".section .text.trap_entry, \"ax\"",
    ".balign 4",
    ".global trap_entry",
    "trap_entry:",
    "addi sp, sp, -128",
    "sw t0, 8(sp)",
    "csrr t0, mcause",
    "bltz t0, 1f",
    "addi t0, t0, -11",
    "bnez t0, 3f",
    // ecall from M-mode: resume after the 4-byte ecall.
    "csrr t0, mepc",
    "addi t0, t0, 4",
    "sw t0, 0(sp)",
    "kernel_save_s_regs",
    "sw sp, 116(sp)", // kind: non-zero, short frame
    "mv a0, sp",
    "la sp, _stack_start",
    "call {switch}",
    // Resume the context at a0.
    "2:",
    "mv sp, a0",
    "lw t0, 0(sp)",
    "csrw mepc, t0",
    "lw s0, 20(sp)",
    "lw s1, 24(sp)",
    "lw s2, 60(sp)",
    "lw s3, 64(sp)",
    "lw s4, 68(sp)",
    "lw s5, 72(sp)",
    "lw s6, 76(sp)",
    "lw s7, 80(sp)",
    "lw s8, 84(sp)",
    "lw s9, 88(sp)",
    "lw s10, 92(sp)",
    "lw s11, 96(sp)",
    "lw t0, 116(sp)",
    "bnez t0, 4f",
    "lw ra, 4(sp)",
    "lw t0, 8(sp)",
    "lw t1, 12(sp)",
    "lw t2, 16(sp)",
    "lw a0, 28(sp)",
    "lw a1, 32(sp)",
    "lw a2, 36(sp)",
    "lw a3, 40(sp)",
    "lw a4, 44(sp)",
    "lw a5, 48(sp)",
    "lw a6, 52(sp)",
    "lw a7, 56(sp)",
    "lw t3, 100(sp)",
    "lw t4, 104(sp)",
    "lw t5, 108(sp)",
    "lw t6, 112(sp)",
    "4:",
    "addi sp, sp, 128",
    "mret",
    // Interrupt: save everything.
    "1:",
    "sw ra, 4(sp)",
    "sw t1, 12(sp)",
    "sw t2, 16(sp)",
    "kernel_save_s_regs",
    "sw a0, 28(sp)",
    "sw a1, 32(sp)",
    "sw a2, 36(sp)",
    "sw a3, 40(sp)",
    "sw a4, 44(sp)",
    "sw a5, 48(sp)",
    "sw a6, 52(sp)",
    "sw a7, 56(sp)",
    "sw t3, 100(sp)",
    "sw t4, 104(sp)",
    "sw t5, 108(sp)",
    "sw t6, 112(sp)",
    "sw zero, 116(sp)", // kind: full frame
    "csrr t0, mepc",
    "sw t0, 0(sp)",
    "mv a0, sp",
    "csrr a1, mcause",
    "la sp, _stack_start",
    "call {interrupt}",
    "j 2b",
    // Fault: report it on the trap stack; never returns.
    "3:",
    "csrr a0, mepc",
    "csrr a1, mcause",
    "la sp, _stack_start",
    "call {fault}",
    ".purgem kernel_save_s_regs",
    switch = sym target::switch_context,
    interrupt = sym interrupt,
    fault = sym fault,
);

/// Handles an interrupt whose context was saved at `sp`; returns the stack
/// pointer of the context to resume.
extern "C" fn interrupt(sp: usize, mcause: usize) -> usize {
    if mcause != CAUSE_MTIMER {
        target::fault("unexpected interrupt, mcause=", 0, mcause as u32);
    }
    set_mtimecmp(mtimecmp() + tick_counts());
    IN_TRAP.store(true, Ordering::Relaxed);
    let due = target::on_tick();
    IN_TRAP.store(false, Ordering::Relaxed);
    // Plain load and store: one hart, interrupts off (a swap would cost
    // a sub-word atomic sequence).
    let pending = SWITCH_PENDING.load(Ordering::Relaxed);
    SWITCH_PENDING.store(false, Ordering::Relaxed);
    if due.is_due() || pending {
        target::switch_context(sp)
    } else {
        sp
    }
}

/// Reports a synchronous exception other than `ecall`.
extern "C" fn fault(mepc: usize, mcause: usize) -> ! {
    target::fault("exception, mcause=", mepc as u32, mcause as u32)
}
