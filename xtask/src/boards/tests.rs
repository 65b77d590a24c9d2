use super::*;

fn checked_in() -> Boards {
    Boards::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu/boards.toml"))
        .expect("qemu/boards.toml parses")
}

fn target(s: &str) -> BoardArgs {
    BoardArgs {
        target: Some(s.parse().unwrap()),
        board: Vec::new(),
    }
}

fn picked(boards: &Boards, args: &BoardArgs) -> Vec<String> {
    boards
        .select(args)
        .unwrap()
        .iter()
        .map(|b| b.name.clone())
        .collect()
}

#[test]
fn selects_by_architecture_triple_and_board() {
    let boards = checked_in();
    for arm in ["arm", "thumbv7m-none-eabi"] {
        assert_eq!(picked(&boards, &target(arm)), ["lm3s6965evb", "mps2-an385"]);
    }
    assert_eq!(picked(&boards, &target("riscv")), ["sifive_e", "virt"]);
    assert_eq!(picked(&boards, &target("lm3s6965evb")), ["lm3s6965evb"]);
    assert_eq!(picked(&boards, &target("all")).len(), 4);
    assert_eq!(picked(&boards, &BoardArgs::default()).len(), 4);
    let two = BoardArgs::named(&["virt", "lm3s6965evb", "virt"]);
    assert_eq!(picked(&boards, &two), ["lm3s6965evb", "virt"]);
    let both = BoardArgs {
        board: vec!["virt".into()],
        ..target("arm")
    };
    assert_eq!(
        picked(&boards, &both),
        ["lm3s6965evb", "mps2-an385", "virt"]
    );
    assert!("".parse::<Selector>().is_err());
}

#[test]
fn unknown_targets_and_boards_list_valid_ones() {
    let boards = checked_in();
    let err = boards.select(&target("mips")).unwrap_err().to_string();
    assert!(
        err.contains("mips")
            && err.contains("riscv32imac-unknown-none-elf")
            && err.contains("arm, riscv"),
        "{err}"
    );
    let err = boards
        .select(&BoardArgs::named(&["qemu-virt"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown board `qemu-virt`") && err.contains("mps2-an385, sifive_e, virt"),
        "{err}"
    );
}

#[test]
fn qemu_args_carry_the_board_s_icount_shift() {
    let boards = checked_in();
    let virt = boards.get("virt").unwrap();
    let args = virt.qemu_args();
    assert_eq!(&args[args.len() - 2..], ["-icount", "shift=3,sleep=off"]);
    assert!(args.starts_with(&["-machine".to_string(), "virt".into(), "-bios".into()]));
    assert_eq!(virt.ns_per_instruction(), 8);
    assert!(
        !virt
            .without_icount()
            .qemu_args()
            .contains(&"-icount".into())
    );
    assert_eq!(virt.qemu_exe(), Path::new("qemu-system-riscv32"));
    let dir = std::env::temp_dir();
    let moved = checked_in().with_qemu_dir(&dir).unwrap();
    assert_eq!(
        moved.get("virt").unwrap().qemu_exe(),
        dir.join("qemu-system-riscv32")
    );
    assert!(
        checked_in()
            .with_qemu_dir(&dir.join("no-such-dir"))
            .is_err()
    );
}

#[test]
fn memory_map_regions() {
    let boards = checked_in();
    let map = boards.get("sifive_e").unwrap().memory_map();
    assert_eq!(map.region_of(0x8000_0000), Some(Region::Ram));
    assert_eq!(map.region_of(0x2001_0000), Some(Region::Flash));
    assert_eq!(map.region_of(0), None);
    assert!(!map.flash.contains(u64::MAX, 2), "no overflow");
}

#[test]
fn defaults_come_from_the_file() {
    let boards = checked_in();
    assert_eq!(boards.default_of(Arch::Arm).unwrap().name, "lm3s6965evb");
    assert_eq!(boards.default_of(Arch::Riscv).unwrap().name, "sifive_e");
    assert_eq!(boards.get("virt").unwrap().machine(), Machine::RiscV);
}
