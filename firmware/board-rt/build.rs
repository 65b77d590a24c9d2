//! Puts this architecture's link script (`link/<arch>.x`) into `OUT_DIR`
//! as `link.x`, where `-Tlink.x` finds it.

fn main() -> Result<(), board_map::Error> {
    board_map::build_script::emit_link_script()
}
