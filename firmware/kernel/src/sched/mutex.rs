//! Mutexes with priority inheritance: ownership, the lent priority and the
//! hand-over of ownership to the first waiter on unlock.

use super::{Scheduler, Switch, TaskId, WaitId, slot};

/// The owner of a mutex that no task owns: no task id (the table holds
/// fewer than 255 tasks).
const NIL: u8 = u8::MAX;

/// A mutex's state: its owner, if any.
#[derive(Debug)]
pub struct MutexState {
    owner: u8,
}

impl MutexState {
    pub const fn new() -> Self {
        Self { owner: NIL }
    }

    pub fn owner(&self) -> Option<TaskId> {
        (self.owner != NIL).then_some(usize::from(self.owner))
    }
}

impl Default for MutexState {
    fn default() -> Self {
        Self::new()
    }
}

/// Misuse of a mutex.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MutexError {
    /// Locked again by its owner.
    Recursive,
    /// Unlocked by a task that does not own it.
    NotOwner,
}

impl Scheduler {
    /// Locks `m` for the running task, or blocks it on `w` and lends its
    /// priority to the owner (priority inheritance). [`Switch::Due`] when it
    /// blocked; ownership is handed over by the unlock that wakes it.
    ///
    /// Errors: the running task already owns `m` (no recursive locking).
    pub fn mutex_lock(&mut self, m: &mut MutexState, w: WaitId) -> Result<Switch, MutexError> {
        let cur = self.current;
        if m.owner == NIL {
            m.owner = cur;
            self.tasks[slot(cur)].held += 1;
            return Ok(Switch::Stay);
        }
        if m.owner == cur {
            return Err(MutexError::Recursive);
        }
        let due = self.block_current(w);
        let prio = self.tasks[slot(cur)].prio;
        let owner = usize::from(m.owner);
        if prio > self.tasks[slot(owner)].prio {
            self.set_prio(owner, prio);
        }
        Ok(due)
    }

    /// Unlocks `m`: the running task drops back to its base priority once it
    /// holds no mutex, and ownership passes to the first waiter (the highest
    /// priority, so the waiters left behind need not lift it).
    ///
    /// Errors: the running task does not own `m`.
    pub fn mutex_unlock(&mut self, m: &mut MutexState, w: WaitId) -> Result<Switch, MutexError> {
        let cur = usize::from(self.current);
        if usize::from(m.owner) != cur {
            return Err(MutexError::NotOwner);
        }
        let t = &mut self.tasks[slot(cur)];
        t.held -= 1;
        if t.held == 0 {
            let base = t.base_prio;
            self.set_prio(cur, base);
        }
        match self.wake_one(w) {
            // The new owner is the highest waiter, so it needs no raise.
            Some(next) => {
                m.owner = next as u8;
                self.tasks[slot(next)].held += 1;
            }
            None => m.owner = NIL,
        }
        Ok(self.needs_switch())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Switch::{Due, Stay};
    use super::super::testing::{kernel, run_ticks, settle};
    use super::*;

    #[test]
    fn mutex_inheritance_lifts_the_owner_and_drops_on_unlock() {
        // low (t0, 1) owns; medium (t1, 2) is ready; high (t2, 3) blocks.
        let (mut k, _) = kernel(&[1, 2, 3]);
        let (mut m, w) = (MutexState::new(), WaitId(0x400));
        assert_eq!(k.sleep_until(1), Due);
        assert_eq!(settle(&mut k, Due), 1);
        assert_eq!(k.sleep_until(1), Due);
        assert_eq!(settle(&mut k, Due), 0);
        assert_eq!(k.mutex_lock(&mut m, w), Ok(Stay));
        assert_eq!(m.owner(), Some(0));
        assert_eq!(run_ticks(&mut k, 1), [2], "high wakes first");
        assert_eq!(k.mutex_lock(&mut m, w), Ok(Due));
        assert_eq!(k.task(0).prio, 3, "owner inherits the waiter's priority");
        assert_eq!(settle(&mut k, Due), 0, "and runs before the medium task");
        assert_eq!(k.mutex_unlock(&mut m, w), Ok(Due));
        assert_eq!(k.task(0).prio, 1);
        assert_eq!(m.owner(), Some(2), "ownership is handed to the waiter");
        assert_eq!(settle(&mut k, Due), 2);
        assert_eq!(k.mutex_unlock(&mut m, w), Ok(Stay));
        assert_eq!(m.owner(), None);
    }

    #[test]
    fn mutex_misuse_is_an_error() {
        let (mut k, _) = kernel(&[1, 1]);
        let (mut m, w) = (MutexState::new(), WaitId(0x500));
        assert_eq!(k.mutex_unlock(&mut m, w), Err(MutexError::NotOwner));
        assert_eq!(k.mutex_lock(&mut m, w), Ok(Stay));
        assert_eq!(k.mutex_lock(&mut m, w), Err(MutexError::Recursive));
    }

    #[test]
    fn ownership_passes_by_priority() {
        let (mut k, _) = kernel(&[3, 1, 2, 4]);
        let (mut m, w) = (MutexState::new(), WaitId(0x600));
        // t3 (4) takes the mutex and sleeps; t0 (3), t2 (2), t1 (1) block.
        assert_eq!(k.mutex_lock(&mut m, w), Ok(Stay));
        assert_eq!(k.sleep_until(1), Due);
        for expect in [0, 2, 1] {
            assert_eq!(settle(&mut k, Due), expect);
            assert_eq!(k.mutex_lock(&mut m, w), Ok(Due));
        }
        assert_eq!(run_ticks(&mut k, 1), [3]);
        for next in [0, 2, 1] {
            let due = k.mutex_unlock(&mut m, w);
            let outranks = k.task(next).prio > k.task(k.current()).prio;
            assert_eq!(due, Ok(if outranks { Due } else { Stay }));
            assert_eq!(m.owner(), Some(next));
            assert_eq!(k.sleep_until(1000), Due);
            assert_eq!(settle(&mut k, Due), next);
        }
        assert_eq!(k.mutex_unlock(&mut m, w), Ok(Stay));
        assert_eq!(m.owner(), None);
    }
}
