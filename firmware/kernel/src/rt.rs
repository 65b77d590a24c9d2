//! The kernel instance on the target and its task-facing API. Safe Rust:
//! the arch port (`crate::arch`) does all register and memory access.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::{self, Shared, Stack, StackRegion};
use crate::config::GUARD_WORDS;
use crate::exit_code;
use crate::print::{Hex, Print};
use crate::sched::{MutexState, Ring, Scheduler, SemState, Switch, TaskId, WaitId};

static KERNEL: Shared<Scheduler> = Shared::new(Scheduler::new());
static TICK_HOOK: Shared<Option<fn()>> = Shared::new(None);
static STARTED: AtomicBool = AtomicBool::new(false);

/// Stack of the idle task, in 32-bit words: one context frame plus guard.
const IDLE_WORDS: usize = arch::FRAME_WORDS + GUARD_WORDS + 16;
static IDLE_STACK: Stack<IDLE_WORDS> = Stack::new();

/// A statically declared task: name, fixed priority (0 is idle's, the
/// highest is `config::PRIORITIES - 1`), entry function and stack.
#[derive(Clone, Copy)]
pub struct TaskDef {
    pub name: &'static str,
    pub prio: u8,
    pub entry: fn() -> !,
    pub stack: StackRegion,
}

impl TaskDef {
    pub const fn new<const N: usize>(
        name: &'static str,
        prio: u8,
        entry: fn() -> !,
        stack: &'static Stack<N>,
    ) -> Self {
        Self {
            name,
            prio,
            entry,
            stack: stack.region(),
        }
    }
}

/// Creates the tasks and the idle task, starts the tick timer and runs the
/// highest-priority task. Never returns.
///
/// Panics: called twice, too many tasks, a priority out of range, or a
/// stack too small for a context frame and its guard words.
pub fn start(tasks: &[TaskDef]) -> ! {
    if STARTED.load(Ordering::SeqCst) {
        panic!("kernel started twice");
    }
    let idle = TaskDef::new("idle", 0, idle, &IDLE_STACK);
    let (top, entry) = KERNEL.with(|k| {
        for t in tasks.iter().chain([&idle]) {
            if t.stack.words() < arch::FRAME_WORDS + GUARD_WORDS + 4 {
                panic!("task stack too small");
            }
            t.stack.paint();
            let sp = arch::init_frame(&t.stack, t.entry);
            if k.spawn(t.name, t.prio, sp, t.stack.lo(), t.stack.words())
                .is_err()
            {
                panic!("cannot create task");
            }
        }
        let first = k.start();
        let def = tasks.get(first).unwrap_or(&idle);
        (def.stack.top() & !15, def.entry)
    });
    STARTED.store(true, Ordering::SeqCst);
    arch::start_first(top, entry)
}

/// Switches now, from task code, when `due`.
fn switch_if(due: Switch) {
    if due.is_due() {
        arch::switch_from_task();
    }
}

/// Asks for a switch from any context (it happens once no handler runs),
/// when `due`.
fn request_if(due: Switch) {
    if due.is_due() {
        arch::request_switch();
    }
}

fn idle() -> ! {
    loop {
        arch::wait_for_interrupt();
    }
}

/// Switches tasks: saves `sp` for the outgoing task, checks its stack, and
/// returns the saved stack pointer of the task to resume. Called by the
/// arch port's switch handler with the outgoing context already pushed.
pub(crate) extern "C" fn switch_context(sp: usize) -> usize {
    KERNEL.with_in_handler(|k| {
        k.save_sp(sp);
        let cur = k.current();
        if !arch::stack_intact(k.task(cur).stack_lo, sp) {
            stack_overflow(k.name(cur));
        }
        let next = k.switch();
        k.task(next).sp
    })
}

/// Reports a stack overflow of task `name` and exits with code 103. Out of
/// line, so the switch path does not pay for its stack frame.
#[cold]
#[inline(never)]
fn stack_overflow(name: &str) -> ! {
    console_line(&[&"*** STACK OVERFLOW in task ", &name]);
    exit(exit_code::STACK_OVERFLOW)
}

/// Advances the tick; runs the tick hook. Called by the arch port's timer
/// interrupt handler.
pub(crate) fn on_tick() -> Switch {
    let switch = KERNEL.with(|k| k.tick());
    if let Some(hook) = TICK_HOOK.with(|h| *h) {
        hook();
    }
    switch
}

/// Installs `hook`, run in interrupt context on every tick after the
/// kernel's own tick work. It may signal semaphores and send to queues
/// without blocking (`Semaphore::give`, `Queue::try_send`).
pub fn set_tick_hook(hook: fn()) {
    TICK_HOOK.with(|h| *h = Some(hook));
}

/// Ticks since start (`config::TICK_HZ` per second).
pub fn now() -> u32 {
    KERNEL.with(|k| k.now())
}

/// Sleeps for `ticks` ticks: the task wakes on the tick `now() + ticks`.
/// `sleep(0)` returns at once.
pub fn sleep(ticks: u32) {
    let switch = KERNEL.with(|k| {
        let deadline = k.now().wrapping_add(ticks);
        k.sleep_until(deadline)
    });
    switch_if(switch);
}

/// Sleeps until tick `deadline`; returns at once if it has passed. Use it
/// for drift-free periodic work: `next += period; sleep_until(next)`.
pub fn sleep_until(deadline: u32) {
    switch_if(KERNEL.with(|k| k.sleep_until(deadline)));
}

/// Gives the rest of the time slice to the next ready task of the same
/// priority.
pub fn yield_now() {
    switch_if(KERNEL.with(|k| k.yield_current()));
}

/// Instructions executed since reset, for benchmarks under QEMU `-icount`:
/// `minstret` on RISC-V; on Cortex-M3 derived from SysTick virtual time
/// (see the port), to within 83 instructions.
pub fn instructions() -> u64 {
    arch::instructions(KERNEL.with(|k| k.now()))
}

/// Name of the running task (`main` before the kernel starts).
pub fn current_task_name() -> &'static str {
    if !STARTED.load(Ordering::Relaxed) {
        return "main";
    }
    KERNEL.with(|k| k.name(k.current()))
}

/// Number of tasks, the idle task included.
pub fn task_count() -> usize {
    KERNEL.with(|k| k.task_count())
}

/// Stack report of task `id`: name, bytes ever used (high-water mark) and
/// stack size in bytes.
pub fn stack_usage(id: TaskId) -> Option<(&'static str, usize, usize)> {
    let (name, lo, words) = KERNEL.with(|k| {
        (id < k.task_count()).then(|| (k.name(id), k.task(id).stack_lo, k.stack_words(id)))
    })?;
    Some((name, arch::stack_used_bytes(lo, words), 4 * words))
}

/// Completed round-robin time slices of task `id`.
pub fn slices(id: TaskId) -> u32 {
    KERNEL.with(|k| k.task(id).slices)
}

/// Effective priority of task `id` (raised while it inherits a priority).
pub fn priority(id: TaskId) -> u8 {
    KERNEL.with(|k| k.task(id).prio)
}

/// Ends the run once the console has drained: semihosting
/// SYS_EXIT_EXTENDED with `code` (0 = pass, see [`crate::exit_code`]).
pub fn exit(code: u32) -> ! {
    arch::console_flush();
    arch::exit(code)
}

/// Prints `items` and a newline as one uninterrupted line.
pub fn console_line(items: &[&dyn Print]) {
    arch::critical(|| {
        for item in items {
            item.print(&mut |b: &[u8]| arch::console_write(b));
        }
        arch::console_write(b"\n");
    });
}

/// Reports a CPU fault in the running task and exits with code 102.
pub(crate) fn fault(what: &str, pc: u32, detail: u32) -> ! {
    console_line(&[
        &"*** FAULT in task ",
        &current_task_name(),
        &" at pc=",
        &Hex(pc),
        &": ",
        &what,
        &Hex(detail),
    ]);
    exit(exit_code::FAULT)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let pc = arch::return_address();
    let msg = info.message().as_str().unwrap_or("(formatted message)");
    let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
    console_line(&[
        &"*** PANIC in task ",
        &current_task_name(),
        &" at pc=",
        &Hex(pc as u32),
        &": ",
        &msg,
        &" (",
        &file,
        &":",
        &line,
        &")",
    ]);
    exit(exit_code::PANIC)
}

/// A counting semaphore. `take` blocks while the count is zero; `give` may
/// be called from tasks and from interrupt handlers. Waiters are served
/// highest priority first, then in arrival order.
pub struct Semaphore {
    state: Shared<SemState>,
}

impl Semaphore {
    pub const fn new(initial: u32) -> Self {
        Self {
            state: Shared::new(SemState { count: initial }),
        }
    }

    fn id(&self) -> WaitId {
        WaitId(self as *const Self as usize)
    }

    /// Takes one unit, blocking while there is none.
    pub fn take(&self) {
        switch_if(KERNEL.with(|k| self.state.with(|s| k.sem_take(s, self.id()))));
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

    /// Adds one unit, or hands it to the first waiter.
    pub fn give(&self) {
        request_if(KERNEL.with(|k| self.state.with(|s| k.sem_give(s, self.id()))));
    }

    /// The current count.
    pub fn count(&self) -> u32 {
        self.state.with(|s| s.count)
    }
}

/// A mutex with priority inheritance: while a higher-priority task waits,
/// the owner runs at the waiter's priority. Not recursive; only the owner
/// may unlock. `lock` returns a guard that unlocks when dropped.
pub struct Mutex {
    state: Shared<MutexState>,
}

/// Holds a [`Mutex`] locked; unlocks it on drop.
pub struct MutexGuard<'a> {
    mutex: &'a Mutex,
}

impl Mutex {
    pub const fn new() -> Self {
        Self {
            state: Shared::new(MutexState::new()),
        }
    }

    fn id(&self) -> WaitId {
        WaitId(self as *const Self as usize)
    }

    /// Locks, blocking while another task owns the mutex.
    ///
    /// Panics: the running task already owns it.
    pub fn lock(&self) -> MutexGuard<'_> {
        match KERNEL.with(|k| self.state.with(|m| k.mutex_lock(m, self.id()))) {
            Ok(due) => switch_if(due),
            Err(_) => panic!("mutex locked twice by its owner"),
        }
        MutexGuard { mutex: self }
    }

    /// The owning task, if any.
    pub fn owner(&self) -> Option<TaskId> {
        self.state.with(|m| m.owner())
    }
}

impl Default for Mutex {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MutexGuard<'_> {
    fn drop(&mut self) {
        let m = self.mutex;
        match KERNEL.with(|k| m.state.with(|s| k.mutex_unlock(s, m.id()))) {
            Ok(due) => request_if(due),
            Err(_) => panic!("mutex unlocked by a task that does not own it"),
        }
    }
}

/// A message queue of up to `N` items of `T`. `send` blocks while it is
/// full, `recv` while it is empty; `try_send` never blocks and may be used
/// from interrupt handlers.
pub struct Queue<T, const N: usize> {
    ring: Shared<Ring<T, N>>,
}

impl<T: Send, const N: usize> Queue<T, N> {
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

    /// Appends `item`, blocking while the queue is full.
    pub fn send(&self, mut item: T) {
        loop {
            let r = KERNEL.with(|k| {
                self.ring
                    .with(|q| k.queue_send(q, item, self.senders(), self.receivers()))
            });
            match r {
                Ok(due) => return switch_if(due),
                Err(back) => {
                    item = back;
                    arch::switch_from_task();
                }
            }
        }
    }

    /// Appends `item` if there is room, else hands it back.
    pub fn try_send(&self, item: T) -> Result<(), T> {
        let switch = KERNEL.with(|k| {
            self.ring
                .with(|q| k.queue_try_send(q, item, self.receivers()))
        })?;
        request_if(switch);
        Ok(())
    }

    /// Removes the oldest item, blocking while the queue is empty.
    pub fn recv(&self) -> T {
        loop {
            let r = KERNEL.with(|k| {
                self.ring
                    .with(|q| k.queue_recv(q, self.senders(), self.receivers()))
            });
            match r {
                Some((item, due)) => {
                    switch_if(due);
                    return item;
                }
                None => arch::switch_from_task(),
            }
        }
    }

    /// Number of queued items.
    pub fn len(&self) -> usize {
        self.ring.with(|q| q.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Send, const N: usize> Default for Queue<T, N> {
    fn default() -> Self {
        Self::new()
    }
}
