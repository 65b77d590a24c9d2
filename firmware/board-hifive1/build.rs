//! Generates this board's `memory.x` from `qemu/boards.toml`.

#[path = "../board/memory_x.rs"]
mod memory_x;

fn main() {
    println!("cargo:rerun-if-changed=../board/memory_x.rs");
    memory_x::generate("sifive_e");
}
