//! The runtime on the host, against the simulated port (`arch::sim`) and a
//! board whose console is a buffer and whose exit is a panic carrying the
//! exit code. Each test runs on its own thread, with its own kernel.

use std::boxed::Box;
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::string::String;
use std::vec::Vec;

use super::*;
use crate::arch::sim::{Record, Sim};

/// The simulated board.
enum SimBoard {}

/// The payload of [`SimBoard::exit`]'s panic.
struct Exit(u32);

const TIMER_HZ: u32 = 32_768;

std::thread_local! {
    static CONSOLE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Board for SimBoard {
    fn timer_hz() -> u32 {
        TIMER_HZ
    }

    fn console_write(bytes: &[u8]) {
        assert!(Sim::masked(), "console written outside a critical section");
        CONSOLE.with(|c| c.borrow_mut().extend_from_slice(bytes));
    }

    fn console_flush() {}

    fn exit(code: u32) -> ! {
        std::panic::panic_any(Exit(code))
    }
}

fn console() -> String {
    CONSOLE.with(|c| String::from_utf8(c.borrow().clone()).unwrap())
}

/// The exit code `f` ends the run with.
fn exit_code(f: impl FnOnce()) -> u32 {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the run did not end");
    payload.downcast_ref::<Exit>().expect("ended by exit").0
}

/// The message `f` panics with.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("no panic");
    payload
        .downcast_ref::<&str>()
        .map(|s| String::from(*s))
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap()
}

fn never() -> ! {
    unreachable!("the simulation runs no task code")
}

/// A stack of `N` words that lives for the rest of the test run.
fn stack<const N: usize>() -> &'static Stack<N> {
    Box::leak(Box::new(Stack::new()))
}

/// A booted kernel with tasks of priorities `prios` (ids 0..), each with a
/// 64-word stack, then the idle task.
fn booted(prios: &[u8]) -> (&'static Kernel<Sim>, Vec<TaskDef>) {
    const NAMES: [&str; 7] = ["t0", "t1", "t2", "t3", "t4", "t5", "t6"];
    let k: &'static Kernel<Sim> = Box::leak(Box::new(Kernel::new()));
    let mut tasks: Vec<TaskDef> = prios
        .iter()
        .zip(NAMES)
        .map(|(&p, name)| TaskDef::new(name, p, never, stack::<64>()))
        .collect();
    let idle = TaskDef::new("idle", 0, idle::<Sim>, stack::<64>());
    k.boot(&tasks, &idle);
    tasks.push(idle);
    (k, tasks)
}

/// Plays the switch handler: the running task's saved stack pointer is
/// the one its first frame left.
fn switch(k: &Kernel<Sim>) -> TaskId {
    let sp = k.sched.with(|s| s.task(s.current()).sp);
    k.switch_context::<SimBoard>(sp);
    k.sched.with(|s| s.current())
}

fn current(k: &Kernel<Sim>) -> &'static str {
    k.current_task_name()
}

#[test]
fn boot_builds_each_task_then_the_idle_task_and_runs_the_highest() {
    let k: Kernel<Sim> = Kernel::new();
    assert_eq!(k.current_task_name(), "main", "before the start");
    let tasks = [
        TaskDef::new("low", 1, never, stack::<64>()),
        TaskDef::new("high", 3, never, stack::<48>()),
    ];
    let idle = TaskDef::new("idle", 0, idle::<Sim>, stack::<64>());
    let (top, entry) = k.boot(&tasks, &idle);
    assert_eq!(top, tasks[1].stack.top() & !15);
    assert_eq!(entry as fn() -> ! as usize, never as fn() -> ! as usize);
    assert_eq!(k.current_task_name(), "high");
    assert_eq!(k.task_count(), 3);
    let frame = 4 * <Sim as Port>::FRAME_WORDS;
    assert_eq!(k.stack_usage(0), Some(("low", frame, 256)));
    assert_eq!(k.stack_usage(1), Some(("high", frame, 192)));
    assert_eq!(k.stack_usage(2), Some(("idle", frame, 256)));
    assert_eq!(k.stack_usage(3), None);
    // The first frame sits right below the aligned top, above the intact
    // guard words; the rest of the stack holds the paint.
    let sp = k.sched.with(|s| s.task(0).sp);
    assert_eq!(sp, (tasks[0].stack.top() & !15) - frame);
    assert!(crate::arch::stack_intact(tasks[0].stack.lo(), sp));
}

#[test]
fn start_hands_the_board_clock_to_the_port() {
    let k: Kernel<Sim> = Kernel::new();
    let tasks = [TaskDef::new("only", 1, never, stack::<64>())];
    let idle = TaskDef::new("idle", 0, idle::<Sim>, stack::<64>());
    let msg = panic_message(|| k.start::<SimBoard>(&tasks, &idle));
    assert_eq!(msg, "sim: first task entered");
    let top = tasks[0].stack.top() & !15;
    assert_eq!(Sim::record().started, Some((top, TIMER_HZ)));
    assert_eq!(k.instructions::<SimBoard>(), u64::from(TIMER_HZ / 1000));
}

#[test]
fn boot_refuses_a_second_start_a_small_stack_and_a_full_table() {
    let (k, tasks) = booted(&[1]);
    let msg = panic_message(|| {
        k.boot(&tasks[..1], &tasks[1]);
    });
    assert_eq!(msg, "kernel started twice");

    let k: Kernel<Sim> = Kernel::new();
    let small = [TaskDef::new("small", 1, never, stack::<20>())];
    let idle = TaskDef::new("idle", 0, idle::<Sim>, stack::<64>());
    assert_eq!(
        panic_message(|| {
            k.boot(&small, &idle);
        }),
        "task stack too small"
    );
    assert!(!Sim::masked(), "the critical section ended with the panic");

    let k: Kernel<Sim> = Kernel::new();
    let many: Vec<TaskDef> = (0..crate::config::MAX_TASKS)
        .map(|_| TaskDef::new("t", 1, never, stack::<64>()))
        .collect();
    assert_eq!(
        panic_message(|| {
            k.boot(&many, &idle);
        }),
        "cannot create task"
    );
}

#[test]
fn the_switch_handler_saves_and_resumes_stack_pointers() {
    let (k, _) = booted(&[1, 1]);
    assert_eq!(current(k), "t0");
    k.yield_now();
    assert_eq!(
        Sim::record().switched,
        1,
        "a yield to an equal peer switches"
    );
    let t0_sp = k.sched.with(|s| s.task(0).sp);
    let resumed = k.switch_context::<SimBoard>(t0_sp - 8);
    assert_eq!(current(k), "t1");
    assert_eq!(resumed, k.sched.with(|s| s.task(1).sp));
    assert_eq!(k.sched.with(|s| s.task(0).sp), t0_sp - 8, "saved");
}

#[test]
fn an_overrun_stack_is_reported_with_its_task_and_exit_code_103() {
    let (k, tasks) = booted(&[1, 1]);
    // A saved stack pointer inside the guard words of t0.
    let sp = tasks[0].stack.lo() + 4;
    let code = exit_code(|| {
        k.switch_context::<SimBoard>(sp);
    });
    assert_eq!(code, crate::exit_code::STACK_OVERFLOW);
    // The overrun stack counts as used up to its guard words.
    let frame = 4 * <Sim as Port>::FRAME_WORDS;
    assert_eq!(
        console(),
        std::format!(
            "*** STACK OVERFLOW in task t0\n@stack t0 {frame} 256\n@stack t1 {frame} 256\n@stack idle {frame} 256\n"
        )
    );
}

#[test]
fn every_exit_reports_each_tasks_peak_after_the_output() {
    let k: Kernel<Sim> = Kernel::new();
    let code = exit_code(|| k.exit::<SimBoard>(crate::exit_code::PASS));
    assert_eq!((code, console()), (0, String::new()), "no task, no report");
    let (k, tasks) = booted(&[2, 1]);
    console_line::<Sim, SimBoard>(&[&"PASS x"]);
    // Task t1 once used ten words more than its first frame.
    let frame = 4 * <Sim as Port>::FRAME_WORDS;
    tasks[1]
        .stack
        .push_frame(&[7; <Sim as Port>::FRAME_WORDS + 10]);
    let code = exit_code(|| k.exit::<SimBoard>(crate::exit_code::FAIL));
    assert_eq!(code, crate::exit_code::FAIL);
    assert_eq!(
        console(),
        std::format!(
            "PASS x\n@stack t0 {frame} 256\n@stack t1 {} 256\n@stack idle {frame} 256\n",
            frame + 40
        )
    );
}

#[test]
fn sleep_switches_only_when_it_sleeps_and_the_tick_wakes_on_time() {
    let (k, _) = booted(&[1]);
    k.sleep(0);
    assert_eq!(Sim::record().switched, 0, "sleep(0) returns at once");
    Sim::on_switch(move || {
        assert_eq!(switch(k), 1, "the idle task runs while t0 sleeps");
    });
    k.sleep(3);
    assert_eq!(Sim::record().switched, 1);
    assert_eq!(current(k), "idle");
    assert_eq!(k.on_tick(), Switch::Stay);
    assert_eq!(k.on_tick(), Switch::Stay);
    assert_eq!(k.on_tick(), Switch::Due, "t0 wakes on tick 3");
    assert_eq!(switch(k), 0);
    assert_eq!(k.now(), 3);
    k.sleep_until(2);
    assert_eq!(Sim::record().switched, 1, "a past deadline does not sleep");
}

#[test]
fn the_tick_hook_runs_after_the_tick_and_its_give_is_a_request() {
    std::thread_local! {
        static KERNEL: &'static Kernel<Sim> = booted(&[1, 2]).0;
        static SEM: &'static Semaphore<Sim> = Box::leak(Box::new(Semaphore::new(0)));
        static NOW_IN_HOOK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    fn hook() {
        let k = KERNEL.with(|k| *k);
        NOW_IN_HOOK.with(|n| n.set(k.now()));
        SEM.with(|s| k.give(s));
    }
    let k = KERNEL.with(|k| *k);
    let sem = SEM.with(|s| *s);
    // t1 (2) blocks on the semaphore; t0 (1) runs.
    Sim::on_switch(move || {
        switch(k);
    });
    k.take(sem);
    assert_eq!(current(k), "t0");
    k.set_tick_hook(hook);
    assert_eq!(k.on_tick(), Switch::Stay, "the tick itself wakes nobody");
    assert_eq!(
        NOW_IN_HOOK.with(|n| n.get()),
        1,
        "the hook sees the new tick"
    );
    let record: Record = Sim::record();
    assert_eq!(
        record.requested, 1,
        "a give from a handler requests the switch"
    );
    assert_eq!(record.switched, 1, "only the take switched from a task");
    assert_eq!(switch(k), 1);
    assert_eq!(sem.count(), 0, "the unit went to the waiter");
}

#[test]
fn a_blocking_take_returns_once_another_task_gives() {
    let (k, _) = booted(&[2, 1]);
    let sem: &'static Semaphore<Sim> = Box::leak(Box::new(Semaphore::new(0)));
    Sim::on_switch(move || {
        // Switched out: t1 runs and gives, which wakes t0 and asks for
        // the switch back.
        assert_eq!(switch(k), 1);
        k.give(sem);
        assert_eq!(switch(k), 0);
    });
    k.take(sem);
    assert_eq!(current(k), "t0");
    assert_eq!(Sim::record().requested, 1);
    assert!(!sem.try_take(), "the unit was handed over, not counted");
    k.give(sem);
    assert_eq!(sem.count(), 1);
    assert!(sem.try_take());
}

#[test]
fn a_mutex_passes_to_its_waiter_on_unlock_and_refuses_misuse() {
    let (k, _) = booted(&[1, 3]);
    let m: &'static Mutex<Sim> = Box::leak(Box::new(Mutex::new()));
    // t1 (3) sleeps; t0 (1) locks; t1 wakes and blocks on the mutex.
    Sim::on_switch(move || {
        switch(k);
    });
    k.sleep(1);
    assert_eq!(current(k), "t0");
    let guard = k.lock(m);
    assert_eq!(m.owner(), Some(0));
    assert_eq!(k.on_tick(), Switch::Due);
    assert_eq!(switch(k), 1);
    Sim::on_switch(move || {
        assert_eq!(k.priority(0), 3, "the owner inherits the waiter's priority");
        switch(k);
    });
    let waiter = k.lock(m);
    assert_eq!(current(k), "t0");
    Sim::on_switch(|| {});
    drop(guard);
    assert_eq!(m.owner(), Some(1), "handed to the waiter");
    assert_eq!(k.priority(0), 1);
    assert_eq!(Sim::record().requested, 1, "the unlock asks for the switch");
    assert_eq!(switch(k), 1);
    let msg = panic_message(|| {
        let _again = k.lock(m);
    });
    assert_eq!(msg, "mutex locked twice by its owner");
    // t1 sleeps, and its guard ends up with t0.
    Sim::on_switch(move || {
        assert_eq!(switch(k), 0);
    });
    k.sleep(5);
    let msg = panic_message(move || drop(waiter));
    assert_eq!(msg, "mutex unlocked by a task that does not own it");
}

#[test]
fn a_queue_blocks_when_full_and_when_empty_and_keeps_order() {
    let (k, _) = booted(&[2, 1]);
    let q: &'static Queue<Sim, u32, 1> = Box::leak(Box::new(Queue::new()));
    k.send(q, 10);
    assert_eq!(q.len(), 1);
    // Full: t0 blocks in `send` until t1 has taken an item; t1's `recv`
    // wakes t0, which outranks it, and switches back at once.
    Sim::on_switch(move || {
        assert_eq!(switch(k), 1);
        assert_eq!(k.recv(q), 10);
        assert_eq!(Sim::record().switched, 2, "t1 switches from its recv");
        assert_eq!(switch(k), 0);
    });
    k.send(q, 11);
    assert_eq!(k.recv(q), 11);
    assert!(q.is_empty());
    // Empty: t0 blocks in `recv` until an interrupt handler sends.
    Sim::on_switch(move || {
        assert_eq!(switch(k), 1);
        assert_eq!(k.try_send(q, 12), Ok(()));
        assert_eq!(k.try_send(q, 13), Err(13), "full: handed back");
        assert_eq!(switch(k), 0);
    });
    assert_eq!(k.recv(q), 12);
    assert_eq!(Sim::record().requested, 1, "the handler's send woke t0");
}

#[test]
fn console_lines_and_fault_and_panic_reports() {
    let (k, _) = booted(&[1]);
    console_line::<Sim, SimBoard>(&[&"n=", &42u32, &" ", &Hex(0xAB)]);
    assert_eq!(console(), "n=42 0x000000ab\n");
    let code = exit_code(|| k.fault::<SimBoard>("HardFault, CFSR=", 0x1234, 0x100));
    assert_eq!(code, crate::exit_code::FAULT);
    // The stack report follows the marker, on every way out.
    let frame = 4 * <Sim as Port>::FRAME_WORDS;
    let report = std::format!("@stack t0 {frame} 256\n@stack idle {frame} 256\n");
    let marker = "*** FAULT in task t0 at pc=0x00001234: HardFault, CFSR=0x00000100\n";
    assert!(
        console().ends_with(&std::format!("{marker}{report}")),
        "{}",
        console()
    );
    let code = exit_code(|| k.report_panic::<SimBoard>("boom", ("src/x.rs", 7), 0x2000));
    assert_eq!(code, crate::exit_code::PANIC);
    let marker = "*** PANIC in task t0 at pc=0x00002000: boom (src/x.rs:7)\n";
    assert!(
        console().ends_with(&std::format!("{marker}{report}")),
        "{}",
        console()
    );
}
