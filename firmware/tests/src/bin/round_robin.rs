//! Round-robin fairness: four busy tasks of equal priority get time slices
//! whose counts differ by at most one, and a lower-priority task never runs
//! while they are ready.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, Ordering};

use fw_tests::{check, pass};
use kernel::config::SLICE_TICKS;
use kernel::{Stack, TaskDef, println};

board::entry!(main);

const BUSY: usize = 4;
const RUN_TICKS: u32 = 30;

static STARVED_RAN: AtomicBool = AtomicBool::new(false);

static STACKS: [Stack<192>; BUSY + 2] = [const { Stack::new() }; BUSY + 2];
static TASKS: [TaskDef; BUSY + 2] = [
    TaskDef::new("w", 2, busy, &STACKS[0]),
    TaskDef::new("x", 2, busy, &STACKS[1]),
    TaskDef::new("y", 2, busy, &STACKS[2]),
    TaskDef::new("z", 2, busy, &STACKS[3]),
    TaskDef::new("starved", 1, starved, &STACKS[4]),
    TaskDef::new("monitor", 5, monitor, &STACKS[5]),
];

fn main() -> ! {
    kernel::start(&TASKS)
}

/// Spins without hints: QEMU's M-profile model lets no virtual time pass
/// across a `yield` instruction (what `spin_loop` emits) under icount.
fn busy() -> ! {
    let mut n = 0u32;
    loop {
        n = core::hint::black_box(n.wrapping_add(1));
    }
}

fn starved() -> ! {
    STARVED_RAN.store(true, Ordering::SeqCst);
    busy()
}

fn monitor() -> ! {
    println!(
        "round_robin: ",
        BUSY,
        " busy tasks at priority 2, ",
        u32::from(SLICE_TICKS),
        "-tick slices, for ",
        RUN_TICKS,
        " ticks"
    );
    kernel::sleep(RUN_TICKS);
    let slices: [u32; BUSY] = core::array::from_fn(kernel::slices);
    for (i, s) in slices.iter().enumerate() {
        println!("task ", TASKS[i].name, ": ", *s, " slices");
    }
    let (lo, hi) = (slices.iter().min(), slices.iter().max());
    let fair = matches!((lo, hi), (Some(lo), Some(hi)) if hi - lo <= 1 && *lo > 0);
    let total: u32 = slices.iter().sum();
    println!(
        "total ",
        total,
        " slices, spread within 1: ",
        if fair { "yes" } else { "no" }
    );
    check(fair, "slice counts differ by more than one");
    check(
        total == RUN_TICKS / u32::from(SLICE_TICKS),
        "slices do not add up to the run",
    );
    let starved = STARVED_RAN.load(Ordering::SeqCst);
    println!("lower priority ran: ", if starved { "yes" } else { "no" });
    check(
        !starved,
        "a lower priority ran while equal-priority tasks were ready",
    );
    pass("round_robin")
}
