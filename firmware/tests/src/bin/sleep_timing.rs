//! Sleep timing against the timer: every wake-up tick equals the requested
//! tick exactly, for relative sleeps and for drift-free `sleep_until`.
#![no_std]
#![no_main]

use fw_tests::{check, pass};
use kernel::config::TICK_HZ;
use kernel::{Semaphore, Stack, TaskDef, println};

board::entry!(main);

static DONE: Semaphore = Semaphore::new(0);

static STACKS: [Stack<256>; 3] = [const { Stack::new() }; 3];
static TASKS: [TaskDef; 3] = [
    TaskDef::new("relative", 2, relative, &STACKS[0]),
    TaskDef::new("periodic", 3, periodic, &STACKS[1]),
    TaskDef::new("main", 4, coordinator, &STACKS[2]),
];

fn main() -> ! {
    kernel::start(&TASKS)
}

fn relative() -> ! {
    kernel::sleep(0);
    check(kernel::now() == 0, "sleep(0) slept");
    for ticks in [1, 2, 3, 5, 8] {
        let before = kernel::now();
        kernel::sleep(ticks);
        let woke = kernel::now();
        println!(
            "relative: sleep(",
            ticks, ") at ", before, " woke at ", woke
        );
        check(
            woke == before + ticks,
            "relative sleep woke on the wrong tick",
        );
    }
    DONE.give();
    kernel::sleep(u32::MAX / 2);
    unreachable!()
}

fn periodic() -> ! {
    let mut next = 0;
    for _ in 0..4 {
        next += 7;
        kernel::sleep_until(next);
        let woke = kernel::now();
        println!("periodic: until ", next, " woke at ", woke);
        check(woke == next, "sleep_until woke on the wrong tick");
    }
    DONE.give();
    kernel::sleep(u32::MAX / 2);
    unreachable!()
}

fn coordinator() -> ! {
    println!("sleep_timing: tick rate ", TICK_HZ, " Hz");
    DONE.take();
    DONE.take();
    println!("all wake-ups on time at tick ", kernel::now());
    pass("sleep_timing")
}
