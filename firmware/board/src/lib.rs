//! The board an image is built for, so that one image source serves every
//! board: `board::entry!(main)`.
//!
//! The board is chosen by cargo feature, one per board and named exactly
//! like the board's table in `qemu/boards.toml`: build an image with
//! `--features board/lm3s6965evb`, `board/mps2-an385`, `board/sifive_e` or
//! `board/virt`. Exactly
//! one must be on (a `compile_error!` names the features otherwise), and
//! the build target must be the one of the board's table (the build script
//! says so otherwise). Adding a board adds a line to `boards!` below and a
//! feature with its optional dependency to this crate's manifest.
#![no_std]

#[doc(hidden)]
pub use kernel as __kernel;

/// Declares the boards: for each, its feature and its [`kernel::Board`]
/// type. Selects the board whose feature is on as [`Selected`], and refuses
/// a build with no board feature or two.
macro_rules! boards {
    ($($feature:literal => $board:path;)+) => {
        #[cfg(not(any($(feature = $feature),+)))]
        compile_error!(concat!(
            "no board selected: build with `--features board/<name>`, one of:",
            $(" ", $feature,)+
        ));
        exactly_one!($($feature),+);
        $(
            /// The board selected by cargo feature.
            #[cfg(feature = $feature)]
            pub use $board as Selected;
        )+
    };
}

/// A `compile_error!` for every pair of board features that are both on.
macro_rules! exactly_one {
    ($first:literal $(, $rest:literal)*) => {
        $(
            #[cfg(all(feature = $first, feature = $rest))]
            compile_error!(concat!(
                "board features `", $first, "` and `", $rest,
                "` are both on: enable exactly one board"
            ));
        )*
        exactly_one!($($rest),*);
    };
    () => {};
}

boards! {
    "lm3s6965evb" => board_lm3s6965evb::Lm3s6965evb;
    "mps2-an385" => board_mps2_an385::Mps2An385;
    "sifive_e" => board_hifive1::HiFive1;
    "virt" => board_riscv_virt::RiscvVirt;
}

/// Names the image's entry point, a `fn() -> !`, and binds it and the
/// [`Selected`] board into the kernel ([`kernel::bind_board!`]): the
/// board's startup code calls it once RAM is initialised and the console
/// is up. Once per image.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        $crate::__kernel::bind_board!($crate::Selected, $main);
    };
}
