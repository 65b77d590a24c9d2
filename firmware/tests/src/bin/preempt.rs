//! Priority preemption: a high-priority task that wakes (from sleep, or from
//! a semaphore given by a lower task) preempts a lower one at once.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use fw_tests::{check, pass};
use kernel::{Semaphore, Stack, TaskDef, println};

board::entry!(main);

static LOW_COUNT: AtomicU32 = AtomicU32::new(0);
static STEP: AtomicU32 = AtomicU32::new(0);
static WAKE: Semaphore = Semaphore::new(0);

static STACKS: [Stack<256>; 4] = [const { Stack::new() }; 4];
static TASKS: [TaskDef; 4] = [
    TaskDef::new("low", 1, low, &STACKS[0]),
    TaskDef::new("medium", 2, medium, &STACKS[1]),
    TaskDef::new("high", 3, high, &STACKS[2]),
    TaskDef::new("waiter", 4, waiter, &STACKS[3]),
];

fn main() -> ! {
    println!("preempt: low (1) busy, medium (2), high (3), waiter (4)");
    kernel::start(&TASKS)
}

fn low() -> ! {
    loop {
        LOW_COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

fn high() -> ! {
    for deadline in [5, 10, 15] {
        kernel::sleep_until(deadline);
        let woke = kernel::now();
        let seen = LOW_COUNT.load(Ordering::Relaxed);
        let mut n = 0u32;
        while n < 10_000 {
            n = core::hint::black_box(n + 1);
        }
        let frozen = LOW_COUNT.load(Ordering::Relaxed) == seen;
        println!(
            "high: woke at tick ",
            woke,
            " (asked ",
            deadline,
            "), low frozen: ",
            if frozen { "yes" } else { "no" }
        );
        check(
            woke == deadline && frozen && seen > 0,
            "high did not preempt low on time",
        );
    }
    // Let medium run: it gives the semaphore the waiter blocks on.
    kernel::sleep(1000);
    unreachable!()
}

fn medium() -> ! {
    kernel::sleep_until(20);
    STEP.store(1, Ordering::SeqCst);
    WAKE.give();
    let step = STEP.load(Ordering::SeqCst);
    println!(
        "medium: waiter ran inside give: ",
        if step == 2 { "yes" } else { "no" }
    );
    check(
        step == 2,
        "give did not switch to the higher waiter at once",
    );
    pass("preempt")
}

fn waiter() -> ! {
    WAKE.take();
    check(
        STEP.load(Ordering::SeqCst) == 1,
        "waiter woke before the give",
    );
    STEP.store(2, Ordering::SeqCst);
    kernel::sleep(1000);
    unreachable!()
}
