//! The ready queues: one circular list per priority, with a head and a
//! tail, linked through [`Tcb::next`](super::Tcb), and a bit mask of the
//! priorities whose list is not empty.
//!
//! Invariants: every task in [`State::Ready`](super::State), the running
//! one included, is linked in the ring of its effective priority; the
//! running task, when ready, is the head of its ring, so a time slice or a
//! yield is one step of the ring; the idle task (priority 0) is always
//! ready, so a ready task always exists.

use super::{MAX_TASKS, Scheduler, TaskId, level, slot};

/// Index of the highest set bit of a non-zero `mask` below 2^8: CLZ where
/// the CPU has it (Cortex-M3, and the host).
#[cfg(not(target_arch = "riscv32"))]
#[inline(always)]
pub(super) fn highest_bit(mask: u32) -> usize {
    (31 - mask.leading_zeros()) as usize
}

/// Index of the highest set bit of a non-zero `mask` below 2^8, by nibble
/// lookup: RV32IMAC has no count-leading-zeros instruction, and the
/// compiler's generic expansion is several times longer.
#[cfg_attr(not(target_arch = "riscv32"), allow(dead_code))]
#[inline(always)]
pub(super) fn highest_bit_by_table(mask: u32) -> usize {
    const TOP: [u8; 16] = [0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3];
    let hi = (mask >> 4) & 0xF;
    if hi != 0 {
        4 + usize::from(TOP[hi as usize])
    } else {
        usize::from(TOP[(mask & 0xF) as usize])
    }
}

#[cfg(target_arch = "riscv32")]
pub(super) use highest_bit_by_table as highest_bit;

impl Scheduler {
    /// Links `id` into the ring of its priority: at the tail, or at the head
    /// when `front`.
    pub(super) fn insert(&mut self, id: TaskId, front: bool) {
        let p = level(self.tasks[slot(id)].prio);
        let head = self.head[p];
        if self.ready_mask & (1 << p) == 0 {
            self.head[p] = id as u8;
            self.tail[p] = id as u8;
            self.tasks[slot(id)].next = id as u8;
        } else {
            let tail = self.tail[p];
            self.tasks[slot(tail)].next = id as u8;
            self.tasks[slot(id)].next = head;
            if front {
                self.head[p] = id as u8;
            } else {
                self.tail[p] = id as u8;
            }
        }
        self.ready_mask |= 1 << p;
    }

    /// Unlinks `id` from the ring of its priority, if it is there.
    pub(super) fn remove(&mut self, id: TaskId) {
        let p = level(self.tasks[slot(id)].prio);
        if self.ready_mask & (1 << p) == 0 {
            return;
        }
        let tail = self.tail[p];
        let mut prev = tail;
        for _ in 0..MAX_TASKS {
            let next = self.tasks[slot(prev)].next;
            if usize::from(next) == id {
                break;
            }
            prev = next;
        }
        if usize::from(self.tasks[slot(prev)].next) != id {
            return;
        }
        if usize::from(prev) == id {
            self.ready_mask &= !(1 << p);
            return;
        }
        let next = self.tasks[slot(id)].next;
        self.tasks[slot(prev)].next = next;
        if usize::from(self.head[p]) == id {
            self.head[p] = next;
        }
        if usize::from(tail) == id {
            self.tail[p] = prev;
        }
    }

    /// Task ids of the ready ring of priority `p`, from its head (for tests
    /// and reports).
    pub fn ready_queue(&self, p: u8) -> impl Iterator<Item = TaskId> + '_ {
        let head = self.head[level(p)];
        let mut next = (self.ready_mask & (1 << level(p)) != 0).then_some(head);
        core::iter::from_fn(move || {
            let id = next?;
            let after = self.tasks[slot(id)].next;
            next = (after != head).then_some(after);
            Some(usize::from(id))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Switch::Due;
    use super::super::WaitId;
    use super::super::testing::{kernel, run_ticks, settle};
    use super::*;

    #[test]
    fn highest_bit_of_every_mask() {
        for mask in 1u32..256 {
            let expected = (31 - mask.leading_zeros()) as usize;
            assert_eq!(highest_bit(mask), expected, "{mask:#x}");
            assert_eq!(highest_bit_by_table(mask), expected, "{mask:#x}");
        }
    }

    #[test]
    fn rings_keep_the_running_task_at_their_head() {
        let (mut k, _) = kernel(&[2, 2, 2, 3]);
        let ring = |k: &Scheduler| k.ready_queue(2).collect::<std::vec::Vec<_>>();
        assert_eq!(k.current(), 3);
        assert_eq!(k.sleep_until(1), Due);
        assert_eq!(settle(&mut k, Due), 0);
        assert_eq!(ring(&k), [0, 1, 2]);
        assert_eq!(k.yield_current(), Due);
        assert_eq!(settle(&mut k, Due), 1);
        assert_eq!(ring(&k), [1, 2, 0], "a yield is one step of the ring");
        assert_eq!(run_ticks(&mut k, 1), [3], "t3 wakes and preempts");
        assert_eq!(ring(&k), [1, 2, 0], "the preempted t1 keeps its place");
        let w = WaitId(0x800);
        let due = k.block_current(w);
        assert_eq!(settle(&mut k, due), 1);
        let due = k.block_current(w);
        assert_eq!(ring(&k), [2, 0], "a blocked task leaves its ring");
        assert_eq!(settle(&mut k, due), 2);
        assert_eq!(k.wake_one(w), Some(3));
        assert_eq!(k.wake_one(w), Some(1));
        assert_eq!(ring(&k), [2, 0, 1], "a woken task joins at the tail");
    }
}
