//! The kernel instance and its task-facing logic, generic over the arch
//! [`Port`] and the [`Board`]: the target runs one instance on its CPU's
//! port (`target`), and `cargo test` runs this same code on the host
//! against a simulated port (`tests`).

use core::panic::PanicInfo;

use crate::arch::{Stack, StackRegion, stack_intact, stack_used_bytes};
use crate::config::GUARD_WORDS;
use crate::print::{Hex, Print};
use crate::sched::{Scheduler, Switch, TaskId};
use crate::{Board, Port, exit_code};

mod sync;
#[cfg(target_os = "none")]
pub(crate) mod target;
#[cfg(test)]
mod tests;

pub use crate::arch::Shared;
pub use sync::{Mutex, MutexGuard, Queue, Semaphore};

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

/// Why [`Kernel::boot`] stops.
enum BootError {
    Twice,
    Spawn,
}

/// One kernel: the scheduler and the tick hook, behind port `P`'s critical
/// sections.
pub struct Kernel<P: Port> {
    sched: Shared<P, Scheduler>,
    tick_hook: Shared<P, Option<fn()>>,
}

impl<P: Port> Default for Kernel<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Port> Kernel<P> {
    pub const fn new() -> Self {
        Self {
            sched: Shared::new(Scheduler::new()),
            tick_hook: Shared::new(None),
        }
    }

    /// Creates `tasks` and then `idle`, the idle task: paints each stack
    /// and builds its first frame. Returns the 16-byte aligned stack top
    /// and the entry of the first task to run, the highest priority.
    ///
    /// Panics: called twice, too many tasks, a priority out of range, or a
    /// stack too small for a context frame and its guard words.
    pub fn boot(&self, tasks: &[TaskDef], idle: &TaskDef) -> (usize, fn() -> !) {
        let all = || tasks.iter().chain([idle]);
        if all().any(|t| t.stack.words() < P::FRAME_WORDS + GUARD_WORDS + 4) {
            panic!("task stack too small");
        }
        // Errors leave the critical section before they panic, so that the
        // panic report can look at the kernel.
        let first = self.sched.with(|k| {
            if k.started() {
                return Err(BootError::Twice);
            }
            for t in all() {
                t.stack.paint();
                let sp = P::init_frame(&t.stack, t.entry);
                k.spawn(t.name, t.prio, sp, t.stack.lo(), t.stack.words())
                    .map_err(|_| BootError::Spawn)?;
            }
            let def = tasks.get(k.start()).unwrap_or(idle);
            Ok((def.stack.top() & !15, def.entry))
        });
        // Literal messages: a formatted one would pull in `core::fmt`.
        match first {
            Ok(first) => first,
            Err(BootError::Twice) => panic!("kernel started twice"),
            Err(BootError::Spawn) => panic!("cannot create task"),
        }
    }

    /// [`Self::boot`], then starts the tick timer from board `B`'s clock
    /// and runs the first task. Never returns.
    pub fn start<B: Board>(&self, tasks: &[TaskDef], idle: &TaskDef) -> ! {
        let (top, entry) = self.boot(tasks, idle);
        P::start_first(top, entry, B::timer_hz())
    }

    /// Switches tasks: saves `sp` for the outgoing task, checks its stack
    /// (reporting an overflow through board `B` and ending the run), and
    /// returns the saved stack pointer of the task to resume. Called by the
    /// port's switch handler with the outgoing context already pushed.
    pub fn switch_context<B: Board>(&self, sp: usize) -> usize {
        let next = self.sched.with_in_handler(|k| {
            k.save_sp(sp);
            let cur = k.current();
            if !stack_intact(k.task(cur).stack_lo, sp) {
                return Err(k.name(cur));
            }
            let next = k.switch();
            Ok(k.task(next).sp)
        });
        // The report reads the kernel again, so it runs outside the
        // handler's critical section.
        next.unwrap_or_else(|name| self.stack_overflow::<B>(name))
    }

    /// Advances the tick, then runs the tick hook. Called by the port's
    /// timer interrupt handler.
    pub fn on_tick(&self) -> Switch {
        let due = self.sched.with(|k| k.tick());
        if let Some(hook) = self.tick_hook.with(|h| *h) {
            hook();
        }
        due
    }

    /// Installs `hook`, run in interrupt context on every tick after the
    /// kernel's own tick work. It may signal semaphores and send to queues
    /// without blocking (`give`, `try_send`).
    pub fn set_tick_hook(&self, hook: fn()) {
        self.tick_hook.with(|h| *h = Some(hook));
    }

    /// Ticks since start (`config::TICK_HZ` per second).
    pub fn now(&self) -> u32 {
        self.sched.with(|k| k.now())
    }

    /// Sleeps for `ticks` ticks: the task wakes on the tick `now() + ticks`.
    /// `sleep(0)` returns at once.
    pub fn sleep(&self, ticks: u32) {
        switch_if::<P>(self.sched.with(|k| {
            let deadline = k.now().wrapping_add(ticks);
            k.sleep_until(deadline)
        }));
    }

    /// Sleeps until tick `deadline`; returns at once if it has passed.
    pub fn sleep_until(&self, deadline: u32) {
        switch_if::<P>(self.sched.with(|k| k.sleep_until(deadline)));
    }

    /// Gives the rest of the time slice to the next ready task of the same
    /// priority.
    pub fn yield_now(&self) {
        switch_if::<P>(self.sched.with(|k| k.yield_current()));
    }

    /// Instructions executed since reset (see [`Port::instructions`]).
    pub fn instructions<B: Board>(&self) -> u64 {
        P::instructions(self.now(), B::timer_hz())
    }

    /// Name of the running task (`main` before the kernel starts).
    pub fn current_task_name(&self) -> &'static str {
        self.sched
            .with(|k| k.started().then(|| k.name(k.current())))
            .unwrap_or("main")
    }

    /// Number of tasks, the idle task included.
    pub fn task_count(&self) -> usize {
        self.sched.with(|k| k.task_count())
    }

    /// Stack report of task `id`: name, bytes ever used (high-water mark)
    /// and stack size in bytes.
    pub fn stack_usage(&self, id: TaskId) -> Option<(&'static str, usize, usize)> {
        let (name, lo, words) = self.sched.with(|k| {
            (id < k.task_count()).then(|| (k.name(id), k.task(id).stack_lo, k.stack_words(id)))
        })?;
        Some((name, stack_used_bytes(lo, words), 4 * words))
    }

    /// Completed round-robin time slices of task `id`.
    pub fn slices(&self, id: TaskId) -> u32 {
        self.sched.with(|k| k.task(id).slices)
    }

    /// Effective priority of task `id` (raised while it inherits a
    /// priority).
    pub fn priority(&self, id: TaskId) -> u8 {
        self.sched.with(|k| k.task(id).prio)
    }

    /// Reports a CPU fault in the running task and exits with code 102.
    pub fn fault<B: Board>(&self, what: &str, pc: u32, detail: u32) -> ! {
        console_line::<P, B>(&[
            &"*** FAULT in task ",
            &self.current_task_name(),
            &" at pc=",
            &Hex(pc),
            &": ",
            &what,
            &Hex(detail),
        ]);
        self.exit::<B>(exit_code::FAULT)
    }

    /// Reports a panic of the running task at `pc` and exits with code 101.
    pub fn panic<B: Board>(&self, info: &PanicInfo, pc: usize) -> ! {
        let msg = info.message().as_str().unwrap_or("(formatted message)");
        let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
        self.report_panic::<B>(msg, (file, line), pc)
    }

    /// [`Self::panic`] with the message and the location (file, line)
    /// taken apart.
    #[inline(always)]
    fn report_panic<B: Board>(&self, msg: &str, (file, line): (&str, u32), pc: usize) -> ! {
        console_line::<P, B>(&[
            &"*** PANIC in task ",
            &self.current_task_name(),
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
        self.exit::<B>(exit_code::PANIC)
    }

    /// Reports a stack overflow of task `name` and exits with code 103. Out
    /// of line, so the switch path does not pay for its stack frame.
    #[cold]
    #[inline(never)]
    fn stack_overflow<B: Board>(&self, name: &str) -> ! {
        console_line::<P, B>(&[&"*** STACK OVERFLOW in task ", &name]);
        self.exit::<B>(exit_code::STACK_OVERFLOW)
    }

    /// Ends the run with `code` (see [`crate::exit_code`]) after the stack
    /// report: one line per task, in task id order (the idle task last),
    /// [`STACK_REPORT`] then the task's name, the bytes of its stack ever
    /// used (the high-water mark of the paint, guard words excluded) and
    /// its stack's size in bytes, e.g. `@stack monitor 312 1024`. The
    /// harness strips these lines from the transcript. Nothing is printed
    /// before the kernel has started tasks.
    pub fn exit<B: Board>(&self, code: u32) -> ! {
        for id in 0..self.task_count() {
            if let Some((name, peak, size)) = self.stack_usage(id) {
                console_line::<P, B>(&[&STACK_REPORT, &name, &" ", &peak, &" ", &size]);
            }
        }
        exit::<B>(code)
    }
}

/// The prefix of the stack report's lines (see [`Kernel::exit`]): a
/// character no test output starts with, so the harness can tell them
/// apart from the transcript.
pub const STACK_REPORT: &str = "@stack ";

/// The idle task's entry: waits for interrupts forever.
pub fn idle<P: Port>() -> ! {
    loop {
        P::wait_for_interrupt();
    }
}

/// Ends the run once board `B`'s console has drained, with `code` (0 =
/// pass, see [`crate::exit_code`]), without the stack report of
/// [`Kernel::exit`]. Out of line: every report that ends a run shares one
/// copy of the board's drain loop.
#[inline(never)]
fn exit<B: Board>(code: u32) -> ! {
    B::console_flush();
    B::exit(code)
}

/// Prints `items` and a newline on board `B`'s console as one line that
/// no other context can interleave with (inside port `P`'s critical
/// section).
pub fn console_line<P: Port, B: Board>(items: &[&dyn Print]) {
    P::critical(|| {
        for item in items {
            item.print(&mut |b: &[u8]| B::console_write(b));
        }
        B::console_write(b"\n");
    });
}

/// Switches now, from task code, when `due`.
fn switch_if<P: Port>(due: Switch) {
    if due.is_due() {
        P::switch_from_task();
    }
}

/// Asks for a switch from any context (it happens once no handler runs),
/// when `due`.
fn request_if<P: Port>(due: Switch) {
    if due.is_due() {
        P::request_switch();
    }
}
