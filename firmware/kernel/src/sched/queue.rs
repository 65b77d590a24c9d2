//! Message queues: a [`Ring`] of items and two wait queues, one for blocked
//! senders and one for blocked receivers.

use super::{Ring, Scheduler, Switch, WaitId};

impl Scheduler {
    /// Moves `item` into `q`, or blocks the running task on `send` when `q`
    /// is full and hands `item` back (the caller switches, then retries).
    /// On success wakes the first receiver waiting on `recv`.
    pub fn queue_send<T, const N: usize>(
        &mut self,
        q: &mut Ring<T, N>,
        item: T,
        send: WaitId,
        recv: WaitId,
    ) -> Result<Switch, T> {
        match q.push(item) {
            Ok(()) => Ok(self.wake_for_item(recv)),
            Err(item) => {
                // The caller switches on `Err`, which says as much.
                let _ = self.block_current(send);
                Err(item)
            }
        }
    }

    /// Like [`Self::queue_send`] without blocking, for interrupt handlers:
    /// a full queue hands `item` back.
    pub fn queue_try_send<T, const N: usize>(
        &mut self,
        q: &mut Ring<T, N>,
        item: T,
        recv: WaitId,
    ) -> Result<Switch, T> {
        q.push(item)?;
        Ok(self.wake_for_item(recv))
    }

    /// Takes the oldest item from `q` and wakes the first sender waiting on
    /// `send`. When `q` is empty, blocks the running task on `recv` and
    /// returns `None` (the caller switches, then retries).
    pub fn queue_recv<T, const N: usize>(
        &mut self,
        q: &mut Ring<T, N>,
        send: WaitId,
        recv: WaitId,
    ) -> Option<(T, Switch)> {
        match q.pop() {
            Some(item) => Some((item, self.wake_for_item(send))),
            None => {
                // The caller switches on `None`, which says as much.
                let _ = self.block_current(recv);
                None
            }
        }
    }

    /// Wakes the first task waiting on `w` for a queue to change.
    fn wake_for_item(&mut self, w: WaitId) -> Switch {
        match self.wake_one(w) {
            Some(_) => self.needs_switch(),
            None => Switch::Stay,
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
    fn queue_blocks_on_full_and_empty_and_keeps_order() {
        // Producer t0 (2), consumer t1 (1); capacity 2.
        let (mut k, _) = kernel(&[2, 1]);
        let (mut q, s, r) = (Ring::<u32, 2>::new(), WaitId(0x700), WaitId(0x701));
        assert_eq!(k.queue_send(&mut q, 10, s, r), Ok(Stay));
        assert_eq!(k.queue_send(&mut q, 11, s, r), Ok(Stay));
        assert_eq!(k.queue_send(&mut q, 12, s, r), Err(12), "full: blocks");
        assert_eq!(k.task(0).state, State::Blocked(s));
        assert_eq!(settle(&mut k, Due), 1);
        assert_eq!(
            k.queue_recv(&mut q, s, r),
            Some((10, Due)),
            "wakes the producer"
        );
        assert_eq!(settle(&mut k, Due), 0);
        assert_eq!(k.queue_send(&mut q, 12, s, r), Ok(Stay));
        assert_eq!(k.sleep_until(5), Due);
        assert_eq!(settle(&mut k, Due), 1);
        assert_eq!(k.queue_recv(&mut q, s, r), Some((11, Stay)));
        assert_eq!(k.queue_recv(&mut q, s, r), Some((12, Stay)));
        assert_eq!(k.queue_recv(&mut q, s, r), None, "empty: blocks");
        assert_eq!(k.task(1).state, State::Blocked(r));
        assert_eq!(k.queue_try_send(&mut q, 13, r), Ok(Stay), "t1 is below t0");
        assert_eq!(k.task(1).state, State::Ready);
        assert_eq!(k.queue_try_send(&mut q, 14, r), Ok(Stay));
        assert_eq!(k.queue_try_send(&mut q, 15, r), Err(15));
    }
}
