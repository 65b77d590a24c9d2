//! Shared by the board crates' build scripts: generates `memory.x` from a
//! board's table in `qemu/boards.toml` (the single source of the memory map)
//! and puts it next to `link.x` in OUT_DIR.

use std::path::PathBuf;

/// Writes `memory.x` (FLASH and RAM from `board.<board>.memory` in
/// `qemu/boards.toml`) and copies the board's `link.x` into OUT_DIR.
///
/// Panics, failing the build with the file and field named, when the table is
/// missing or malformed.
pub fn generate(board: &str) {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let boards = manifest.join("../../qemu/boards.toml");
    println!("cargo:rerun-if-changed={}", boards.display());
    println!("cargo:rerun-if-changed=link.x");
    let text = std::fs::read_to_string(&boards)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", boards.display()));
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{} is not valid TOML: {e}", boards.display()));
    let region = |name: &str| -> (i64, i64) {
        let r = table
            .get("board")
            .and_then(|b| b.get(board))
            .and_then(|b| b.get("memory"))
            .and_then(|m| m.get(name))
            .unwrap_or_else(|| panic!("{}: no board.{board}.memory.{name}", boards.display()));
        let field = |f: &str| {
            r.get(f)
                .and_then(toml::Value::as_integer)
                .unwrap_or_else(|| {
                    panic!(
                        "{}: board.{board}.memory.{name}.{f} is not an integer",
                        boards.display()
                    )
                })
        };
        (field("origin"), field("length"))
    };
    let (flash, ram) = (region("flash"), region("ram"));
    let memory = format!(
        "/* Generated from qemu/boards.toml by build.rs; do not edit. */\nMEMORY\n{{\n  FLASH : ORIGIN = {:#x}, LENGTH = {:#x}\n  RAM : ORIGIN = {:#x}, LENGTH = {:#x}\n}}\n",
        flash.0, flash.1, ram.0, ram.1
    );
    std::fs::write(out.join("memory.x"), memory).expect("write memory.x");
    std::fs::copy(manifest.join("link.x"), out.join("link.x")).expect("copy link.x");
    println!("cargo:rustc-link-search={}", out.display());
}
