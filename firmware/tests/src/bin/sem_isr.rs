//! A semaphore signalled from an interrupt handler: the tick interrupt's
//! hook gives a semaphore every `PERIOD` ticks, and the waiting task wakes
//! on exactly those ticks. Gives with nobody waiting are counted.
#![no_std]
#![no_main]

use fw_tests::{check, pass};
use kernel::{Semaphore, Stack, TaskDef, println};

board::entry!(main);

const PERIOD: u32 = 4;

static EVENT: Semaphore = Semaphore::new(0);
static BURST: Semaphore = Semaphore::new(0);

static STACKS: [Stack<256>; 1] = [const { Stack::new() }; 1];
static TASKS: [TaskDef; 1] = [TaskDef::new("handler", 2, handler, &STACKS[0])];

fn main() -> ! {
    println!(
        "sem_isr: tick interrupt gives a semaphore every ",
        PERIOD, " ticks"
    );
    kernel::set_tick_hook(on_tick);
    kernel::start(&TASKS)
}

/// Runs in the timer interrupt handler.
fn on_tick() {
    let now = kernel::now();
    if now.is_multiple_of(PERIOD) {
        EVENT.give();
    }
    // Two gives in one interrupt, before anyone waits.
    if now == 30 {
        BURST.give();
        BURST.give();
    }
}

fn handler() -> ! {
    for n in 1..=5 {
        EVENT.take();
        let woke = kernel::now();
        println!("handler: event ", n, " at tick ", woke);
        check(woke == n * PERIOD, "woke on the wrong tick");
    }
    kernel::sleep_until(31);
    let count = BURST.count();
    println!(
        "burst: count ",
        count, " after two gives from one interrupt"
    );
    check(count == 2, "gives without a waiter were not counted");
    BURST.take();
    BURST.take();
    check(!BURST.try_take(), "took more than was given");
    pass("sem_isr")
}
