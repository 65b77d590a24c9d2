//! Counting semaphores: the count, and the hand-over of a unit from a give
//! to the first waiter.

use super::{Scheduler, Switch, WaitId};

/// A counting semaphore's state.
#[derive(Debug)]
pub struct SemState {
    pub count: u32,
}

impl Scheduler {
    /// Takes a unit of `sem`, or blocks the running task on `w` when the
    /// count is zero. [`Switch::Due`] when it blocked (the unit is handed
    /// over by the [`Self::sem_give`] that wakes it).
    pub fn sem_take(&mut self, sem: &mut SemState, w: WaitId) -> Switch {
        if sem.count > 0 {
            sem.count -= 1;
            return Switch::Stay;
        }
        self.block_current(w)
    }

    /// Signals `sem` (from a task or an interrupt handler): hands the unit to
    /// the first waiter, or adds it to the count.
    pub fn sem_give(&mut self, sem: &mut SemState, w: WaitId) -> Switch {
        match self.wake_one(w) {
            Some(_) => self.needs_switch(),
            None => {
                sem.count = sem.count.saturating_add(1);
                Switch::Stay
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::State;
    use super::super::Switch::{Due, Stay};
    use super::super::testing::{kernel, settle};
    use super::*;

    #[test]
    fn semaphore_counts_then_blocks() {
        let (mut k, _) = kernel(&[1]);
        let (mut s, w) = (SemState { count: 2 }, WaitId(0x200));
        assert_eq!(k.sem_take(&mut s, w), Stay);
        assert_eq!(k.sem_take(&mut s, w), Stay);
        assert_eq!(k.sem_take(&mut s, w), Due);
        assert_eq!(k.task(0).state, State::Blocked(w));
        assert_eq!(s.count, 0);
    }

    #[test]
    fn semaphore_give_hands_over_to_the_best_waiter() {
        // t0, t1 (prio 1) and t2 (prio 2) block in the order t1, t0, t2;
        // t3 (prio 0, like idle) gives.
        let (mut k, _) = kernel(&[1, 1, 2, 0]);
        let (mut s, w) = (SemState { count: 0 }, WaitId(0x300));
        assert_eq!(k.current(), 2);
        assert_eq!(k.sem_take(&mut s, w), Due);
        assert_eq!(settle(&mut k, Due), 0);
        assert_eq!(k.yield_current(), Due);
        assert_eq!(settle(&mut k, Due), 1);
        assert_eq!(k.sem_take(&mut s, w), Due);
        assert_eq!(settle(&mut k, Due), 0);
        assert_eq!(k.sem_take(&mut s, w), Due);
        assert_eq!(settle(&mut k, Due), 3);
        assert_eq!(k.first_waiter(w), Some(2), "highest priority first");
        assert_eq!(k.sem_give(&mut s, w), Due);
        assert_eq!(k.first_waiter(w), Some(1), "then the longest waiting");
        assert_eq!(k.sem_give(&mut s, w), Due);
        assert_eq!(k.sem_give(&mut s, w), Due);
        assert_eq!(k.first_waiter(w), None);
        assert_eq!(k.sem_give(&mut s, w), Stay);
        assert_eq!(s.count, 1, "a give without waiters is counted");
        assert_eq!(settle(&mut k, Due), 2);
    }

    #[test]
    fn a_give_from_an_interrupt_to_a_lower_task_is_no_switch() {
        let (mut k, _) = kernel(&[1, 2]);
        let (mut s, w) = (SemState { count: 0 }, WaitId(0x310));
        assert_eq!(k.sleep_until(50), Due);
        assert_eq!(settle(&mut k, Due), 0);
        assert_eq!(k.sem_take(&mut s, w), Due);
        assert_eq!(settle(&mut k, Due), 2);
        // Tick hook on behalf of an interrupt, with t1 woken meanwhile.
        for _ in 0..50 {
            let _ = k.tick();
        }
        assert_eq!(settle(&mut k, Due), 1);
        assert_eq!(k.sem_give(&mut s, w), Stay, "t0 is below the running t1");
        assert_eq!(k.ready_queue(1).collect::<std::vec::Vec<_>>(), [0]);
    }

    #[test]
    fn woken_before_switching_out_runs_on_without_double_queueing() {
        let (mut k, _) = kernel(&[1, 1]);
        let (mut s, w) = (SemState { count: 0 }, WaitId(0x320));
        assert_eq!(k.sem_take(&mut s, w), Due);
        // An interrupt gives before the switch happens.
        let _ = k.sem_give(&mut s, w);
        assert_eq!(k.task(0).state, State::Ready);
        assert_eq!(k.ready_queue(1).collect::<std::vec::Vec<_>>(), [0, 1]);
        assert_eq!(settle(&mut k, Due), 0);
        assert_eq!(k.ready_queue(1).collect::<std::vec::Vec<_>>(), [0, 1]);
    }
}
