//! The kernel on the target: one instance on the CPU's port, bound to the
//! image's board by `board::entry!`, and the task-facing API over it. The
//! names here are what images use (`kernel::sleep`, `kernel::Semaphore`,
//! …); the logic is in the generic [`Kernel`].

use super::{Kernel, TaskDef, idle, sync};
use crate::Port;
use crate::arch::link::Linked;
use crate::arch::{self, Cpu, Stack};
use crate::config::GUARD_WORDS;
use crate::print::Print;
use crate::sched::{Switch, TaskId};

static KERNEL: Kernel<Cpu> = Kernel::new();

/// Stack of the idle task, in 32-bit words: one context frame, the guard,
/// and room for the interrupt handlers that run on it (in debug builds the
/// RV32IMAC tick handler needs 24 bytes there), so that the idle task
/// stays within the 75 % stack budget in both profiles.
const IDLE_WORDS: usize = <Cpu as Port>::FRAME_WORDS + GUARD_WORDS + 24;
static IDLE_STACK: Stack<IDLE_WORDS> = Stack::new();

/// State shared between tasks and interrupt handlers, reached only with
/// interrupts masked (`with`).
pub type Shared<T> = arch::Shared<Cpu, T>;
/// A counting semaphore (see [`sync::Semaphore`]).
pub type Semaphore = sync::Semaphore<Cpu>;
/// A mutex with priority inheritance (see [`sync::Mutex`]).
pub type Mutex = sync::Mutex<Cpu>;
/// Holds a [`Mutex`] locked; unlocks it on drop.
pub type MutexGuard<'a> = sync::MutexGuard<'a, Cpu>;
/// A message queue of up to `N` items of `T` (see [`sync::Queue`]).
pub type Queue<T, const N: usize> = sync::Queue<Cpu, T, N>;

/// Creates the tasks and the idle task, starts the tick timer and runs the
/// highest-priority task. Never returns.
///
/// Panics: called twice, too many tasks, a priority out of range, or a
/// stack too small for a context frame and its guard words.
pub fn start(tasks: &[TaskDef]) -> ! {
    let idle = TaskDef::new("idle", 0, idle::<Cpu>, &IDLE_STACK);
    KERNEL.start::<Linked>(tasks, &idle)
}

/// Enters the image's `main`, named by `board::entry!`: called once by the
/// board's startup code when RAM is initialised and the console is up.
pub fn image_main() -> ! {
    arch::link::image_main()
}

/// Installs `hook`, run in interrupt context on every tick after the
/// kernel's own tick work. It may signal semaphores and send to queues
/// without blocking (`Semaphore::give`, `Queue::try_send`).
pub fn set_tick_hook(hook: fn()) {
    KERNEL.set_tick_hook(hook);
}

/// Ticks since start (`config::TICK_HZ` per second).
pub fn now() -> u32 {
    KERNEL.now()
}

/// Sleeps for `ticks` ticks: the task wakes on the tick `now() + ticks`.
/// `sleep(0)` returns at once.
pub fn sleep(ticks: u32) {
    KERNEL.sleep(ticks);
}

/// Sleeps until tick `deadline`; returns at once if it has passed. Use it
/// for drift-free periodic work: `next += period; sleep_until(next)`.
pub fn sleep_until(deadline: u32) {
    KERNEL.sleep_until(deadline);
}

/// Gives the rest of the time slice to the next ready task of the same
/// priority.
pub fn yield_now() {
    KERNEL.yield_now();
}

/// Instructions executed since reset, for benchmarks under QEMU `-icount`:
/// `minstret` on RISC-V; on Cortex-M3 derived from SysTick virtual time
/// (see the port), to within 83 instructions.
pub fn instructions() -> u64 {
    KERNEL.instructions::<Linked>()
}

/// Name of the running task (`main` before the kernel starts).
pub fn current_task_name() -> &'static str {
    KERNEL.current_task_name()
}

/// Number of tasks, the idle task included.
pub fn task_count() -> usize {
    KERNEL.task_count()
}

/// Stack report of task `id`: name, bytes ever used (high-water mark) and
/// stack size in bytes.
pub fn stack_usage(id: TaskId) -> Option<(&'static str, usize, usize)> {
    KERNEL.stack_usage(id)
}

/// Completed round-robin time slices of task `id`.
pub fn slices(id: TaskId) -> u32 {
    KERNEL.slices(id)
}

/// Effective priority of task `id` (raised while it inherits a priority).
pub fn priority(id: TaskId) -> u8 {
    KERNEL.priority(id)
}

/// Ends the run once the console has drained: the board's exit
/// (semihosting SYS_EXIT_EXTENDED under QEMU) with `code` (0 = pass, see
/// [`crate::exit_code`]). Once tasks have started, it first prints one
/// stack report line per task (`@stack <task> <peak bytes> <size bytes>`,
/// see [`Kernel::exit`]).
pub fn exit(code: u32) -> ! {
    KERNEL.exit::<Linked>(code)
}

/// Prints `items` and a newline as one uninterrupted line.
pub fn console_line(items: &[&dyn Print]) {
    super::console_line::<Cpu, Linked>(items);
}

impl Semaphore {
    /// Takes one unit, blocking while there is none.
    pub fn take(&self) {
        KERNEL.take(self);
    }

    /// Adds one unit, or hands it to the first waiter.
    pub fn give(&self) {
        KERNEL.give(self);
    }
}

impl Mutex {
    /// Locks, blocking while another task owns the mutex.
    ///
    /// Panics: the running task already owns it.
    pub fn lock(&self) -> MutexGuard<'_> {
        KERNEL.lock(self)
    }
}

impl<T: Send, const N: usize> Queue<T, N> {
    /// Appends `item`, blocking while the queue is full.
    pub fn send(&self, item: T) {
        KERNEL.send(self, item);
    }

    /// Appends `item` if there is room, else hands it back.
    pub fn try_send(&self, item: T) -> Result<(), T> {
        KERNEL.try_send(self, item)
    }

    /// Removes the oldest item, blocking while the queue is empty.
    pub fn recv(&self) -> T {
        KERNEL.recv(self)
    }
}

/// The switch handler's call into the kernel (see
/// [`Kernel::switch_context`]).
pub(crate) extern "C" fn switch_context(sp: usize) -> usize {
    KERNEL.switch_context::<Linked>(sp)
}

/// The tick interrupt's call into the kernel.
pub(crate) fn on_tick() -> Switch {
    KERNEL.on_tick()
}

/// Reports a CPU fault in the running task and exits with code 102.
pub(crate) fn fault(what: &str, pc: u32, detail: u32) -> ! {
    KERNEL.fault::<Linked>(what, pc, detail)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    KERNEL.panic::<Linked>(info, Cpu::return_address())
}
