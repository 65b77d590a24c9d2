//! The board of the build target, so that one image source serves every
//! board: `board::entry!(main)`. Adding a board adds a line here and a
//! target-specific dependency in this crate's manifest.
#![no_std]

#[cfg(target_arch = "arm")]
pub use board_lm3s6965evb::*;

#[cfg(target_arch = "riscv32")]
pub use board_hifive1::*;
