//! Generates this board's `memory.x` from `qemu/boards.toml`.

fn main() -> Result<(), board_map::Error> {
    board_map::build_script::emit("virt")
}
