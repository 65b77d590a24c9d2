//! Scheduling state and decisions, independent of any CPU: the task table,
//! the tick, time slices, sleeping and the wait queues that kernel objects
//! block on; the ready queues, semaphores, mutexes and message queues in
//! their own modules.
//!
//! Nothing here touches hardware. The arch port saves and restores registers
//! and calls [`Scheduler::switch`] to learn which task runs next; every
//! operation that can make a switch necessary returns a [`Switch`].

use crate::config::{MAX_TASKS, PRIORITIES, SLICE_TICKS};

mod mutex;
mod queue;
mod ready;
mod ring;
mod semaphore;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use mutex::{MutexError, MutexState};
pub use ring::Ring;
pub use semaphore::SemState;

use ready::highest_bit;

/// Index of a task in the task table, in creation order.
pub type TaskId = usize;

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
    /// The next task in its ready ring (see [`ready`]).
    next: u8,
    held: u8,
    wait_seq: u32,
}

impl Tcb {
    /// A slot of the task table that no task uses: all zero, so that a
    /// kernel in a `static` starts in `.bss`, which costs no flash.
    const UNUSED: Tcb = Tcb {
        sp: 0,
        base_prio: 0,
        prio: 0,
        state: State::Ready,
        slices: 0,
        stack_lo: 0,
        slice_left: 0,
        next: 0,
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
const _: () = assert!(MAX_TASKS < u8::MAX as usize && PRIORITIES <= 8);
#[cfg(target_pointer_width = "32")]
const _: () = assert!(core::mem::size_of::<Tcb>() == 32);

/// Whether an operation made a context switch necessary. The caller must
/// act on [`Switch::Due`]: from a task with the arch port's
/// `switch_from_task`, from an interrupt handler with `request_switch`.
#[must_use = "a due switch is lost unless the caller asks the arch port for it"]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Switch {
    /// The running task keeps the CPU.
    Stay,
    /// Another task must run now: a higher priority is ready, the running
    /// task blocked or slept, or its slice or yield passes the CPU on.
    Due,
}

impl Switch {
    /// `Due` when `due`.
    pub fn when(due: bool) -> Self {
        if due { Self::Due } else { Self::Stay }
    }

    pub fn is_due(self) -> bool {
        self == Self::Due
    }
}

/// `true` once `now` has reached `deadline`, with wrap-around: deadlines up
/// to 2^31 - 1 ticks ahead are in the future.
pub fn reached(now: u32, deadline: u32) -> bool {
    now.wrapping_sub(deadline) as i32 >= 0
}

/// The task table and the scheduler's decisions. [`Scheduler::new`] is
/// all zero bits, so a kernel in a `static` lives in `.bss` and its
/// initial value takes no flash.
pub struct Scheduler {
    tasks: [Tcb; MAX_TASKS],
    /// `None` (zero) in unused slots.
    names: [Option<&'static str>; MAX_TASKS],
    stack_words: [u16; MAX_TASKS],
    count: u8,
    current: u8,
    /// Head and tail of the ready ring of each priority; meaningful only
    /// while its bit in `ready_mask` is set.
    head: [u8; PRIORITIES],
    tail: [u8; PRIORITIES],
    /// Bit `p` is set while the ready queue of priority `p` is not empty.
    ready_mask: u32,
    now: u32,
    seq: u32,
    /// The running task goes to the tail of its queue (slice used up or
    /// yield) rather than the head (preempted by a higher priority).
    rotate: bool,
    /// [`Self::start`] has picked the first task.
    started: bool,
}

impl Default for Scheduler {
    fn default() -> Self {
        Self::new()
    }
}

impl Scheduler {
    pub const fn new() -> Self {
        Self {
            tasks: [Tcb::UNUSED; MAX_TASKS],
            names: [None; MAX_TASKS],
            stack_words: [0; MAX_TASKS],
            count: 0,
            current: 0,
            head: [0; PRIORITIES],
            tail: [0; PRIORITIES],
            ready_mask: 0,
            now: 0,
            seq: 0,
            rotate: false,
            started: false,
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
            slice_left: SLICE_TICKS,
            ..Tcb::UNUSED
        };
        self.names[slot(id)] = Some(name);
        self.stack_words[slot(id)] = words;
        self.count += 1;
        self.insert(id, false);
        Ok(id)
    }

    /// Picks the first task to run: the head of the highest ready ring.
    pub fn start(&mut self) -> TaskId {
        let id = usize::from(self.head[level(highest_bit(self.ready_mask))]);
        self.current = id as u8;
        self.started = true;
        id
    }

    /// Whether [`Self::start`] has picked the first task.
    pub fn started(&self) -> bool {
        self.started
    }

    pub fn task(&self, id: TaskId) -> &Tcb {
        &self.tasks[slot(id)]
    }

    /// Name of task `id`.
    pub fn name(&self, id: TaskId) -> &'static str {
        self.names[slot(id)].unwrap_or_default()
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
    /// and charges the running task's time slice. [`Switch::Due`] when a
    /// woken task outranks the running one, or its slice ran out and a task
    /// of the same priority is ready.
    pub fn tick(&mut self) -> Switch {
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
                    return Switch::Due;
                }
            }
        }
        self.needs_switch()
    }

    /// [`Switch::Due`] when a ready task outranks the running one.
    pub fn needs_switch(&self) -> Switch {
        Switch::when(self.ready_mask >> self.tasks[slot(self.current)].prio > 1)
    }

    /// Gives up the rest of the running task's slice to the next ready task
    /// of the same priority.
    pub fn yield_current(&mut self) -> Switch {
        let cur = usize::from(self.current);
        let t = &mut self.tasks[slot(cur)];
        t.slice_left = SLICE_TICKS;
        self.rotate = true;
        Switch::when(self.ready_mask >> t.prio > 1 || usize::from(t.next) != cur)
    }

    /// Puts the running task to sleep until tick `deadline`:
    /// [`Switch::Due`], or [`Switch::Stay`] (and no sleep) when the deadline
    /// has already been reached.
    pub fn sleep_until(&mut self, deadline: u32) -> Switch {
        if reached(self.now, deadline) {
            return Switch::Stay;
        }
        self.remove(usize::from(self.current));
        let t = &mut self.tasks[slot(usize::from(self.current))];
        t.state = State::Sleeping(deadline);
        t.slice_left = SLICE_TICKS;
        Switch::Due
    }

    /// Blocks the running task on wait queue `w`, behind the tasks already
    /// waiting there: always [`Switch::Due`].
    pub fn block_current(&mut self, w: WaitId) -> Switch {
        self.remove(usize::from(self.current));
        let t = &mut self.tasks[slot(usize::from(self.current))];
        t.state = State::Blocked(w);
        t.wait_seq = self.seq;
        t.slice_left = SLICE_TICKS;
        self.seq = self.seq.wrapping_add(1);
        Switch::Due
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

    /// Sets the effective priority of `id`, moving it to the ring of that
    /// priority when it is ready.
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
}
