//! Cortex-M reset and vector table (ARMv7-M ARM B1.5.2, B1.5.3): word 0 is
//! the initial main stack pointer (from the link script), then the reset
//! vector and the 14 system exceptions, then the device interrupts, whose
//! number a board gives [`cortex_m_vector_table!`](crate::cortex_m_vector_table).
#![allow(unsafe_code)] // reason: the vector table and the reset code, placed by symbol and section

use core::arch::global_asm;

use kernel::vectors::{hard_fault, pendsv, systick, unexpected};

/// One vector table entry: a handler, or a reserved (zero) word.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Vector(Option<unsafe extern "C" fn()>);

unsafe extern "C" {
    fn reset();
}

/// The vector table after word 0 (the initial stack pointer, which the
/// link script writes): `N` = 15 system exception entries plus the
/// board's device interrupts, which all report an unexpected exception.
pub const fn vector_table<const N: usize>() -> [Vector; N] {
    const fn h(f: extern "C" fn()) -> Vector {
        Vector(Some(f))
    }
    let mut v = [h(unexpected); N];
    v[0] = Vector(Some(reset));
    v[2] = h(hard_fault); // HardFault; MemManage, BusFault, UsageFault escalate to it
    v[3] = h(hard_fault);
    v[4] = h(hard_fault);
    v[5] = h(hard_fault);
    v[6] = Vector(None);
    v[7] = Vector(None);
    v[8] = Vector(None);
    v[9] = Vector(None);
    v[12] = Vector(None);
    v[13] = h(pendsv);
    v[14] = h(systick);
    v
}

/// Defines the board's vector table, `__VECTOR_TABLE`, for `$irqs` device
/// interrupts (the part's NVIC inputs, from its datasheet); once per board
/// crate. The link script places it at the start of flash.
#[macro_export]
macro_rules! cortex_m_vector_table {
    ($irqs:expr) => {
        // reason: the vector table, placed by section and kept by symbol
        #[allow(unsafe_code)]
        const _: () = {
            #[unsafe(link_section = ".vector_table")]
            #[unsafe(no_mangle)]
            #[used]
            static __VECTOR_TABLE: [$crate::cortex_m::Vector; 15 + $irqs] =
                $crate::cortex_m::vector_table();
        };
    };
}

// Copies .data from flash, zeroes .bss, then continues in `start`.
global_asm!(
    ".section .text.reset, \"ax\"",
    ".global reset",
    ".type reset, %function",
    ".thumb_func",
    "reset:",
    "ldr r0, =__sdata",
    "ldr r1, =__edata",
    "ldr r2, =__sidata",
    "1:",
    "cmp r0, r1",
    "bhs 2f",
    "ldr r3, [r2], #4",
    "str r3, [r0], #4",
    "b 1b",
    "2:",
    "ldr r0, =__sbss",
    "ldr r1, =__ebss",
    "movs r2, #0",
    "3:",
    "cmp r0, r1",
    "bhs 4f",
    "str r2, [r0], #4",
    "b 3b",
    "4:",
    "b {start}",
    ".ltorg",
    start = sym start,
);

extern "C" fn start() -> ! {
    kernel::image_main()
}
