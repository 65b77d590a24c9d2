//! Build-time kernel configuration: the one place that sets the tick rate,
//! the task table size, the priority levels and the time slice.

/// Kernel ticks per second. Every timeout, sleep and time slice is counted in
/// these ticks; the arch ports derive their timer reload from it.
pub const TICK_HZ: u32 = 1000;

/// Capacity of the task table in tasks, the idle task included.
pub const MAX_TASKS: usize = 8;

/// Number of priority levels: 0 (idle, lowest) to `PRIORITIES - 1` (highest).
pub const PRIORITIES: usize = 8;

/// Length of a round-robin time slice among tasks of equal priority, in ticks.
pub const SLICE_TICKS: u8 = 2;

/// Guard words at the low end of every task stack, checked on each switch.
pub const GUARD_WORDS: usize = 2;
