//! A program whose coverage is known: the lines marked `cov:hit` run (those
//! marked `cov:loop` `LOOPS` times), the lines marked `cov:miss` do not, and
//! `never_called` is kept in the image (it sits in a table indexed at run
//! time) but never runs. Exits 0 through semihosting.
#![no_std]
#![no_main]

#[cfg(target_arch = "arm")]
mod arm;
#[cfg(target_arch = "arm")]
use arm as arch;
#[cfg(target_arch = "riscv32")]
mod riscv;
#[cfg(target_arch = "riscv32")]
use riscv as arch;
mod sys;

use core::hint::black_box;

/// How often the loop in `fixture_main` runs.
const LOOPS: u32 = 12;

/// Read at run time, so the compiler keeps both entries of `HANDLERS`.
static SELECT: u32 = 0;
static HANDLERS: [fn(u32) -> u32; 2] = [called, never_called];

#[unsafe(no_mangle)]
pub extern "C" fn fixture_main() -> ! {
    let mut acc = black_box(1u32);
    for i in 0..black_box(LOOPS) {
        acc = acc.wrapping_add(step(i)); // cov:loop
    }
    let handler = HANDLERS[sys::read_volatile(&SELECT) as usize & 1];
    acc = handler(acc); // cov:hit
    if black_box(acc) == 0xdead_beef {
        sys::write0(c"coverage fixture: impossible value\n"); // cov:miss
        cold_path(acc); // cov:miss
    }
    sys::write0(c"coverage fixture: done\n"); // cov:hit
    sys::exit(true)
}

#[inline(never)]
fn step(i: u32) -> u32 {
    i.wrapping_mul(2_654_435_761) ^ (i >> 3) // cov:loop
}

#[inline(never)]
fn called(x: u32) -> u32 {
    x.rotate_left(5) ^ 0x1234 // cov:hit
}

#[inline(never)]
fn never_called(x: u32) -> u32 {
    sys::write0(c"never called\n"); // cov:never
    x.wrapping_mul(31) ^ 0x55 // cov:never
}

#[inline(never)]
fn cold_path(x: u32) {
    sys::write0(c"cold path\n"); // cov:miss
    black_box(x);
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    sys::exit(false)
}
