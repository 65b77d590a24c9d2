//! A small preemptive RTOS kernel for Cortex-M3 and RV32IMAC.
//!
//! Statically declared tasks with fixed priorities and their own stacks,
//! preemption by priority, round-robin time slices among equal priorities,
//! `sleep`/`sleep_until`, counting semaphores (signalled from tasks or
//! interrupt handlers), mutexes with priority inheritance, fixed-capacity
//! message queues, an idle task that waits for interrupts, and stack
//! overflow detection. No heap.
//!
//! The scheduling logic ([`sched`], [`stack`], [`print`]) is plain Rust and
//! unit-tested on the host; the target runtime (the API below, and the arch
//! ports with all `unsafe` and assembly) is compiled for bare-metal targets
//! only.
#![no_std]

#[cfg(test)]
extern crate std;

pub mod config;
pub mod print;
pub mod sched;
pub mod stack;

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod rt;

#[cfg(target_os = "none")]
pub use arch::{Shared, Stack, StackRegion};
#[cfg(target_os = "none")]
pub use rt::*;

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
    pub use crate::arch::{hard_fault, pendsv, systick, unexpected};
}
