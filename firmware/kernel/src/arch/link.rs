//! The board and `main` of the image, bound at link time: one symbol,
//! defined by [`bind_board!`](crate::bind_board) (which `board::entry!`
//! expands to) with the same type as declared here. An image that binds
//! no board, or two, fails to link; a board that does not implement
//! [`Board`] fails to compile.
#![allow(unsafe_code)] // reason: declares the one link-time symbol that `bind_board!` defines

use crate::board::{Binding, Board, Console};

unsafe extern "Rust" {
    /// Defined by `bind_board!` in the image crate, of this very type.
    safe static __KERNEL_BINDING: Binding;
}

/// The image's board, as bound by `bind_board!`.
pub enum Linked {}

impl Board for Linked {
    type Console = Linked;

    #[inline(always)]
    fn timer_hz() -> u32 {
        (__KERNEL_BINDING.timer_hz)()
    }

    #[inline(always)]
    fn exit(code: u32) -> ! {
        (__KERNEL_BINDING.exit)(code)
    }
}

impl Console for Linked {
    #[inline(always)]
    fn init() {
        (__KERNEL_BINDING.console_init)()
    }

    #[inline(always)]
    fn write(bytes: &[u8]) {
        (__KERNEL_BINDING.console_write)(bytes)
    }

    #[inline(always)]
    fn flush() {
        (__KERNEL_BINDING.console_flush)()
    }
}

/// Brings the console up, then enters the image's `main`, as bound by
/// `bind_board!`.
pub fn image_main() -> ! {
    Linked::init();
    (__KERNEL_BINDING.main)()
}
