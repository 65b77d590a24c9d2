//! The unsafe boundary of the kernel on the target: shared kernel state,
//! task stacks, the board hooks, and (in the per-CPU modules) the context
//! switch, the timer, critical sections and the semihosting exit.
//!
//! Every `unsafe` block and every line of assembly of the kernel lives under
//! this module. The rest of the kernel is safe Rust and host-tested.

#[cfg(target_arch = "arm")]
mod cortex_m;
#[cfg(target_arch = "arm")]
pub use cortex_m::*;

#[cfg(target_arch = "riscv32")]
mod riscv32;
#[cfg(target_arch = "riscv32")]
pub use riscv32::*;

use core::cell::UnsafeCell;

unsafe extern "Rust" {
    /// Writes bytes to the board's console UART, blocking until they are
    /// queued. Defined by the board crate.
    safe fn __board_console_write(bytes: &[u8]);
    /// Waits until every byte written to the console has left the UART.
    /// Defined by the board crate.
    safe fn __board_console_flush();
    /// Frequency of the kernel tick timer's input clock, in Hz: the core
    /// clock for SysTick, the CLINT `mtime` rate on RISC-V. Defined by the
    /// board crate.
    safe static __BOARD_TIMER_HZ: u32;
}

/// Writes raw bytes to the console.
pub fn console_write(bytes: &[u8]) {
    __board_console_write(bytes);
}

/// Waits until the console has sent everything (before ending the run).
pub fn console_flush() {
    __board_console_flush();
}

/// Timer input clock in Hz.
pub fn timer_hz() -> u32 {
    __BOARD_TIMER_HZ
}

/// State shared between tasks and interrupt handlers, reached only inside a
/// critical section.
pub struct Shared<T>(UnsafeCell<T>);

// SAFETY: the single core reaches the contents only through `with`, which
// masks interrupts, so no two `&mut T` can exist at once.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    pub const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// Runs `f` on the contents with interrupts masked. `f` must not call
    /// `with` on the same value again.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: interrupts are masked for the whole borrow and the only
        // other entry point is this method (see the `Sync` impl).
        critical(|| f(unsafe { &mut *self.0.get() }))
    }

    /// As [`Self::with`], from the switch handler (PendSV, or the RISC-V
    /// trap), where the port masks only what it must (see
    /// `handler_critical`).
    pub fn with_in_handler<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: as for `with`: `handler_critical` keeps every other
        // context that could reach the contents from running.
        handler_critical(|| f(unsafe { &mut *self.0.get() }))
    }
}

/// A task stack of `N` 32-bit words, 8-byte aligned as both ABIs require
/// (AAPCS, RISC-V ILP32 asks for 16 at calls; the ports round down).
#[repr(C, align(16))]
pub struct Stack<const N: usize>(UnsafeCell<[u32; N]>);

// SAFETY: a stack is written only by its own task (through its stack
// pointer) and by the kernel before the task starts or while it is switched
// out, never concurrently.
unsafe impl<const N: usize> Sync for Stack<N> {}

impl<const N: usize> Stack<N> {
    pub const fn new() -> Self {
        Self(UnsafeCell::new([0; N]))
    }

    /// This stack as an untyped region for a task declaration.
    pub const fn region(&'static self) -> StackRegion {
        StackRegion(&self.0)
    }
}

impl<const N: usize> Default for Stack<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// A `'static` task stack of any size.
#[derive(Clone, Copy)]
pub struct StackRegion(&'static UnsafeCell<[u32]>);

// SAFETY: as for `Stack`.
unsafe impl Sync for StackRegion {}

impl StackRegion {
    /// Lowest address, in bytes.
    pub fn lo(&self) -> usize {
        self.0.get() as *mut u32 as usize
    }

    /// Size in 32-bit words.
    pub fn words(&self) -> usize {
        self.0.get().len()
    }

    /// One past the highest address, in bytes.
    pub fn top(&self) -> usize {
        self.lo() + 4 * self.words()
    }

    /// Paints the stack before its task first runs.
    pub fn paint(&self) {
        // SAFETY: called by `start` before any task runs, so nothing else
        // holds a reference into the stack.
        crate::stack::paint(unsafe { &mut *self.0.get() });
    }
}

/// Whether the stack at `lo` of a switched-out task whose saved stack
/// pointer is `sp` is intact (see `stack::intact`).
#[inline(always)]
pub fn stack_intact(lo: usize, sp: usize) -> bool {
    crate::stack::intact(lo, sp, |i| {
        // SAFETY: `lo` is the base of a task stack of more than GUARD_WORDS
        // words (checked by `start`), which its task is not running to
        // write right now.
        unsafe { core::ptr::read_volatile((lo as *const u32).add(i)) }
    })
}

/// Bytes ever used of the task stack at `lo` of `words` words.
pub fn stack_used_bytes(lo: usize, words: usize) -> usize {
    let base = lo as *const u32;
    crate::stack::used_bytes((0..words).map(|i| {
        // SAFETY: reads inside the stack; a racing write by the running
        // task only changes which painted word is seen first.
        unsafe { core::ptr::read_volatile(base.add(i)) }
    }))
}

/// Builds a task's first context frame below `top` (see the per-CPU
/// `FRAME_WORDS`), so that the first switch to it enters `entry`. Returns
/// the stack pointer to save in its control block.
pub fn init_frame(stack: &StackRegion, entry: fn() -> !) -> usize {
    let frame = first_frame(entry);
    let sp = (stack.top() & !15) - 4 * frame.len();
    for (i, w) in frame.iter().enumerate() {
        // SAFETY: `sp .. top` lies inside the task's stack, which is not yet
        // running; `start` rejects stacks smaller than a frame plus guard.
        unsafe { core::ptr::write_volatile((sp as *mut u32).add(i), *w) };
    }
    sp
}
