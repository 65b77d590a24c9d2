//! Scheduling state and decisions, independent of any CPU: the task table,
//! the priority ready queues, the tick, time slices, sleeping and the wait
//! queues that semaphores, mutexes and message queues block on.
//!
//! Nothing here touches hardware. The arch port saves and restores registers
//! and calls [`Scheduler::switch`] to learn which task runs next; every
//! operation that can make a switch necessary returns `true` when it does.
//!
//! Ready queues are circular lists, one per priority, with a head and a
//! tail. Invariants: every task in [`State::Ready`], the running one
//! included, is linked in the ring of its effective priority; the running
//! task, when ready, is the head of its ring, so a time slice or a yield is
//! one step of the ring; the idle task (priority 0) is always ready, so a
//! ready task always exists.

use crate::config::{MAX_TASKS, PRIORITIES, SLICE_TICKS};

/// Index of a task in the task table, in creation order.
pub type TaskId = usize;

const NIL: u8 = u8::MAX;

/// Identity of a wait queue: the address of the kernel object (semaphore,
/// mutex or one side of a message queue) that tasks block on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WaitId(pub usize);

/// A task's scheduling state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// Running or ready: linked in a ready ring.
    Ready,
    /// Waiting for the tick count to reach this deadline.
    Sleeping(u32),
    /// Waiting on a kernel object.
    Blocked(WaitId),
}

/// Why a task could not be created.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SpawnError {
    /// The table already holds [`MAX_TASKS`] tasks.
    TableFull,
    /// The priority is not below [`PRIORITIES`].
    BadPriority,
    /// The stack has 2^16 words or more.
    StackTooLarge,
}

/// A task control block: what the scheduler reads and writes, 32 bytes so
/// that indexing the task table is one shift (RV32IMAC has no scaled
/// addressing). Name and stack size live apart (see [`Scheduler::name`]).
#[derive(Clone, Copy, Debug)]
pub struct Tcb {
    /// Saved stack pointer while the task is switched out; written by the
    /// arch port through [`Scheduler::save_sp`].
    pub sp: usize,
    /// The priority the task was created with.
    pub base_prio: u8,
    /// The effective priority: `base_prio`, or higher while it holds a mutex
    /// that a higher-priority task waits for.
    pub prio: u8,
    pub state: State,
    /// Completed round-robin time slices.
    pub slices: u32,
    /// Lowest address of the task's stack, where its guard words are.
    pub stack_lo: usize,
    slice_left: u8,
    next: u8,
    held: u8,
    wait_seq: u32,
}

impl Tcb {
    const EMPTY: Tcb = Tcb {
        sp: 0,
        base_prio: 0,
        prio: 0,
        state: State::Ready,
        slices: 0,
        stack_lo: 0,
        slice_left: SLICE_TICKS,
        next: NIL,
        held: 0,
        wait_seq: 0,
    };
}

/// Index into the task table. Ids are always below [`MAX_TASKS`]; reducing
/// them modulo a power of two lets the compiler drop the bounds check,
/// whose panic path would pull `core::fmt` into every image.
#[inline(always)]
fn slot(id: impl Into<usize>) -> usize {
    id.into() % MAX_TASKS
}

/// Index into the ready queues, as [`slot`] for priorities.
#[inline(always)]
fn level(prio: impl Into<usize>) -> usize {
    prio.into() % PRIORITIES
}

const _: () = assert!(MAX_TASKS.is_power_of_two() && PRIORITIES.is_power_of_two());
const _: () = assert!(MAX_TASKS < NIL as usize && PRIORITIES <= 8);
#[cfg(target_pointer_width = "32")]
const _: () = assert!(core::mem::size_of::<Tcb>() == 32);

/// Index of the highest set bit of a non-zero `mask` below 2^8: CLZ where
/// the CPU has it (Cortex-M3, and the host).
#[cfg(not(target_arch = "riscv32"))]
#[inline(always)]
fn highest_bit(mask: u32) -> usize {
    (31 - mask.leading_zeros()) as usize
}

/// Index of the highest set bit of a non-zero `mask` below 2^8, by nibble
/// lookup: RV32IMAC has no count-leading-zeros instruction, and the
/// compiler's generic expansion is several times longer.
#[cfg_attr(not(target_arch = "riscv32"), allow(dead_code))]
#[inline(always)]
fn highest_bit_by_table(mask: u32) -> usize {
    const TOP: [u8; 16] = [0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3];
    let hi = (mask >> 4) & 0xF;
    if hi != 0 {
        4 + usize::from(TOP[hi as usize])
    } else {
        usize::from(TOP[(mask & 0xF) as usize])
    }
}

#[cfg(target_arch = "riscv32")]
use highest_bit_by_table as highest_bit;

/// `true` once `now` has reached `deadline`, with wrap-around: deadlines up
/// to 2^31 - 1 ticks ahead are in the future.
pub fn reached(now: u32, deadline: u32) -> bool {
    now.wrapping_sub(deadline) as i32 >= 0
}

/// The task table and the scheduler's decisions.
pub struct Scheduler {
    tasks: [Tcb; MAX_TASKS],
    names: [&'static str; MAX_TASKS],
    stack_words: [u16; MAX_TASKS],
    count: u8,
    current: u8,
    head: [u8; PRIORITIES],
    tail: [u8; PRIORITIES],
    /// Bit `p` is set while the ready queue of priority `p` is not empty.
    ready_mask: u32,
    now: u32,
    seq: u32,
    /// The running task goes to the tail of its queue (slice used up or
    /// yield) rather than the head (preempted by a higher priority).
    rotate: bool,
}

impl Default for Scheduler {
    fn default() -> Self {
        Self::new()
    }
}

impl Scheduler {
    pub const fn new() -> Self {
        Self {
            tasks: [Tcb::EMPTY; MAX_TASKS],
            names: [""; MAX_TASKS],
            stack_words: [0; MAX_TASKS],
            count: 0,
            current: 0,
            head: [NIL; PRIORITIES],
            tail: [NIL; PRIORITIES],
            ready_mask: 0,
            now: 0,
            seq: 0,
            rotate: false,
        }
    }

    /// Adds a ready task. `sp` is its initial stack pointer (the arch port
    /// has built the first context frame there); `stack_lo`/`stack_words`
    /// describe its stack for the guard and high-water checks.
    ///
    /// Errors: the table is full or `prio` is out of range.
    pub fn spawn(
        &mut self,
        name: &'static str,
        prio: u8,
        sp: usize,
        stack_lo: usize,
        stack_words: usize,
    ) -> Result<TaskId, SpawnError> {
        if usize::from(prio) >= PRIORITIES {
            return Err(SpawnError::BadPriority);
        }
        let id = usize::from(self.count);
        if id >= MAX_TASKS {
            return Err(SpawnError::TableFull);
        }
        let words = u16::try_from(stack_words).map_err(|_| SpawnError::StackTooLarge)?;
        self.tasks[slot(id)] = Tcb {
            sp,
            base_prio: prio,
            prio,
            stack_lo,
            ..Tcb::EMPTY
        };
        self.names[slot(id)] = name;
        self.stack_words[slot(id)] = words;
        self.count += 1;
        self.insert(id, false);
        Ok(id)
    }

    /// Picks the first task to run: the head of the highest ready ring.
    pub fn start(&mut self) -> TaskId {
        let id = usize::from(self.head[level(highest_bit(self.ready_mask))]);
        self.current = id as u8;
        id
    }

    pub fn task(&self, id: TaskId) -> &Tcb {
        &self.tasks[slot(id)]
    }

    /// Name of task `id`.
    pub fn name(&self, id: TaskId) -> &'static str {
        self.names[slot(id)]
    }

    /// Stack size of task `id`, in 32-bit words.
    pub fn stack_words(&self, id: TaskId) -> usize {
        usize::from(self.stack_words[slot(id)])
    }

    pub fn task_count(&self) -> usize {
        usize::from(self.count)
    }

    pub fn current(&self) -> TaskId {
        usize::from(self.current)
    }

    /// Ticks since start.
    pub fn now(&self) -> u32 {
        self.now
    }

    /// Records the stack pointer of the task being switched out.
    pub fn save_sp(&mut self, sp: usize) {
        self.tasks[slot(usize::from(self.current))].sp = sp;
    }

    /// Chooses the task to run next and makes it current. The outgoing task,
    /// if still ready, steps back to the tail of its ring after a yield or a
    /// used-up slice, or stays at the head when a higher priority preempted
    /// it, so that it keeps its place and the rest of its slice.
    pub fn switch(&mut self) -> TaskId {
        let cur = usize::from(self.current);
        // A level known to be non-empty: when nothing above it is ready
        // (a yield or a used-up slice) no bit search is needed.
        let mut floor = 0;
        if self.tasks[slot(cur)].state == State::Ready {
            floor = level(self.tasks[slot(cur)].prio);
            if self.rotate {
                let head = self.head[floor];
                self.tail[floor] = head;
                self.head[floor] = self.tasks[slot(head)].next;
            }
        }
        self.rotate = false;
        let p = if self.ready_mask >> floor <= 1 {
            floor
        } else {
            highest_bit(self.ready_mask)
        };
        let next = self.head[level(p)];
        self.current = next;
        usize::from(next)
    }

    /// Advances time by one tick: wakes sleepers whose deadline is reached
    /// and charges the running task's time slice. Returns whether a switch is
    /// due (a woken task outranks the running one, or its slice ran out and
    /// a task of the same priority is ready).
    pub fn tick(&mut self) -> bool {
        self.now = self.now.wrapping_add(1);
        for id in 0..usize::from(self.count) {
            let t = &mut self.tasks[slot(id)];
            if let State::Sleeping(deadline) = t.state
                && reached(self.now, deadline)
            {
                self.make_ready(id);
            }
        }
        let cur = usize::from(self.current);
        let t = &mut self.tasks[slot(cur)];
        if t.state == State::Ready {
            t.slice_left -= 1;
            if t.slice_left == 0 {
                t.slice_left = SLICE_TICKS;
                t.slices += 1;
                if usize::from(t.next) != cur {
                    self.rotate = true;
                    return true;
                }
            }
        }
        self.needs_switch()
    }

    /// Whether a ready task outranks the running one.
    pub fn needs_switch(&self) -> bool {
        self.ready_mask >> self.tasks[slot(usize::from(self.current))].prio > 1
    }

    /// Gives up the rest of the running task's slice to the next ready task
    /// of the same priority. Returns whether a switch is due.
    pub fn yield_current(&mut self) -> bool {
        let cur = usize::from(self.current);
        let t = &mut self.tasks[slot(cur)];
        t.slice_left = SLICE_TICKS;
        self.rotate = true;
        self.ready_mask >> t.prio > 1 || usize::from(t.next) != cur
    }

    /// Puts the running task to sleep until tick `deadline`. Returns `false`
    /// (and does not sleep) when the deadline has already been reached.
    pub fn sleep_until(&mut self, deadline: u32) -> bool {
        if reached(self.now, deadline) {
            return false;
        }
        self.remove(usize::from(self.current));
        let t = &mut self.tasks[slot(usize::from(self.current))];
        t.state = State::Sleeping(deadline);
        t.slice_left = SLICE_TICKS;
        true
    }

    /// Blocks the running task on wait queue `w`, behind the tasks already
    /// waiting there. The caller must switch.
    pub fn block_current(&mut self, w: WaitId) {
        self.remove(usize::from(self.current));
        let t = &mut self.tasks[slot(usize::from(self.current))];
        t.state = State::Blocked(w);
        t.wait_seq = self.seq;
        t.slice_left = SLICE_TICKS;
        self.seq = self.seq.wrapping_add(1);
    }

    /// The task that [`Self::wake_one`] would wake: the highest effective
    /// priority waiting on `w`, the longest-waiting among equals.
    pub fn first_waiter(&self, w: WaitId) -> Option<TaskId> {
        let mut best: Option<TaskId> = None;
        for id in 0..usize::from(self.count) {
            let t = &self.tasks[slot(id)];
            if t.state != State::Blocked(w) {
                continue;
            }
            best = match best {
                Some(b)
                    if self.tasks[slot(b)].prio > t.prio
                        || (self.tasks[slot(b)].prio == t.prio
                            && (t.wait_seq.wrapping_sub(self.tasks[slot(b)].wait_seq) as i32)
                                > 0) =>
                {
                    Some(b)
                }
                _ => Some(id),
            };
        }
        best
    }

    /// Makes the first waiter of `w` ready and returns it.
    pub fn wake_one(&mut self, w: WaitId) -> Option<TaskId> {
        let id = self.first_waiter(w)?;
        self.make_ready(id);
        Some(id)
    }

    /// Marks `id` ready and links it at the tail of its ring; the running
    /// task (one that blocked but was woken before it could switch out) goes
    /// to the head and just runs on.
    fn make_ready(&mut self, id: TaskId) {
        self.tasks[slot(id)].state = State::Ready;
        self.insert(id, id == usize::from(self.current));
    }

    /// Takes a unit of `sem`, or blocks the running task on `w` when the
    /// count is zero. Returns whether it blocked (the caller must switch;
    /// the unit is handed over by the [`Self::sem_give`] that wakes it).
    pub fn sem_take(&mut self, sem: &mut SemState, w: WaitId) -> bool {
        if sem.count > 0 {
            sem.count -= 1;
            return false;
        }
        self.block_current(w);
        true
    }

    /// Signals `sem` (from a task or an interrupt handler): hands the unit to
    /// the first waiter, or adds it to the count. Returns whether a switch
    /// is due.
    pub fn sem_give(&mut self, sem: &mut SemState, w: WaitId) -> bool {
        match self.wake_one(w) {
            Some(_) => self.needs_switch(),
            None => {
                sem.count = sem.count.saturating_add(1);
                false
            }
        }
    }

    /// Locks `m` for the running task, or blocks it on `w` and lends its
    /// priority to the owner (priority inheritance). Returns whether it
    /// blocked; ownership is handed over by the unlock that wakes it.
    ///
    /// Errors: the running task already owns `m` (no recursive locking).
    pub fn mutex_lock(&mut self, m: &mut MutexState, w: WaitId) -> Result<bool, MutexError> {
        let cur = self.current;
        if m.owner == NIL {
            m.owner = cur;
            self.tasks[slot(usize::from(cur))].held += 1;
            return Ok(false);
        }
        if m.owner == cur {
            return Err(MutexError::Recursive);
        }
        self.block_current(w);
        let prio = self.tasks[slot(usize::from(cur))].prio;
        let owner = usize::from(m.owner);
        if prio > self.tasks[slot(owner)].prio {
            self.set_prio(owner, prio);
        }
        Ok(true)
    }

    /// Unlocks `m`: the running task drops back to its base priority once it
    /// holds no mutex, and ownership passes to the first waiter (the highest
    /// priority, so the waiters left behind need not lift it). Returns
    /// whether a switch is due.
    ///
    /// Errors: the running task does not own `m`.
    pub fn mutex_unlock(&mut self, m: &mut MutexState, w: WaitId) -> Result<bool, MutexError> {
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

    /// Moves `item` into `q`, or blocks the running task on `send` when `q`
    /// is full and hands `item` back (the caller switches, then retries).
    /// On success wakes the first receiver waiting on `recv` and returns
    /// whether a switch is due.
    pub fn queue_send<T, const N: usize>(
        &mut self,
        q: &mut Ring<T, N>,
        item: T,
        send: WaitId,
        recv: WaitId,
    ) -> Result<bool, T> {
        match q.push(item) {
            Ok(()) => Ok(self.wake_one(recv).is_some() && self.needs_switch()),
            Err(item) => {
                self.block_current(send);
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
    ) -> Result<bool, T> {
        q.push(item)?;
        Ok(self.wake_one(recv).is_some() && self.needs_switch())
    }

    /// Takes the oldest item from `q` and wakes the first sender waiting on
    /// `send`; returns the item and whether a switch is due. When `q` is
    /// empty, blocks the running task on `recv` and returns `None` (the
    /// caller switches, then retries).
    pub fn queue_recv<T, const N: usize>(
        &mut self,
        q: &mut Ring<T, N>,
        send: WaitId,
        recv: WaitId,
    ) -> Option<(T, bool)> {
        match q.pop() {
            Some(item) => Some((item, self.wake_one(send).is_some() && self.needs_switch())),
            None => {
                self.block_current(recv);
                None
            }
        }
    }

    fn set_prio(&mut self, id: TaskId, prio: u8) {
        let ready = self.tasks[slot(id)].state == State::Ready;
        if ready {
            self.remove(id);
        }
        self.tasks[slot(id)].prio = prio;
        if ready {
            self.insert(id, id == usize::from(self.current));
        }
    }

    /// Links `id` into the ring of its priority: at the tail, or at the head
    /// when `front`.
    fn insert(&mut self, id: TaskId, front: bool) {
        let p = level(self.tasks[slot(id)].prio);
        let head = self.head[p];
        if head == NIL {
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
    fn remove(&mut self, id: TaskId) {
        let p = level(self.tasks[slot(id)].prio);
        let tail = self.tail[p];
        if tail == NIL {
            return;
        }
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
            self.head[p] = NIL;
            self.tail[p] = NIL;
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
        let mut at = head;
        let mut first = true;
        core::iter::from_fn(move || {
            if at == NIL || (at == head && !first) {
                return None;
            }
            first = false;
            let id = at;
            at = self.tasks[slot(id)].next;
            Some(usize::from(id))
        })
    }
}

/// A counting semaphore's state.
#[derive(Debug)]
pub struct SemState {
    pub count: u32,
}

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

/// A fixed-capacity FIFO of `N` items, the storage of a message queue.
#[derive(Debug)]
pub struct Ring<T, const N: usize> {
    buf: [Option<T>; N],
    head: usize,
    len: usize,
}

impl<T, const N: usize> Ring<T, N> {
    pub const fn new() -> Self {
        Self {
            buf: [const { None }; N],
            head: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// Appends `item`, or hands it back when full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.len == N {
            return Err(item);
        }
        self.buf[(self.head + self.len) % N] = Some(item);
        self.len += 1;
        Ok(())
    }

    pub fn pop(&mut self) -> Option<T> {
        let item = self.buf[self.head].take()?;
        self.head = (self.head + 1) % N;
        self.len -= 1;
        Some(item)
    }
}

impl<T, const N: usize> Default for Ring<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; MAX_TASKS] = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"];

    /// Tasks with `prios` (ids 0..), then an idle task at priority 0, started.
    fn kernel(prios: &[u8]) -> (Scheduler, TaskId) {
        let mut k = Scheduler::new();
        for (i, &p) in prios.iter().enumerate() {
            assert_eq!(k.spawn(NAMES[i], p, 0x1000 * (i + 1), 0, 64), Ok(i));
        }
        let idle = k.spawn("idle", 0, 0xF000, 0, 64).unwrap();
        k.start();
        (k, idle)
    }

    /// Switches if `due`, returning the running task.
    fn settle(k: &mut Scheduler, due: bool) -> TaskId {
        if due {
            k.switch();
        }
        k.current()
    }

    fn run_ticks(k: &mut Scheduler, n: u32) -> std::vec::Vec<TaskId> {
        (0..n)
            .map(|_| {
                let due = k.tick();
                settle(k, due)
            })
            .collect()
    }

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
        assert!(k.sleep_until(1));
        assert_eq!(settle(&mut k, true), 0);
        assert_eq!(run_ticks(&mut k, 1), [2]);
        // t2 sleeps again: t0 comes back before t1, and finishes the slice
        // it had started.
        assert!(k.sleep_until(100));
        assert_eq!(settle(&mut k, true), 0);
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
        assert!(k.sleep_until(5));
        assert_eq!(settle(&mut k, true), idle);
        let ran = run_ticks(&mut k, 6);
        assert_eq!(ran, [idle, idle, idle, idle, 0, 0]);
        assert_eq!(k.now(), 6);
        assert!(!k.sleep_until(6), "a reached deadline does not sleep");
        assert!(!k.sleep_until(3), "a past deadline does not sleep");
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
        assert!(k.sleep_until(3));
        assert_eq!(settle(&mut k, true), 0);
        assert!(!k.tick());
        assert!(!k.tick());
        assert!(k.tick(), "t1 wakes on tick 3 and outranks t0");
        assert_eq!(k.switch(), 1);
    }

    #[test]
    fn yield_passes_only_to_equal_or_higher_priority() {
        let (mut k, _) = kernel(&[2, 1]);
        assert!(!k.yield_current(), "t1 has lower priority");
        assert_eq!(settle(&mut k, false), 0);
        let (mut k, _) = kernel(&[2, 2]);
        assert!(k.yield_current());
        assert_eq!(settle(&mut k, true), 1);
        assert_eq!(k.ready_queue(2).collect::<std::vec::Vec<_>>(), [1, 0]);
    }

    #[test]
    fn idle_runs_when_everything_waits() {
        let (mut k, idle) = kernel(&[3, 2]);
        let w = WaitId(0x100);
        k.block_current(w);
        assert_eq!(settle(&mut k, true), 1);
        assert!(k.sleep_until(10));
        assert_eq!(settle(&mut k, true), idle);
    }

    #[test]
    fn semaphore_counts_then_blocks() {
        let (mut k, _) = kernel(&[1]);
        let (mut s, w) = (SemState { count: 2 }, WaitId(0x200));
        assert!(!k.sem_take(&mut s, w));
        assert!(!k.sem_take(&mut s, w));
        assert!(k.sem_take(&mut s, w));
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
        assert!(k.sem_take(&mut s, w));
        assert_eq!(settle(&mut k, true), 0);
        assert!(k.yield_current());
        assert_eq!(settle(&mut k, true), 1);
        assert!(k.sem_take(&mut s, w));
        assert_eq!(settle(&mut k, true), 0);
        assert!(k.sem_take(&mut s, w));
        assert_eq!(settle(&mut k, true), 3);
        assert_eq!(k.first_waiter(w), Some(2), "highest priority first");
        assert!(k.sem_give(&mut s, w));
        assert_eq!(k.first_waiter(w), Some(1), "then the longest waiting");
        assert!(k.sem_give(&mut s, w));
        assert!(k.sem_give(&mut s, w));
        assert_eq!(k.first_waiter(w), None);
        assert!(!k.sem_give(&mut s, w));
        assert_eq!(s.count, 1, "a give without waiters is counted");
        assert_eq!(settle(&mut k, true), 2);
    }

    #[test]
    fn a_give_from_an_interrupt_to_a_lower_task_is_no_switch() {
        let (mut k, _) = kernel(&[1, 2]);
        let (mut s, w) = (SemState { count: 0 }, WaitId(0x310));
        assert!(k.sleep_until(50));
        assert_eq!(settle(&mut k, true), 0);
        assert!(k.sem_take(&mut s, w));
        assert_eq!(settle(&mut k, true), 2);
        // Tick hook on behalf of an interrupt, with t1 woken meanwhile.
        for _ in 0..50 {
            k.tick();
        }
        assert_eq!(settle(&mut k, true), 1);
        assert!(!k.sem_give(&mut s, w), "t0 is below the running t1");
        assert_eq!(k.ready_queue(1).collect::<std::vec::Vec<_>>(), [0]);
    }

    #[test]
    fn woken_before_switching_out_runs_on_without_double_queueing() {
        let (mut k, _) = kernel(&[1, 1]);
        let (mut s, w) = (SemState { count: 0 }, WaitId(0x320));
        assert!(k.sem_take(&mut s, w));
        // An interrupt gives before the switch happens.
        k.sem_give(&mut s, w);
        assert_eq!(k.task(0).state, State::Ready);
        assert_eq!(k.ready_queue(1).collect::<std::vec::Vec<_>>(), [0, 1]);
        assert_eq!(settle(&mut k, true), 0);
        assert_eq!(k.ready_queue(1).collect::<std::vec::Vec<_>>(), [0, 1]);
    }

    #[test]
    fn mutex_inheritance_lifts_the_owner_and_drops_on_unlock() {
        // low (t0, 1) owns; medium (t1, 2) is ready; high (t2, 3) blocks.
        let (mut k, _) = kernel(&[1, 2, 3]);
        let (mut m, w) = (MutexState::new(), WaitId(0x400));
        assert!(k.sleep_until(1));
        assert_eq!(settle(&mut k, true), 1);
        assert!(k.sleep_until(1));
        assert_eq!(settle(&mut k, true), 0);
        assert_eq!(k.mutex_lock(&mut m, w), Ok(false));
        assert_eq!(m.owner(), Some(0));
        assert_eq!(run_ticks(&mut k, 1), [2], "high wakes first");
        assert_eq!(k.mutex_lock(&mut m, w), Ok(true));
        assert_eq!(k.task(0).prio, 3, "owner inherits the waiter's priority");
        assert_eq!(settle(&mut k, true), 0, "and runs before the medium task");
        assert_eq!(k.mutex_unlock(&mut m, w), Ok(true));
        assert_eq!(k.task(0).prio, 1);
        assert_eq!(m.owner(), Some(2), "ownership is handed to the waiter");
        assert_eq!(settle(&mut k, true), 2);
        assert_eq!(k.mutex_unlock(&mut m, w), Ok(false));
        assert_eq!(m.owner(), None);
    }

    #[test]
    fn mutex_misuse_is_an_error() {
        let (mut k, _) = kernel(&[1, 1]);
        let (mut m, w) = (MutexState::new(), WaitId(0x500));
        assert_eq!(k.mutex_unlock(&mut m, w), Err(MutexError::NotOwner));
        assert_eq!(k.mutex_lock(&mut m, w), Ok(false));
        assert_eq!(k.mutex_lock(&mut m, w), Err(MutexError::Recursive));
    }

    #[test]
    fn ownership_passes_by_priority() {
        let (mut k, _) = kernel(&[3, 1, 2, 4]);
        let (mut m, w) = (MutexState::new(), WaitId(0x600));
        // t3 (4) takes the mutex and sleeps; t0 (3), t2 (2), t1 (1) block.
        assert_eq!(k.mutex_lock(&mut m, w), Ok(false));
        assert!(k.sleep_until(1));
        for expect in [0, 2, 1] {
            assert_eq!(settle(&mut k, true), expect);
            assert_eq!(k.mutex_lock(&mut m, w), Ok(true));
        }
        assert_eq!(run_ticks(&mut k, 1), [3]);
        for next in [0, 2, 1] {
            assert_eq!(
                k.mutex_unlock(&mut m, w),
                Ok(k.task(next).prio > k.task(k.current()).prio)
            );
            assert_eq!(m.owner(), Some(next));
            assert!(k.sleep_until(1000));
            assert_eq!(settle(&mut k, true), next);
        }
        assert_eq!(k.mutex_unlock(&mut m, w), Ok(false));
        assert_eq!(m.owner(), None);
    }

    #[test]
    fn queue_blocks_on_full_and_empty_and_keeps_order() {
        // Producer t0 (2), consumer t1 (1); capacity 2.
        let (mut k, _) = kernel(&[2, 1]);
        let (mut q, s, r) = (Ring::<u32, 2>::new(), WaitId(0x700), WaitId(0x701));
        assert_eq!(k.queue_send(&mut q, 10, s, r), Ok(false));
        assert_eq!(k.queue_send(&mut q, 11, s, r), Ok(false));
        assert_eq!(k.queue_send(&mut q, 12, s, r), Err(12), "full: blocks");
        assert_eq!(k.task(0).state, State::Blocked(s));
        assert_eq!(settle(&mut k, true), 1);
        assert_eq!(
            k.queue_recv(&mut q, s, r),
            Some((10, true)),
            "wakes the producer"
        );
        assert_eq!(settle(&mut k, true), 0);
        assert_eq!(k.queue_send(&mut q, 12, s, r), Ok(false));
        assert!(k.sleep_until(5));
        assert_eq!(settle(&mut k, true), 1);
        assert_eq!(k.queue_recv(&mut q, s, r), Some((11, false)));
        assert_eq!(k.queue_recv(&mut q, s, r), Some((12, false)));
        assert_eq!(k.queue_recv(&mut q, s, r), None, "empty: blocks");
        assert_eq!(k.task(1).state, State::Blocked(r));
        assert_eq!(k.queue_try_send(&mut q, 13, r), Ok(false), "t1 is below t0");
        assert_eq!(k.task(1).state, State::Ready);
        assert_eq!(k.queue_try_send(&mut q, 14, r), Ok(false));
        assert_eq!(k.queue_try_send(&mut q, 15, r), Err(15));
    }

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
        assert!(k.sleep_until(1));
        assert_eq!(settle(&mut k, true), 0);
        assert_eq!(ring(&k), [0, 1, 2]);
        assert!(k.yield_current());
        assert_eq!(settle(&mut k, true), 1);
        assert_eq!(ring(&k), [1, 2, 0], "a yield is one step of the ring");
        assert_eq!(run_ticks(&mut k, 1), [3], "t3 wakes and preempts");
        assert_eq!(ring(&k), [1, 2, 0], "the preempted t1 keeps its place");
        let w = WaitId(0x800);
        k.block_current(w);
        assert_eq!(settle(&mut k, true), 1);
        k.block_current(w);
        assert_eq!(ring(&k), [2, 0], "a blocked task leaves its ring");
        assert_eq!(settle(&mut k, true), 2);
        assert_eq!(k.wake_one(w), Some(3));
        assert_eq!(k.wake_one(w), Some(1));
        assert_eq!(ring(&k), [2, 0, 1], "a woken task joins at the tail");
    }

    #[test]
    fn ring_wraps_around() {
        let mut q = Ring::<u8, 3>::new();
        for round in 0..5u8 {
            assert!(q.push(round).is_ok());
            assert!(q.push(round + 100).is_ok());
            assert_eq!(q.len(), 2);
            assert_eq!(q.pop(), Some(round));
            assert_eq!(q.pop(), Some(round + 100));
            assert!(q.is_empty());
        }
    }
}
