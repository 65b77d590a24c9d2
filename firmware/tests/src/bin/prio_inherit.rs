//! Priority inversion resolved by inheritance: low locks a mutex, high
//! blocks on it, and medium (between them) becomes ready at the same
//! time. Low inherits high's priority, so medium cannot starve it: high
//! gets the mutex as soon as low unlocks, before medium runs at all.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, Ordering};

use fw_tests::{check, pass};
use kernel::{Mutex, Stack, TaskDef, println};

board::entry!(main);

const LOW: usize = 0;
const HOLD_UNTIL: u32 = 4;

static RESOURCE: Mutex = Mutex::new();
static MEDIUM_RAN: AtomicBool = AtomicBool::new(false);

static STACKS: [Stack<256>; 3] = [const { Stack::new() }; 3];
static TASKS: [TaskDef; 3] = [
    TaskDef::new("low", 1, low, &STACKS[0]),
    TaskDef::new("medium", 2, medium, &STACKS[1]),
    TaskDef::new("high", 3, high, &STACKS[2]),
];

fn main() -> ! {
    println!(
        "prio_inherit: low (1) holds a mutex that high (3) needs; medium (2) is ready from tick 1"
    );
    kernel::start(&TASKS)
}

fn low() -> ! {
    let guard = RESOURCE.lock();
    println!("low: locked at tick ", kernel::now());
    kernel::sleep(0);
    let mut reported = false;
    while kernel::now() < HOLD_UNTIL {
        if !reported && RESOURCE_WAITED.load(Ordering::SeqCst) {
            reported = true;
            let p = kernel::priority(LOW);
            println!("low: running at priority ", p, " while high waits");
            check(p == 3, "low did not inherit high's priority");
        }
    }
    check(reported, "high never waited for the mutex");
    println!("low: unlocking at tick ", kernel::now());
    drop(guard);
    let p = kernel::priority(LOW);
    println!("low: back to priority ", p);
    check(p == 1, "low kept the inherited priority");
    check(MEDIUM_RAN.load(Ordering::SeqCst), "medium never ran");
    pass("prio_inherit")
}

static RESOURCE_WAITED: AtomicBool = AtomicBool::new(false);

fn medium() -> ! {
    kernel::sleep_until(1);
    MEDIUM_RAN.store(true, Ordering::SeqCst);
    println!("medium: running at tick ", kernel::now());
    kernel::sleep(1000);
    unreachable!()
}

fn high() -> ! {
    kernel::sleep_until(1);
    println!("high: wants the mutex at tick ", kernel::now());
    RESOURCE_WAITED.store(true, Ordering::SeqCst);
    let guard = RESOURCE.lock();
    let medium_ran = MEDIUM_RAN.load(Ordering::SeqCst);
    println!(
        "high: got the mutex at tick ",
        kernel::now(),
        ", medium ran first: ",
        if medium_ran { "yes" } else { "no" }
    );
    check(
        !medium_ran && kernel::now() == HOLD_UNTIL,
        "inversion: medium ran before high",
    );
    drop(guard);
    kernel::sleep(1000);
    unreachable!()
}
