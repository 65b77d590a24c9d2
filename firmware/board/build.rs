//! Checks the board selected by feature against `qemu/boards.toml`: its
//! firmware must be built for the board's target.

fn main() -> Result<(), board_map::Error> {
    board_map::build_script::check_selected()
}
