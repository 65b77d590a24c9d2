//! `_start`, at the start of flash, where the boot ROM (HiFive1) or QEMU's
//! reset vector (`virt` with `-bios none`) jumps: sets gp and
//! the boot stack, installs the kernel's trap vector (mtvec, direct mode;
//! RISC-V privileged spec 3.1.7), copies .data from flash, zeroes .bss and
//! continues in `start`.
#![allow(unsafe_code)] // reason: the reset code, in assembly, before any Rust runs

use core::arch::global_asm;

// Keep the kernel (and with it `trap_entry`) in the link.
use kernel as _;

global_asm!(
    ".section .text.start, \"ax\"",
    ".global _start",
    "_start:",
    ".option push",
    ".option norelax",
    "la gp, __global_pointer$",
    ".option pop",
    "la sp, _stack_start",
    "la t0, trap_entry",
    "csrw mtvec, t0",
    "la a0, __sdata",
    "la a1, __edata",
    "la a2, __sidata",
    "1:",
    "bgeu a0, a1, 2f",
    "lw t0, 0(a2)",
    "sw t0, 0(a0)",
    "addi a0, a0, 4",
    "addi a2, a2, 4",
    "j 1b",
    "2:",
    "la a0, __sbss",
    "la a1, __ebss",
    "3:",
    "bgeu a0, a1, 4f",
    "sw zero, 0(a0)",
    "addi a0, a0, 4",
    "j 3b",
    "4:",
    "j {start}",
    start = sym start,
);

extern "C" fn start() -> ! {
    kernel::image_main()
}
