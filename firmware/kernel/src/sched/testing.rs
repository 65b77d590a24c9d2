//! Helpers shared by the scheduler's unit tests.

use super::{Scheduler, Switch, TaskId};
use crate::config::MAX_TASKS;

pub const NAMES: [&str; MAX_TASKS] = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"];

/// Tasks with `prios` (ids 0..), then an idle task at priority 0, started.
pub fn kernel(prios: &[u8]) -> (Scheduler, TaskId) {
    let mut k = Scheduler::new();
    for (i, &p) in prios.iter().enumerate() {
        assert_eq!(k.spawn(NAMES[i], p, 0x1000 * (i + 1), 0, 64), Ok(i));
    }
    let idle = k.spawn("idle", 0, 0xF000, 0, 64).unwrap();
    k.start();
    (k, idle)
}

/// Switches if `due`, returning the running task.
pub fn settle(k: &mut Scheduler, due: Switch) -> TaskId {
    if due.is_due() {
        k.switch();
    }
    k.current()
}

/// Runs `n` ticks, switching when one is due; the running task after each.
pub fn run_ticks(k: &mut Scheduler, n: u32) -> std::vec::Vec<TaskId> {
    (0..n)
        .map(|_| {
            let due = k.tick();
            settle(k, due)
        })
        .collect()
}
