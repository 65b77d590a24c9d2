//! Kernel objects that tasks block on: counting semaphores, mutexes with
//! priority inheritance and message queues. Their state lives in the
//! object; the kernel's methods here move tasks between the ready and the
//! wait queues and switch when that makes a switch due.

use super::{Kernel, request_if, switch_if};
use crate::Port;
use crate::arch::Shared;
use crate::sched::{MutexState, Ring, SemState, TaskId, WaitId};

/// A counting semaphore. `take` blocks while the count is zero; `give` may
/// be called from tasks and from interrupt handlers. Waiters are served
/// highest priority first, then in arrival order.
pub struct Semaphore<P: Port> {
    state: Shared<P, SemState>,
}

impl<P: Port> Semaphore<P> {
    pub const fn new(initial: u32) -> Self {
        Self {
            state: Shared::new(SemState { count: initial }),
        }
    }

    fn id(&self) -> WaitId {
        WaitId(self as *const Self as usize)
    }

    /// Takes one unit if there is one; never blocks.
    pub fn try_take(&self) -> bool {
        self.state.with(|s| {
            let ok = s.count > 0;
            if ok {
                s.count -= 1;
            }
            ok
        })
    }

    /// The current count.
    pub fn count(&self) -> u32 {
        self.state.with(|s| s.count)
    }
}

/// A mutex with priority inheritance: while a higher-priority task waits,
/// the owner runs at the waiter's priority. Not recursive; only the owner
/// may unlock. `lock` returns a guard that unlocks when dropped.
pub struct Mutex<P: Port> {
    state: Shared<P, MutexState>,
}

impl<P: Port> Mutex<P> {
    pub const fn new() -> Self {
        Self {
            state: Shared::new(MutexState::new()),
        }
    }

    fn id(&self) -> WaitId {
        WaitId(self as *const Self as usize)
    }

    /// The owning task, if any.
    pub fn owner(&self) -> Option<TaskId> {
        self.state.with(|m| m.owner())
    }
}

impl<P: Port> Default for Mutex<P> {
    fn default() -> Self {
        Self::new()
    }
}

/// Holds a [`Mutex`] locked; unlocks it on drop.
pub struct MutexGuard<'a, P: Port> {
    mutex: &'a Mutex<P>,
    kernel: &'a Kernel<P>,
}

impl<P: Port> Drop for MutexGuard<'_, P> {
    fn drop(&mut self) {
        self.kernel.unlock(self.mutex);
    }
}

/// A message queue of up to `N` items of `T`. `send` blocks while it is
/// full, `recv` while it is empty; `try_send` never blocks and may be used
/// from interrupt handlers.
pub struct Queue<P: Port, T, const N: usize> {
    ring: Shared<P, Ring<T, N>>,
}

impl<P: Port, T: Send, const N: usize> Queue<P, T, N> {
    pub const fn new() -> Self {
        Self {
            ring: Shared::new(Ring::new()),
        }
    }

    /// Wait queue of blocked senders: the object's address.
    fn senders(&self) -> WaitId {
        WaitId(self as *const Self as usize)
    }

    /// Wait queue of blocked receivers: one byte past the object's address.
    fn receivers(&self) -> WaitId {
        WaitId(self as *const Self as usize + 1)
    }

    /// Number of queued items.
    pub fn len(&self) -> usize {
        self.ring.with(|q| q.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<P: Port, T: Send, const N: usize> Default for Queue<P, T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Port> Kernel<P> {
    /// Takes one unit of `sem`, blocking while there is none.
    pub fn take(&self, sem: &Semaphore<P>) {
        switch_if::<P>(
            self.sched
                .with(|k| sem.state.with(|s| k.sem_take(s, sem.id()))),
        );
    }

    /// Adds one unit to `sem`, or hands it to the first waiter; from a
    /// task or an interrupt handler.
    pub fn give(&self, sem: &Semaphore<P>) {
        request_if::<P>(
            self.sched
                .with(|k| sem.state.with(|s| k.sem_give(s, sem.id()))),
        );
    }

    /// Locks `mutex`, blocking while another task owns it.
    ///
    /// Panics: the running task already owns it.
    pub fn lock<'a>(&'a self, mutex: &'a Mutex<P>) -> MutexGuard<'a, P> {
        match self
            .sched
            .with(|k| mutex.state.with(|m| k.mutex_lock(m, mutex.id())))
        {
            Ok(due) => switch_if::<P>(due),
            Err(_) => panic!("mutex locked twice by its owner"),
        }
        MutexGuard {
            mutex,
            kernel: self,
        }
    }

    /// Panics: the running task does not own `mutex` (its guard was moved
    /// to another task).
    fn unlock(&self, mutex: &Mutex<P>) {
        match self
            .sched
            .with(|k| mutex.state.with(|s| k.mutex_unlock(s, mutex.id())))
        {
            Ok(due) => request_if::<P>(due),
            Err(_) => panic!("mutex unlocked by a task that does not own it"),
        }
    }

    /// Appends `item` to `q`, blocking while it is full.
    pub fn send<T: Send, const N: usize>(&self, q: &Queue<P, T, N>, mut item: T) {
        loop {
            let r = self.sched.with(|k| {
                q.ring
                    .with(|r| k.queue_send(r, item, q.senders(), q.receivers()))
            });
            match r {
                Ok(due) => return switch_if::<P>(due),
                Err(back) => {
                    item = back;
                    P::switch_from_task();
                }
            }
        }
    }

    /// Appends `item` to `q` if there is room, else hands it back; from a
    /// task or an interrupt handler.
    pub fn try_send<T: Send, const N: usize>(&self, q: &Queue<P, T, N>, item: T) -> Result<(), T> {
        let due = self
            .sched
            .with(|k| q.ring.with(|r| k.queue_try_send(r, item, q.receivers())))?;
        request_if::<P>(due);
        Ok(())
    }

    /// Removes the oldest item of `q`, blocking while it is empty.
    pub fn recv<T: Send, const N: usize>(&self, q: &Queue<P, T, N>) -> T {
        loop {
            let r = self
                .sched
                .with(|k| q.ring.with(|r| k.queue_recv(r, q.senders(), q.receivers())));
            match r {
                Some((item, due)) => {
                    switch_if::<P>(due);
                    return item;
                }
                None => P::switch_from_task(),
            }
        }
    }
}
