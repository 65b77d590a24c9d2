//! A small preemptive RTOS kernel for Cortex-M3 and RV32IMAC.
//!
//! Statically declared tasks with fixed priorities and their own stacks,
//! preemption by priority, round-robin time slices among equal priorities,
//! `sleep`/`sleep_until`, counting semaphores (signalled from tasks or
//! interrupt handlers), mutexes with priority inheritance, fixed-capacity
//! message queues, an idle task that waits for interrupts, and stack
//! overflow detection. No heap.
//!
//! Two contracts bound the kernel, both traits so that a mismatch is a
//! compile error: [`Port`], the CPU architecture (context switch, tick
//! timer, interrupt masking; implemented in `arch/` for each target), and
//! [`Board`], the hardware around it (console, timer clock, end of run;
//! implemented by a board crate and bound into an image with
//! `board::entry!`).
//!
//! Everything but the arch ports is plain safe Rust and host-tested by
//! `cargo test`: the scheduling logic ([`sched`], [`stack`], [`print`]) and
//! the runtime ([`rt`]), which runs there against a simulated port. On a
//! bare-metal target the crate root also holds the task-facing API over
//! the one kernel instance (`start`, `sleep`, `Semaphore`, …).
#![no_std]

#[cfg(test)]
extern crate std;

pub mod board;
pub mod config;
pub mod port;
pub mod print;
pub mod rt;
pub mod sched;
pub mod stack;

mod arch;

pub use arch::{Stack, StackRegion};
pub use board::{Board, Console};
pub use port::{Counter, Port};
pub use rt::TaskDef;

#[cfg(target_os = "none")]
pub use arch::{Cpu, semihosting_exit};
#[cfg(target_os = "none")]
pub use rt::target::*;

/// Exit codes reported through semihosting SYS_EXIT_EXTENDED.
pub mod exit_code {
    /// The test image passed.
    pub const PASS: u32 = 0;
    /// A test assertion failed.
    pub const FAIL: u32 = 1;
    /// A Rust panic.
    pub const PANIC: u32 = 101;
    /// A CPU fault: HardFault on Cortex-M, an exception trap on RISC-V.
    pub const FAULT: u32 = 102;
    /// A task overran its stack.
    pub const STACK_OVERFLOW: u32 = 103;
}

/// Prints its arguments (anything implementing [`print::Print`]: `&str`,
/// integers, [`print::Hex`]) and a newline to the console, as one line that
/// other tasks cannot interleave with.
#[macro_export]
macro_rules! println {
    ($($e:expr),* $(,)?) => {
        $crate::console_line(&[$(&$e as &dyn $crate::print::Print),*])
    };
}

/// Exception handlers for the board's Cortex-M vector table.
#[cfg(all(target_os = "none", target_arch = "arm"))]
pub mod vectors {
    pub use crate::arch::cortex_m::{hard_fault, pendsv, systick, unexpected};
}
