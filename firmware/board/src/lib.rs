//! The board of the build target, so that one image source serves every
//! board: `board::entry!(main)`. Adding a board adds a line here and a
//! target-specific dependency in this crate's manifest.
#![no_std]

#[cfg(target_arch = "arm")]
pub use board_lm3s6965evb::*;

#[cfg(target_arch = "riscv32")]
pub use board_hifive1::*;

/// Names the image's entry point, a `fn() -> !` that the board's startup
/// code calls as `__firmware_main` once RAM is initialised and the console
/// is up.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(export_name = "__firmware_main")]
        pub fn __firmware_main() -> ! {
            let main: fn() -> ! = $main;
            main()
        }
    };
}
