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
        "[board.b]\ntarget = \"thumbv7m-none-eabi\"\ndefault = true\nqemu = \"q\"\nargs = []\n\
         icount_shift = 4\n{extra}[board.b.memory]\n{memory}\n"
    )
}

const MEMORY: &str =
    "flash = { origin = 0, length = 0x1000 }\nram = { origin = 0x2000_0000, length = 0x400 }";

#[test]
fn the_checked_in_boards_have_their_memory_maps() {
    let boards = checked_in();
    let names: Vec<&str> = boards.all().iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["lm3s6965evb", "mps2-an385", "sifive_e", "virt"]);
    let lm3s = boards.get("lm3s6965evb").unwrap();
    assert_eq!(lm3s.target, "thumbv7m-none-eabi");
    assert_eq!(
        lm3s.memory,
        MemoryMap {
            flash: Span {
                origin: 0,
                length: 0x4_0000
            },
            ram: Span {
                origin: 0x2000_0000,
                length: 0x1_0000
            },
        }
    );
    let fe310 = boards.get("sifive_e").unwrap();
    assert_eq!(fe310.memory.flash.origin, 0x2001_0000);
    assert_eq!(fe310.memory.ram.end(), 0x8000_4000);
    // hw/arm/mps2.c (AN385) and hw/riscv/virt.c.
    let mps2 = boards.get("mps2-an385").unwrap();
    assert_eq!(
        (mps2.memory.flash.origin, mps2.memory.ram.origin),
        (0, 0x2000_0000)
    );
    assert_eq!(boards.get("virt").unwrap().memory.flash.origin, 0x8000_0000);
}

#[test]
fn architectures_come_from_the_triples_with_one_default_each() {
    let boards = checked_in();
    let arch = |n: &str| boards.get(n).unwrap().arch;
    assert_eq!(arch("lm3s6965evb"), Arch::Arm);
    assert_eq!(arch("mps2-an385"), Arch::Arm);
    assert_eq!(arch("sifive_e"), Arch::Riscv);
    assert_eq!(arch("virt"), Arch::Riscv);
    assert_eq!(boards.default_of(Arch::Arm).unwrap().name, "lm3s6965evb");
    assert_eq!(boards.default_of(Arch::Riscv).unwrap().name, "sifive_e");
    assert_eq!(Arch::from_name("riscv"), Some(Arch::Riscv));
    assert_eq!(Arch::of_triple("x86_64-unknown-linux-gnu"), None);
}

#[test]
fn icount_and_minimum_qemu_are_typed() {
    let boards = checked_in();
    let shifts: Vec<u8> = boards.all().iter().map(|b| b.icount_shift).collect();
    assert_eq!(shifts, [4, 5, 3, 3]);
    let min = boards.get("sifive_e").unwrap().min_qemu.as_ref().unwrap();
    assert_eq!(min.version, "8.2.0".parse().unwrap());
    assert!(min.reason.contains("a7472560ca5f"), "{}", min.reason);
    assert!(boards.get("virt").unwrap().min_qemu.is_none());
    let text = one_board(MEMORY, "min_qemu = { version = \"8.2\", reason = \"r\" }\n");
    let msg = Boards::parse(&text).unwrap_err().to_string();
    assert!(
        msg.contains("line 7") && msg.contains("MAJOR.MINOR.PATCH"),
        "{msg}"
    );
}

#[test]
fn a_second_default_or_none_is_refused_naming_the_boards() {
    let two = format!(
        "{}{}",
        one_board(MEMORY, ""),
        one_board(MEMORY, "").replace("board.b", "board.c")
    );
    let msg = Boards::parse(&two).unwrap_err().to_string();
    assert_eq!(
        msg,
        "board.b, board.c all have `default = true`; exactly one arm board may"
    );
    let none = one_board(MEMORY, "").replace("default = true\n", "");
    let msg = Boards::parse(&none).unwrap_err().to_string();
    assert_eq!(
        msg,
        "no arm board has `default = true`; mark exactly one of board.b"
    );
}

#[test]
fn bad_fields_are_named_with_their_board() {
    for (from, to, want) in [
        (
            "thumbv7m-none-eabi",
            "mips-unknown-none",
            "board.b.target: `mips-unknown-none` is of no known architecture",
        ),
        (
            "icount_shift = 4",
            "icount_shift = 11",
            "board.b.icount_shift: 11 is above QEMU's largest shift, 10",
        ),
        (
            "args = []",
            "args = [\"-icount\", \"shift=0\"]",
            "board.b.args: `-icount` is added by the runner",
        ),
    ] {
        let text = one_board(MEMORY, "").replace(from, to);
        let msg = Boards::parse(&text).unwrap_err().to_string();
        assert!(msg.starts_with(want), "{msg}");
    }
}

#[test]
fn memory_x_defines_flash_and_ram() {
    let boards = checked_in();
    let text = boards.get("sifive_e").unwrap().memory.memory_x("sifive_e");
    assert_eq!(
        text,
        "/* Generated from qemu/boards.toml (board.sifive_e.memory); do not edit. */\n\
         MEMORY\n{\n  FLASH : ORIGIN = 0x20010000, LENGTH = 0x3f0000\n  \
         RAM : ORIGIN = 0x80000000, LENGTH = 0x4000\n}\n\
         /* The board this image is built for: \"sifive_e\". */\n\
         SECTIONS\n{\n  .qemu_board 0 (INFO) : { BYTE(0x73) BYTE(0x69) BYTE(0x66) BYTE(0x69) \
         BYTE(0x76) BYTE(0x65) BYTE(0x5f) BYTE(0x65) }\n}\n"
    );
}

#[test]
fn a_misspelt_field_is_named_with_its_line() {
    let err = Boards::parse(&one_board(MEMORY, "memroy = 1\n")).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Toml(_)));
    let msg = err.to_string();
    assert!(msg.contains("line 7") && msg.contains("memroy"), "{msg}");
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
fn a_file_without_boards_is_refused() {
    let err = Boards::parse("board = {}\n").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NoBoards), "{err}");
}

#[test]
fn an_unknown_board_lists_the_known_ones() {
    let msg = checked_in().get("qemu-virt").unwrap_err().to_string();
    assert_eq!(
        msg,
        "no [board.qemu-virt] table; the boards are: lm3s6965evb, mps2-an385, sifive_e, virt"
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
