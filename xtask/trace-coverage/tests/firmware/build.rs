//! Links with this crate's linker script for the target's board.

use std::env;

fn main() {
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let script = if target.starts_with("thumb") {
        "lm3s6965evb.ld"
    } else if target.starts_with("riscv32") {
        "sifive_e.ld"
    } else {
        panic!(
            "no linker script for {target}: build for thumbv7m-none-eabi or riscv32imac-unknown-none-elf"
        );
    };
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg=-T{dir}/{script}");
    println!("cargo:rerun-if-changed={script}");
}
