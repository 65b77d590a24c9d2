//! The board's side of the kernel contract: console, timer clock and the
//! end of a run. A board crate implements [`Board`] for one type and
//! [`Console`] for its UART;
//! `board::entry!` (or [`bind_board!`](crate::bind_board)) binds that type
//! and the image's `main` into the kernel, so a board that lacks an item or
//! gets a signature wrong does not compile.

/// A board: what the kernel needs from the hardware around the CPU.
pub trait Board {
    /// The console UART.
    type Console: Console;

    /// Frequency of the tick timer's input clock, in Hz: the core clock
    /// for SysTick on Cortex-M, the `mtime` rate on RISC-V (privileged
    /// spec 3.2.1).
    fn timer_hz() -> u32;

    /// Ends the run with `code` (see [`crate::exit_code`]). By default
    /// through semihosting SYS_EXIT_EXTENDED (`kernel::semihosting_exit`),
    /// which QEMU serves on every board; a board without a debugger
    /// attached overrides it.
    fn exit(code: u32) -> ! {
        #[cfg(target_os = "none")]
        {
            crate::arch::semihosting_exit(code)
        }
        #[cfg(not(target_os = "none"))]
        {
            panic!("exit({code}): a host board must implement `Board::exit`")
        }
    }
}

/// A board's console: a UART written by polling.
pub trait Console {
    /// Brings the UART up; called once, before the image's `main`.
    fn init();

    /// Writes `bytes`, blocking until the UART has taken them.
    fn write(bytes: &[u8]);

    /// Waits until every byte written has left the UART (before ending the
    /// run).
    fn flush();
}

/// A board's functions and an image's `main`, as the kernel reaches them on
/// the target. [`bind_board!`](crate::bind_board) defines the one instance
/// of an image; its fields are function pointers into a constant, which
/// link-time optimisation turns back into direct calls.
#[cfg(target_os = "none")]
#[doc(hidden)]
pub struct Binding {
    pub(crate) timer_hz: fn() -> u32,
    pub(crate) console_init: fn(),
    pub(crate) console_write: fn(&[u8]),
    pub(crate) console_flush: fn(),
    pub(crate) exit: fn(u32) -> !,
    pub(crate) main: fn() -> !,
}

#[cfg(target_os = "none")]
impl Binding {
    /// Board `B` and the image's `main`.
    ///
    /// The pointers go to inlined shims rather than to `B`'s functions, so
    /// that each of those keeps a single use, its call, and is inlined
    /// there as if called directly.
    pub const fn of<B: Board>(main: fn() -> !) -> Self {
        #[inline(always)]
        fn timer_hz<B: Board>() -> u32 {
            B::timer_hz()
        }
        #[inline(always)]
        fn console_init<B: Board>() {
            B::Console::init()
        }
        #[inline(always)]
        fn console_write<B: Board>(bytes: &[u8]) {
            B::Console::write(bytes)
        }
        #[inline(always)]
        fn console_flush<B: Board>() {
            B::Console::flush()
        }
        #[inline(always)]
        fn exit<B: Board>(code: u32) -> ! {
            B::exit(code)
        }
        Self {
            timer_hz: timer_hz::<B>,
            console_init: console_init::<B>,
            console_write: console_write::<B>,
            console_flush: console_flush::<B>,
            exit: exit::<B>,
            main,
        }
    }
}

/// Binds board type `$board` (a [`Board`](crate::Board)) and the image's
/// entry point `$main` (a `fn() -> !`) into the kernel; once per image.
/// The board's startup code calls `kernel::image_main` once RAM is
/// initialised, which brings the console up and calls `$main`. Images normally write `board::entry!(main)`, which binds
/// the board selected by cargo feature.
#[macro_export]
macro_rules! bind_board {
    ($board:ty, $main:path) => {
        const _: () = {
            #[unsafe(export_name = "__KERNEL_BINDING")]
            static BINDING: $crate::board::Binding = $crate::board::Binding::of::<$board>($main);
        };
    };
}
