//! The arch port's side of the kernel contract: what the kernel needs from
//! a CPU architecture. Each port (`arch/cortex_m.rs`, `arch/riscv32.rs`)
//! implements [`Port`] for one unit type, so a missing or mistyped
//! operation is a compile error; `cargo test` runs the kernel's runtime
//! against a simulated port.
//!
//! The port's interrupt handlers call back into the kernel: the tick into
//! `on_tick`, the switch handler into `switch_context`, faults into
//! `fault`.

use crate::arch::StackRegion;

/// A CPU architecture: context switch, tick timer and interrupt masking.
///
/// The methods take no `self`: a port is a type, and the kernel is generic
/// over it. Sharing kernel state between tasks and interrupt handlers
/// ([`Shared`](crate::rt::Shared) in a `static`) is possible only on a
/// port whose [`Port::critical`] is known to mask interrupts; the target
/// ports are.
pub trait Port: 'static {
    /// Words of a task's saved context on its stack, the first frame
    /// included.
    const FRAME_WORDS: usize;

    /// Runs `f` with interrupts masked, restoring the previous mask.
    fn critical<R>(f: impl FnOnce() -> R) -> R;

    /// Critical section inside the switch handler, masking only what can
    /// reach kernel state from there.
    fn handler_critical<R>(f: impl FnOnce() -> R) -> R;

    /// Writes the first context frame of a task that starts at `entry`
    /// below the top of `stack`, so that the first switch to it enters
    /// `entry`; returns the stack pointer to save for it.
    fn init_frame(stack: &StackRegion, entry: fn() -> !) -> usize;

    /// Starts the tick timer at `config::TICK_HZ` from its input clock of
    /// `timer_hz` Hz, and enters `entry` on the stack whose top is `top`
    /// (16-byte aligned) with interrupts enabled. The boot stack is
    /// abandoned.
    fn start_first(top: usize, entry: fn() -> !, timer_hz: u32) -> !;

    /// Asks for a switch from any context, task or interrupt handler: it
    /// happens once no handler runs and interrupts are unmasked.
    fn request_switch();

    /// Switches now. Only from task code with interrupts enabled (the
    /// blocking calls and yields), never from a handler or inside
    /// [`Port::critical`].
    fn switch_from_task();

    /// Sleeps the core until an interrupt is pending (the idle task).
    fn wait_for_interrupt();

    /// What [`Port::counter`] counts.
    const COUNTER: Counter;

    /// The benchmark counter since reset, in [`Port::COUNTER`] units, given
    /// the ticks since start and the timer clock in Hz (for a port that
    /// derives it from the timer).
    fn counter(ticks: u32, timer_hz: u32) -> u64;

    /// Address the calling function returns to (for panic reports); must
    /// be inlined into that function.
    fn return_address() -> usize;
}

/// The unit of a port's benchmark counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Instructions retired (RISC-V `minstret`).
    Instructions,
    /// Nanoseconds of virtual time, derived from the tick timer where the
    /// core has no instruction counter (Cortex-M3 under QEMU). Under QEMU
    /// `-icount shift=N` one instruction takes exactly 2^N of them.
    VirtualNanoseconds,
}

impl Counter {
    /// `instructions` or `ns`, as the benchmark images print it.
    pub const fn unit(self) -> &'static str {
        match self {
            Self::Instructions => "instructions",
            Self::VirtualNanoseconds => "ns",
        }
    }
}
