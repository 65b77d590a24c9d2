//! Misuse the kernel refuses (an expected failure, exit code 101): a task
//! that locks a mutex it already holds panics, and the panic report names
//! the task, its pc and the kernel's message. Before that, the task checks
//! the non-blocking `try_take` on an empty and on a given semaphore.
#![no_std]
#![no_main]

use fw_tests::check;
use kernel::{Mutex, Semaphore, Stack, TaskDef, println};

board::entry!(main);

static LOCK: Mutex = Mutex::new();
static UNITS: Semaphore = Semaphore::new(0);

static STACK: Stack<256> = Stack::new();
static TASKS: [TaskDef; 1] = [TaskDef::new("owner", 2, owner, &STACK)];

fn main() -> ! {
    println!("mutex_misuse: task owner locks a mutex it already holds");
    kernel::start(&TASKS)
}

fn owner() -> ! {
    check(
        !UNITS.try_take(),
        "try_take of an empty semaphore succeeded",
    );
    UNITS.give();
    check(
        UNITS.try_take() && UNITS.count() == 0,
        "try_take after a give failed",
    );
    println!("owner: try_take fails on 0 units and takes the one given");
    let _held = LOCK.lock();
    println!("owner: locked; locking again");
    let _again = LOCK.lock();
    println!("FAIL mutex_misuse: a second lock by the owner returned");
    kernel::exit(kernel::exit_code::FAIL)
}
