//! Cortex-M3: the vector table and Arm semihosting (`bkpt 0xab`, operation
//! in r0, argument in r1; Arm semihosting specification §2.3 and §6).

use core::arch::asm;

// Initial SP and reset vector (ARMv7-M ARM B1.5.3); `.word` of a Thumb
// function symbol sets bit 0, as the core requires.
core::arch::global_asm!(
    ".section .vector_table, \"a\"",
    ".word _stack_top",
    ".word fixture_main",
);

/// One semihosting call: operation `op`, parameter `arg`; returns r0.
pub fn semihosting(op: usize, arg: usize) -> usize {
    let ret;
    // SAFETY: the semihosting trap reads `arg` as the operation defines and
    // touches no other state.
    unsafe { asm!("bkpt #0xab", inout("r0") op => ret, in("r1") arg, options(nostack)) };
    ret
}
