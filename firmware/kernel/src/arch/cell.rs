//! Kernel state shared between tasks and interrupt handlers, and task
//! stacks: `UnsafeCell`s whose every access is justified here.
#![allow(unsafe_code)] // reason: interior mutability of kernel state and raw reads and writes of task stacks

use core::cell::UnsafeCell;
use core::marker::PhantomData;

use crate::Port;

/// State shared between tasks and interrupt handlers, reached only inside a
/// critical section of the port `P`.
pub struct Shared<P, T> {
    value: UnsafeCell<T>,
    port: PhantomData<fn() -> P>,
}

// SAFETY: the target port's `critical` masks every interrupt of the single
// core and its `handler_critical` keeps every other context that could reach
// the contents from running, and `with`/`with_in_handler` are the only
// ways in, so no two `&mut T` can exist at once. Other ports (the host
// simulation) give no such promise, so their `Shared` is not `Sync`.
#[cfg(target_os = "none")]
unsafe impl<T: Send> Sync for Shared<super::Cpu, T> {}

impl<P: Port, T> Shared<P, T> {
    pub const fn new(value: T) -> Self {
        Self {
            value: UnsafeCell::new(value),
            port: PhantomData,
        }
    }

    /// Runs `f` on the contents with interrupts masked. `f` must not call
    /// `with` on the same value again.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: interrupts are masked for the whole borrow and the only
        // other entry point is `with_in_handler` (see the `Sync` impl).
        P::critical(|| f(unsafe { &mut *self.value.get() }))
    }

    /// As [`Self::with`], from the switch handler (PendSV, or the RISC-V
    /// trap), where the port masks only what it must.
    pub fn with_in_handler<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: as for `with`: `handler_critical` keeps every other
        // context that could reach the contents from running.
        P::handler_critical(|| f(unsafe { &mut *self.value.get() }))
    }
}

/// A task stack of `N` 32-bit words, 16-byte aligned (AAPCS asks for 8,
/// the RISC-V ILP32 ABI for 16 at calls; the ports round down).
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
        // SAFETY: called by the kernel's boot before any task runs, so
        // nothing else holds a reference into the stack.
        crate::stack::paint(unsafe { &mut *self.0.get() });
    }

    /// Writes `frame` just below the 16-byte aligned top of the stack and
    /// returns its address, the task's first stack pointer.
    ///
    /// Panics: the frame and the guard words do not fit (the kernel's boot
    /// checks the size first).
    pub fn push_frame(&self, frame: &[u32]) -> usize {
        let Some(sp) = (self.top() & !15)
            .checked_sub(4 * frame.len())
            .filter(|&sp| sp >= self.lo() + 4 * crate::config::GUARD_WORDS)
        else {
            panic!("task stack too small");
        };
        for (i, w) in frame.iter().enumerate() {
            // SAFETY: `sp .. top` lies inside the stack above its guard
            // words (checked above), and its task is not yet running.
            unsafe { core::ptr::write_volatile((sp as *mut u32).add(i), *w) };
        }
        sp
    }
}

/// Whether the stack at `lo` of a switched-out task whose saved stack
/// pointer is `sp` is intact (see `stack::intact`).
#[inline(always)]
pub fn stack_intact(lo: usize, sp: usize) -> bool {
    crate::stack::intact(lo, sp, |i| {
        // SAFETY: `lo` is the base of a task stack of more than GUARD_WORDS
        // words (checked by the kernel's boot), which its task is not
        // running to write right now.
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
