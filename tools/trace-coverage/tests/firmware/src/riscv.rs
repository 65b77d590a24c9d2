//! RV32IMAC: the entry point and RISC-V semihosting (`slli x0, x0, 0x1f;
//! ebreak; srai x0, x0, 7`, operation in a0, argument in a1; RISC-V
//! Semihosting specification v0.2 §2).

use core::{arch::asm, ffi::CStr};

core::arch::global_asm!(
    ".section .text.start, \"ax\"",
    ".global _start",
    "_start:",
    "la sp, _stack_top",
    "j fixture_main",
);

const SYS_WRITE0: usize = 0x04;
const SYS_EXIT: usize = 0x18;

fn semihosting(op: usize, arg: usize) -> usize {
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

// Not inlined, so that each call site keeps a line row of its own.
#[inline(never)]
pub fn write0(text: &CStr) {
    semihosting(SYS_WRITE0, text.as_ptr() as usize);
}

/// `SYS_EXIT` with `ADP_Stopped_ApplicationExit` (QEMU exits 0) or
/// `ADP_Stopped_RunTimeErrorUnknown` (QEMU exits 1); on RV32 the reason is
/// passed directly, as on 32-bit Arm.
#[inline(never)]
pub fn exit(ok: bool) -> ! {
    semihosting(SYS_EXIT, if ok { 0x2_0026 } else { 0x2_0023 });
    loop {}
}

pub fn read_volatile(value: &u32) -> u32 {
    // SAFETY: a reference is valid for reads.
    unsafe { core::ptr::read_volatile(value) }
}
