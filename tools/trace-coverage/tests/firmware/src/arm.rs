//! Cortex-M3: the vector table and Arm semihosting (`bkpt 0xab`, operation
//! in r0, argument in r1; Arm semihosting specification §2.3 and §6).

use core::{arch::asm, ffi::CStr};

// Initial SP and reset vector (ARMv7-M ARM B1.5.3); `.word` of a Thumb
// function symbol sets bit 0, as the core requires.
core::arch::global_asm!(
    ".section .vector_table, \"a\"",
    ".word _stack_top",
    ".word fixture_main",
);

const SYS_WRITE0: usize = 0x04;
const SYS_EXIT: usize = 0x18;

fn semihosting(op: usize, arg: usize) -> usize {
    let ret;
    // SAFETY: the semihosting trap reads `arg` as the operation defines and
    // touches no other state.
    unsafe { asm!("bkpt #0xab", inout("r0") op => ret, in("r1") arg, options(nostack)) };
    ret
}

// Not inlined, so that each call site keeps a line row of its own.
#[inline(never)]
pub fn write0(text: &CStr) {
    semihosting(SYS_WRITE0, text.as_ptr() as usize);
}

/// `SYS_EXIT` with `ADP_Stopped_ApplicationExit` (QEMU exits 0) or
/// `ADP_Stopped_RunTimeErrorUnknown` (QEMU exits 1).
#[inline(never)]
pub fn exit(ok: bool) -> ! {
    semihosting(SYS_EXIT, if ok { 0x2_0026 } else { 0x2_0023 });
    loop {}
}

pub fn read_volatile(value: &u32) -> u32 {
    // SAFETY: a reference is valid for reads.
    unsafe { core::ptr::read_volatile(value) }
}
