use std::path::{Path, PathBuf};

use super::*;

fn checked_in_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../qemu/boards.toml")
}

fn checked_in() -> Boards {
    Boards::from_file(&checked_in_path()).expect("qemu/boards.toml is valid")
}

/// A one-board file with `extra` appended to its table.
fn one_board(memory: &str, extra: &str) -> String {
    format!(
        "[board.b]\nalias = \"a\"\ntarget = \"t\"\nqemu = \"q\"\nargs = []\n{extra}\
         [board.b.memory]\n{memory}\n"
    )
}

const MEMORY: &str =
    "flash = { origin = 0, length = 0x1000 }\nram = { origin = 0x2000_0000, length = 0x400 }";

#[test]
fn the_checked_in_boards_have_their_memory_maps() {
    let boards = checked_in();
    let names: Vec<&str> = boards.all().iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["lm3s6965evb", "sifive_e"]);
    let lm3s = boards.get("lm3s6965evb").unwrap();
    assert_eq!(lm3s.target, "thumbv7m-none-eabi");
    assert_eq!(
        lm3s.memory,
        Memory {
            flash: Region {
                origin: 0,
                length: 0x4_0000
            },
            ram: Region {
                origin: 0x2000_0000,
                length: 0x1_0000
            },
        }
    );
    let fe310 = boards.get("sifive_e").unwrap();
    assert_eq!(fe310.memory.flash.origin, 0x2001_0000);
    assert_eq!(fe310.memory.ram.end(), 0x8000_4000);
}

#[test]
fn memory_x_defines_flash_and_ram() {
    let boards = checked_in();
    let text = boards.get("sifive_e").unwrap().memory.memory_x("sifive_e");
    assert_eq!(
        text,
        "/* Generated from qemu/boards.toml (board.sifive_e.memory); do not edit. */\n\
         MEMORY\n{\n  FLASH : ORIGIN = 0x20010000, LENGTH = 0x3f0000\n  \
         RAM : ORIGIN = 0x80000000, LENGTH = 0x4000\n}\n"
    );
}

#[test]
fn a_misspelt_field_is_named_with_its_line() {
    let err = Boards::parse(&one_board(MEMORY, "memroy = 1\n")).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Toml(_)));
    let msg = err.to_string();
    assert!(msg.contains("line 6") && msg.contains("memroy"), "{msg}");
}

#[test]
fn a_missing_field_is_named() {
    let text = one_board("flash = { origin = 0, length = 0x1000 }", "");
    let msg = Boards::parse(&text).unwrap_err().to_string();
    assert!(msg.contains("ram"), "{msg}");
}

#[test]
fn a_region_past_4_gib_or_empty_is_refused_with_board_and_region() {
    for memory in [
        "flash = { origin = 0, length = 0x1000 }\nram = { origin = 0xFFFF_FF00, length = 0x200 }",
        "flash = { origin = 0, length = 0x1000 }\nram = { origin = 0x2000_0000, length = 0 }",
    ] {
        let msg = Boards::parse(&one_board(memory, ""))
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "board.b.memory.ram: empty or not inside a 32-bit address space"
        );
    }
}

#[test]
fn two_boards_with_one_alias_are_refused() {
    let text = format!(
        "{}{}",
        one_board(MEMORY, ""),
        one_board(MEMORY, "").replace("board.b", "board.c")
    );
    let msg = Boards::parse(&text).unwrap_err().to_string();
    assert!(
        msg.contains("alias `a`") && msg.contains("board.b") && msg.contains("board.c"),
        "{msg}"
    );
}

#[test]
fn a_file_without_boards_is_refused() {
    let err = Boards::parse("board = {}\n").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NoBoards), "{err}");
}

#[test]
fn an_unknown_board_lists_the_known_ones() {
    let msg = checked_in().get("virt").unwrap_err().to_string();
    assert_eq!(
        msg,
        "no [board.virt] table; the boards are: lm3s6965evb, sifive_e"
    );
}

#[test]
fn errors_from_a_file_name_it() {
    let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("no-such-boards.toml");
    let err = Boards::from_file(&missing).unwrap_err();
    assert_eq!(err.file(), Some(missing.as_path()));
    assert!(
        err.to_string()
            .starts_with(&format!("{}: cannot read", missing.display()))
    );
    assert_eq!(format!("{err:?}"), err.to_string());
}

#[test]
fn the_board_facade_has_one_feature_per_board_table() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../board/Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(&manifest).unwrap().parse().unwrap();
    let features: Vec<&String> = manifest["features"].as_table().unwrap().keys().collect();
    let boards = checked_in();
    let boards: Vec<&String> = boards.all().iter().map(|b| &b.name).collect();
    assert_eq!(features, boards, "firmware/board/Cargo.toml [features]");
}
