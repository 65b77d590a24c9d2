//! RV32IMAC: the entry point and RISC-V semihosting (`slli x0, x0, 0x1f;
//! ebreak; srai x0, x0, 7`, operation in a0, argument in a1; RISC-V
//! Semihosting specification v0.2 §2).

use core::arch::asm;

core::arch::global_asm!(
    ".section .text.start, \"ax\"",
    ".global _start",
    "_start:",
    "la sp, _stack_top",
    "j fixture_main",
);

/// One semihosting call: operation `op`, parameter `arg`; returns a0.
pub fn semihosting(op: usize, arg: usize) -> usize {
    let ret;
    // SAFETY: the semihosting trap reads `arg` as the operation defines and
    // touches no other state. The three instructions must be uncompressed
    // and on one page, hence `norvc` and the alignment.
    unsafe {
        asm!(
            ".option push",
            ".option norvc",
            ".balign 16",
            "slli x0, x0, 0x1f",
            "ebreak",
            "srai x0, x0, 7",
            ".option pop",
            inout("a0") op => ret,
            in("a1") arg,
            options(nostack),
        )
    };
    ret
}
