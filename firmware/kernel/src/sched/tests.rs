//! Tests of the task table, time slices, sleeping and switching.

use super::Switch::{Due, Stay};
use super::testing::{NAMES, kernel, run_ticks, settle};
use super::*;

#[test]
fn starts_with_the_highest_priority_then_creation_order() {
    let (k, _) = kernel(&[1, 3, 3, 2]);
    assert_eq!(k.current(), 1);
    assert_eq!(k.ready_queue(3).collect::<std::vec::Vec<_>>(), [1, 2]);
    assert_eq!(k.ready_queue(1).collect::<std::vec::Vec<_>>(), [0]);
}

#[test]
fn spawn_rejects_bad_priority_and_full_table() {
    let mut k = Scheduler::new();
    assert_eq!(
        k.spawn("x", PRIORITIES as u8, 0, 0, 64),
        Err(SpawnError::BadPriority)
    );
    for name in NAMES {
        k.spawn(name, 1, 0, 0, 64).unwrap();
    }
    assert_eq!(k.spawn("y", 1, 0, 0, 64), Err(SpawnError::TableFull));
    let mut k = Scheduler::new();
    assert_eq!(
        k.spawn("z", 1, 0, 0, 1 << 16),
        Err(SpawnError::StackTooLarge)
    );
    assert_eq!(k.spawn("z", 1, 0, 0, 64), Ok(0));
    assert_eq!(k.stack_words(0), 64);
}

#[test]
fn equal_priorities_rotate_every_slice() {
    let (mut k, _) = kernel(&[2, 2, 2]);
    let ran = run_ticks(&mut k, 6 * u32::from(SLICE_TICKS));
    let expected: std::vec::Vec<TaskId> = (0..6 * usize::from(SLICE_TICKS))
        .map(|t| ((t + 1) / usize::from(SLICE_TICKS)) % 3)
        .collect();
    assert_eq!(ran, expected);
    assert_eq!(
        [k.task(0).slices, k.task(1).slices, k.task(2).slices],
        [2, 2, 2]
    );
}

#[test]
fn a_lone_task_keeps_the_cpu_when_its_slice_ends() {
    let (mut k, _) = kernel(&[2, 1]);
    assert!(run_ticks(&mut k, 10).iter().all(|&t| t == 0));
    assert_eq!(k.task(0).slices, 10 / u32::from(SLICE_TICKS));
    assert_eq!(k.task(1).slices, 0);
}

#[test]
fn preempted_task_resumes_first_with_the_rest_of_its_slice() {
    let (mut k, _) = kernel(&[1, 1, 3]);
    // t2 (high) sleeps 1 tick; t0 runs one tick of its slice, then t2
    // wakes and preempts it.
    assert_eq!(k.current(), 2);
    assert_eq!(k.sleep_until(1), Due);
    assert_eq!(settle(&mut k, Due), 0);
    assert_eq!(run_ticks(&mut k, 1), [2]);
    // t2 sleeps again: t0 comes back before t1, and finishes the slice
    // it had started.
    assert_eq!(k.sleep_until(100), Due);
    assert_eq!(settle(&mut k, Due), 0);
    let left = u32::from(SLICE_TICKS) - 1;
    let ran = run_ticks(&mut k, left);
    assert!(ran[..ran.len() - 1].iter().all(|&t| t == 0), "{ran:?}");
    assert_eq!(
        ran.last(),
        Some(&1),
        "t0 had {left} tick(s) of its slice left"
    );
    assert_eq!(k.task(0).slices, 1);
}

#[test]
fn sleep_wakes_on_the_exact_tick() {
    let (mut k, idle) = kernel(&[1]);
    assert_eq!(k.sleep_until(5), Due);
    assert_eq!(settle(&mut k, Due), idle);
    let ran = run_ticks(&mut k, 6);
    assert_eq!(ran, [idle, idle, idle, idle, 0, 0]);
    assert_eq!(k.now(), 6);
    assert_eq!(k.sleep_until(6), Stay, "a reached deadline does not sleep");
    assert_eq!(k.sleep_until(3), Stay, "a past deadline does not sleep");
}

#[test]
fn deadlines_survive_tick_wrap_around() {
    assert!(reached(5, u32::MAX - 2));
    assert!(!reached(u32::MAX - 2, 5));
    assert!(reached(7, 7));
}

#[test]
fn waking_a_higher_priority_task_is_a_switch() {
    let (mut k, _) = kernel(&[1, 2]);
    assert_eq!(k.current(), 1);
    assert_eq!(k.sleep_until(3), Due);
    assert_eq!(settle(&mut k, Due), 0);
    assert_eq!(k.tick(), Stay);
    assert_eq!(k.tick(), Stay);
    assert_eq!(k.tick(), Due, "t1 wakes on tick 3 and outranks t0");
    assert_eq!(k.switch(), 1);
}

#[test]
fn yield_passes_only_to_equal_or_higher_priority() {
    let (mut k, _) = kernel(&[2, 1]);
    assert_eq!(k.yield_current(), Stay, "t1 has lower priority");
    assert_eq!(settle(&mut k, Stay), 0);
    let (mut k, _) = kernel(&[2, 2]);
    assert_eq!(k.yield_current(), Due);
    assert_eq!(settle(&mut k, Due), 1);
    assert_eq!(k.ready_queue(2).collect::<std::vec::Vec<_>>(), [1, 0]);
}

#[test]
fn idle_runs_when_everything_waits() {
    let (mut k, idle) = kernel(&[3, 2]);
    let due = k.block_current(WaitId(0x100));
    assert_eq!(settle(&mut k, due), 1);
    assert_eq!(k.sleep_until(10), Due);
    assert_eq!(settle(&mut k, Due), idle);
}

#[test]
fn a_switch_is_due_only_when_said_so() {
    assert!(Switch::when(true).is_due());
    assert!(!Switch::when(false).is_due());
}
