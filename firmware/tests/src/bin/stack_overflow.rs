//! Stack overflow detection (an expected failure, exit code 103): a task
//! recurses until its stack runs into the guard words; the check on the
//! next switch ends the run with `*** STACK OVERFLOW in task deep`.
#![no_std]
#![no_main]

use core::hint::black_box;

use kernel::{Stack, TaskDef, println};

board::entry!(main);

/// The victim's stack, with padding below it that the overflow may spill
/// into before the switch-time check sees it, so no other object is hit.
#[repr(C)]
struct Padded {
    _spill: [u32; 64],
    stack: Stack<128>,
}

static DEEP: Padded = Padded {
    _spill: [0; 64],
    stack: Stack::new(),
};
static MAIN_STACK: Stack<256> = Stack::new();
static TASKS: [TaskDef; 2] = [
    TaskDef::new("deep", 1, deep, &DEEP.stack),
    TaskDef::new("main", 2, report, &MAIN_STACK),
];

fn main() -> ! {
    println!("stack_overflow: task deep recurses on a 512-byte stack");
    kernel::start(&TASKS)
}

fn report() -> ! {
    kernel::sleep(1);
    let (name, used, size) = kernel::stack_usage(0).unwrap_or(("?", 0, 0));
    fw_tests::check(used <= size && name == "deep", "bad stack report");
    kernel::sleep(u32::MAX / 2);
    unreachable!()
}

fn deep() -> ! {
    dive(0);
    println!("FAIL stack_overflow: recursion returned");
    kernel::exit(kernel::exit_code::FAIL)
}

/// One 64-byte frame per level; every level sleeps a tick, so every level
/// is checked by a switch.
fn dive(depth: u32) -> u32 {
    let mut frame = [depth; 16];
    black_box(&mut frame);
    kernel::sleep(1);
    if depth < 1000 {
        frame[0] = dive(depth + 1);
    }
    black_box(&frame)[0]
}
