//! Context-switch cost, for `cargo xtask bench firmware`: two tasks of
//! equal priority hand the CPU to each other with `yield_now` `SWITCHES`
//! times; a baseline runs the same loop with no peer, so `yield_now` does
//! not switch. The difference per iteration is the switch itself (save,
//! schedule with the stack check, restore). Also reports the RAM a task
//! costs: its control block here, its stack in the kernel's stack report.
#![no_std]
#![no_main]

use fw_tests::{check, pass};
use kernel::sched::Tcb;
use kernel::{Semaphore, Stack, TaskDef, println};

board::entry!(main);

const SWITCHES: u32 = 2000;
const STACK_WORDS: usize = 256;

static GO: Semaphore = Semaphore::new(0);
static DONE: Semaphore = Semaphore::new(0);
static STACKS: [Stack<STACK_WORDS>; 3] = [const { Stack::new() }; 3];
static TASKS: [TaskDef; 3] = [
    TaskDef::new("bench", 3, bench, &STACKS[0]),
    TaskDef::new("ping", 2, ping_pong, &STACKS[1]),
    TaskDef::new("pong", 2, ping_pong, &STACKS[2]),
];

fn main() -> ! {
    kernel::start(&TASKS)
}

fn ping_pong() -> ! {
    GO.take();
    for _ in 0..SWITCHES / 2 {
        kernel::yield_now();
    }
    DONE.give();
    kernel::sleep(u32::MAX / 2);
    unreachable!()
}

fn bench() -> ! {
    // Start right after a tick, so no tick interrupt falls inside a run.
    kernel::sleep(1);
    let start = kernel::instructions();
    for _ in 0..SWITCHES {
        kernel::yield_now();
    }
    let baseline = kernel::instructions() - start;
    kernel::sleep(1);
    let start = kernel::instructions();
    GO.give();
    GO.give();
    DONE.take();
    DONE.take();
    let total = kernel::instructions() - start;
    check(total > baseline, "switching cost nothing");
    let per_yield = total / u64::from(SWITCHES);
    let per_switch = (total - baseline) / u64::from(SWITCHES);
    println!("switch_bench: ", SWITCHES, " yields between two tasks");
    println!("instructions per yield with switch: ", per_yield as u32);
    println!(
        "instructions per yield without switch: ",
        (baseline / u64::from(SWITCHES)) as u32
    );
    println!("instructions per switch: ", per_switch as u32);
    println!("tcb bytes: ", core::mem::size_of::<Tcb>());
    // Each task's stack use: the kernel's report at exit.
    pass("switch_bench")
}
