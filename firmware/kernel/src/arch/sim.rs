//! A simulated port for host tests of the runtime: one CPU whose interrupt
//! mask, switch requests and idle waits are recorded, per test thread,
//! instead of acted on.
//!
//! Nothing runs "in the background": a test plays the switch handler
//! itself (`Kernel::switch_context`), and [`Sim::on_switch`] runs what the
//! other tasks would do while the caller is switched out. The port checks
//! its own contract: a task never switches from inside a critical section.
//! Its `Shared` is not `Sync` (see `cell`), so simulated kernels stay on
//! their test's thread.

use std::boxed::Box;
use std::cell::{Cell, RefCell};

use super::StackRegion;
use crate::port::{Counter, Port};

/// The simulated port.
pub enum Sim {}

/// What the simulated CPU was asked to do, since the test began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// `request_switch` calls.
    pub requested: u32,
    /// `switch_from_task` calls.
    pub switched: u32,
    /// `wait_for_interrupt` calls.
    pub idle_waits: u32,
    /// `start_first`'s stack top and timer clock.
    pub started: Option<(usize, u32)>,
}

/// What a simulated context frame holds: not the stack paint.
const FRAME_MARK: u32 = 0xF4A3_E000;

std::thread_local! {
    static MASK_DEPTH: Cell<u32> = const { Cell::new(0) };
    static RECORD: Cell<Record> = const { Cell::new(Record { requested: 0, switched: 0, idle_waits: 0, started: None }) };
    static ON_SWITCH: RefCell<Option<Box<dyn FnMut()>>> = const { RefCell::new(None) };
}

impl Sim {
    /// What the CPU was asked to do so far on this thread.
    pub fn record() -> Record {
        RECORD.with(Cell::get)
    }

    /// Whether interrupts are masked now.
    pub fn masked() -> bool {
        MASK_DEPTH.with(Cell::get) > 0
    }

    /// Runs `f` on every `switch_from_task` from now on: what happens
    /// while the calling task is switched out (the test calls the switch
    /// handler and acts for the other tasks there).
    pub fn on_switch(f: impl FnMut() + 'static) {
        ON_SWITCH.with(|s| *s.borrow_mut() = Some(Box::new(f)));
    }

    fn note(f: impl FnOnce(&mut Record)) {
        RECORD.with(|r| {
            let mut record = r.get();
            f(&mut record);
            r.set(record);
        });
    }
}

/// Counts one level of masking for as long as it lives, unwinding included.
struct Masked;

impl Masked {
    fn new() -> Self {
        MASK_DEPTH.with(|d| d.set(d.get() + 1));
        Masked
    }
}

impl Drop for Masked {
    fn drop(&mut self) {
        MASK_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

impl Port for Sim {
    const FRAME_WORDS: usize = 16;

    fn critical<R>(f: impl FnOnce() -> R) -> R {
        let _masked = Masked::new();
        f()
    }

    fn handler_critical<R>(f: impl FnOnce() -> R) -> R {
        Self::critical(f)
    }

    fn init_frame(stack: &StackRegion, _entry: fn() -> !) -> usize {
        stack.push_frame(&[FRAME_MARK; Self::FRAME_WORDS])
    }

    /// Records the start and ends the test's run with a panic, as the
    /// real port never returns either.
    fn start_first(top: usize, _entry: fn() -> !, timer_hz: u32) -> ! {
        Self::note(|r| r.started = Some((top, timer_hz)));
        panic!("sim: first task entered")
    }

    fn request_switch() {
        Self::note(|r| r.requested += 1);
    }

    fn switch_from_task() {
        assert!(
            !Self::masked(),
            "switch_from_task inside a critical section"
        );
        Self::note(|r| r.switched += 1);
        // Taken out while it runs, so that a switch inside it is only
        // counted.
        if let Some(mut f) = ON_SWITCH.with(|s| s.borrow_mut().take()) {
            f();
            ON_SWITCH.with(|s| {
                let mut slot = s.borrow_mut();
                if slot.is_none() {
                    *slot = Some(f);
                }
            });
        }
    }

    fn wait_for_interrupt() {
        Self::note(|r| r.idle_waits += 1);
    }

    const COUNTER: Counter = Counter::Instructions;

    /// A thousand instructions per tick plus the clock in kHz, so that a
    /// test sees both arguments arrive.
    fn counter(ticks: u32, timer_hz: u32) -> u64 {
        u64::from(ticks) * 1000 + u64::from(timer_hz / 1000)
    }

    fn return_address() -> usize {
        0
    }
}
