//! Preemptive scheduling: three busy tasks of equal priority share the CPU
//! in timer-driven time slices (they never yield), while a higher-priority
//! monitor wakes periodically, preempting them. The monitor checks that the
//! busy tasks ran in strict round-robin order and got equal slice counts.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU8, Ordering};

use kernel::config::SLICE_TICKS;
use kernel::{Shared, Stack, TaskDef, println};

board::entry!(main);

const ROUNDS: u32 = 3;
const ROUND_TICKS: u32 = 8;

/// The order in which the busy tasks were seen to start running.
struct Log {
    order: [u8; 32],
    len: usize,
}

static LOG: Shared<Log> = Shared::new(Log {
    order: [0; 32],
    len: 0,
});
static LAST: AtomicU8 = AtomicU8::new(u8::MAX);

static STACKS: [Stack<256>; 4] = [const { Stack::new() }; 4];
static TASKS: [TaskDef; 4] = [
    TaskDef::new("monitor", 3, monitor, &STACKS[0]),
    TaskDef::new("a", 1, || spin(0), &STACKS[1]),
    TaskDef::new("b", 1, || spin(1), &STACKS[2]),
    TaskDef::new("c", 1, || spin(2), &STACKS[3]),
];

fn main() -> ! {
    kernel::start(&TASKS)
}

/// Busy task `me`: logs each time it finds it was not the last to run.
fn spin(me: u8) -> ! {
    loop {
        if LAST.load(Ordering::Relaxed) != me {
            LAST.store(me, Ordering::Relaxed);
            LOG.with(|l| {
                if l.len < l.order.len() {
                    l.order[l.len] = me;
                    l.len += 1;
                }
            });
        }
    }
}

fn monitor() -> ! {
    println!(
        "sched: tasks a, b, c at priority 1 in ",
        u32::from(SLICE_TICKS),
        "-tick slices, monitor at priority 3"
    );
    for _ in 0..ROUNDS {
        kernel::sleep(ROUND_TICKS);
        let seen = LOG.with(|l| l.len);
        println!(
            "monitor: tick ",
            kernel::now(),
            ", busy-task switches ",
            seen
        );
    }
    let (order, len) = LOG.with(|l| (l.order, l.len));
    let mut ok = len >= 9;
    let mut line = [0u8; 32];
    for (i, &who) in order[..len].iter().enumerate() {
        ok &= usize::from(who) == i % 3;
        line[i] = b'a' + who;
    }
    println!("order: ", core::str::from_utf8(&line[..len]).unwrap_or("?"));
    // Tasks 1..=3 are a, b, c in declaration order.
    let slices = [kernel::slices(1), kernel::slices(2), kernel::slices(3)];
    println!("slices: a=", slices[0], " b=", slices[1], " c=", slices[2]);
    let (lo, hi) = (slices.iter().min(), slices.iter().max());
    ok &= matches!((lo, hi), (Some(lo), Some(hi)) if hi - lo <= 1 && *lo > 0);
    if !ok {
        println!("FAIL sched: order or slice counts wrong");
        kernel::exit(kernel::exit_code::FAIL);
    }
    println!("PASS sched");
    kernel::exit(kernel::exit_code::PASS)
}
