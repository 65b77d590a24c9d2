//! `cargo xtask size-check --elf` on ELFs made by the test: the accounting
//! rules, board detection, budgets, thresholds, baselines and reports.

mod size_common;

use size_common::*;

fn arm_image(name: &str, main_size: u32) -> std::path::PathBuf {
    scratch(
        "size_check",
        name,
        &firmware_like(EM_ARM, ARM_FLASH, ARM_RAM, main_size).build(),
    )
}

/// An empty folder `name` beside `file`.
fn fresh_dir_beside(file: &std::path::Path, name: &str) -> std::path::PathBuf {
    let dir = file.parent().unwrap().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn accounts_flash_ram_and_sections_from_pt_load() {
    let elf = arm_image("account-arm.elf", 0x200);
    let o = size_check(&["--elf", elf.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let j = json(&o);
    assert_eq!(j["image"], "lm3s6965evb/account-arm.elf");
    assert_eq!(j["board"], "lm3s6965evb");
    assert_eq!(j["machine"], "EM_ARM");
    assert_eq!(j["flash_bytes"], FW_FLASH);
    assert_eq!(j["ram_bytes"], FW_RAM);
    // `.data` counts in both: its load copy in flash, its run-time copy in RAM.
    let data_seg = &j["segments"][2];
    assert_eq!(
        (data_seg["flash"].as_u64(), data_seg["ram"].as_u64()),
        (Some(0x20), Some(0x20))
    );
    let s = &j["sections"];
    assert_eq!(s["text"], 0x3c0);
    assert_eq!(s["rodata"], 0x40 + 0x100);
    assert_eq!(s["data"], 0x20);
    assert_eq!(s["bss"], 0x100);
    assert_eq!(s["reserved"], 0x800);
    assert_eq!(j["regions"]["ram"]["length"], 0x1_0000);
    assert_eq!(j["regions"]["flash"]["used"], FW_FLASH);
}

#[test]
fn board_comes_from_e_machine_or_option() {
    let rv = firmware_like(EM_RISCV, RV_FLASH, RV_RAM, 0x200).build();
    let elf = scratch("size_check", "rv.elf", &rv);
    let o = size_check(&["--elf", elf.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let j = json(&o);
    assert_eq!(
        (j["board"].as_str(), j["machine"].as_str()),
        (Some("sifive_e"), Some("EM_RISCV"))
    );
    assert_eq!(
        (j["flash_bytes"].as_u64(), j["ram_bytes"].as_u64()),
        (Some(FW_FLASH), Some(FW_RAM))
    );

    let o = size_check(&["--elf", elf.to_str().unwrap(), "--board", "riscv", "--json"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = size_check(&["--elf", elf.to_str().unwrap(), "--target", "arm"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("EM_RISCV") && err.contains("lm3s6965evb"),
        "{err}"
    );
}

#[test]
fn segment_outside_every_region_is_an_error() {
    // An Arm image linked for RAM at 0x3000_0000: no lm3s6965evb region holds it.
    let spec = firmware_like(EM_ARM, ARM_FLASH, 0x3000_0000, 0x200);
    let elf = scratch("size_check", "foreign-map.elf", &spec.build());
    let o = size_check(&["--elf", elf.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("foreign-map.elf") && err.contains("outside every region"),
        "{err}"
    );
}

/// One flash segment of exactly `bytes`.
fn flash_only(bytes: usize) -> Vec<u8> {
    let mut spec = firmware_like(EM_ARM, ARM_FLASH, ARM_RAM, 0x10);
    spec.segs = vec![Seg {
        vaddr: 0,
        paddr: 0,
        data: vec![0xAA; bytes],
        memsz: bytes as u32,
        flags: 5,
    }];
    spec.secs = vec![Sec {
        name: ".text",
        sh_type: SHT_PROGBITS,
        flags: SHF_ALLOC | SHF_EXECINSTR,
        addr: 0,
        size: bytes as u32,
        seg: Some(0),
    }];
    spec.syms.clear();
    spec.build()
}

#[test]
fn one_byte_over_the_flash_limit_is_reported_exactly() {
    let elf = scratch("size_check", "k8.elf", &flash_only(8193));
    let o = size_check(&["--elf", elf.to_str().unwrap(), "--flash-limit", "8192"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lm3s6965evb/k8.elf: flash 8193 B > limit 8192 B (+1 B, +0.01 %)"),
        "{err}"
    );
    let o = size_check(&["--elf", elf.to_str().unwrap(), "--flash-limit", "8193"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = size_check(&["--elf", elf.to_str().unwrap(), "--flash-limit", "8 KiB"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn ram_limit_in_percent_of_the_region() {
    let elf = arm_image("pct.elf", 0x200);
    // 3 % of 64 KiB = 1966 B < 2336 B.
    let o = size_check(&["--elf", elf.to_str().unwrap(), "--ram-limit", "3%"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ram 2336 B > limit 1966 B (+370 B, +18.82 %)"),
        "{err}"
    );
    let o = size_check(&["--elf", elf.to_str().unwrap(), "--ram-limit", "4%"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = size_check(&["--elf", elf.to_str().unwrap(), "--ram-limit", "3 KB"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "clap rejects the value: {err}");
    assert!(err.contains("unknown unit `KB`"), "{err}");
}

#[test]
fn budgets_file_limits_apply_by_glob() {
    let elf = arm_image("budget.elf", 0x200);
    let budgets = scratch(
        "size_check",
        "budgets.toml",
        b"[[budget]]\nimage = \"lm3s6965evb/*\"\nflash = \"1 KiB\"\n\n[[budget]]\nimage = \"sifive_e/*\"\nflash = 1\n",
    );
    let o = size_check(&[
        "--elf",
        elf.to_str().unwrap(),
        "--budgets",
        budgets.to_str().unwrap(),
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lm3s6965evb/budget.elf: flash 1312 B > limit 1024 B (+288 B, +28.12 %)")
            && err.contains("budget `lm3s6965evb/*` flash = \"1 KiB\""),
        "{err}"
    );
    let bad = scratch(
        "size_check",
        "bad-budgets.toml",
        b"[[budget]]\nimage = \"x\"\nflash = \"8 KB\"\n",
    );
    let o = size_check(&[
        "--elf",
        elf.to_str().unwrap(),
        "--budgets",
        bad.to_str().unwrap(),
    ]);
    let (_, err) = text(&o);
    assert!(
        err.contains("bad-budgets.toml") && err.contains("unknown unit `KB`"),
        "{err}"
    );
}

#[test]
fn growth_over_the_threshold_fails_and_update_baseline_moves_it() {
    let old = arm_image("grow-old.elf", 0x200);
    let dir = fresh_dir_beside(&old, "grow");
    let elf = dir.join("app.elf");
    let baseline = dir.join("baseline.json");
    let (elf_s, base_s) = (elf.to_str().unwrap(), baseline.to_str().unwrap());

    std::fs::copy(&old, &elf).unwrap();
    let o = size_check(&["--elf", elf_s, "--update-baseline"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("needs --baseline FILE"), "{err}");
    let o = size_check(&["--elf", elf_s, "--baseline", base_s, "--update-baseline"]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("+      \"image\": \"lm3s6965evb/app.elf\""),
        "diff printed: {err}"
    );
    let o = size_check(&["--elf", elf_s, "--baseline", base_s, "--update-baseline"]);
    assert!(text(&o).1.contains("is up to date"), "{:?}", text(&o));

    // Grow flash by 12 B: 1312 → 1324 (+0.91 %).
    let mut grown = firmware_like(EM_ARM, ARM_FLASH, ARM_RAM, 0x200);
    grown.segs[0].data.extend([0; 12]);
    grown.segs[0].memsz += 12;
    std::fs::write(&elf, grown.build()).unwrap();
    let o = size_check(&["--elf", elf_s, "--baseline", base_s, "--max-growth", "0.5%"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lm3s6965evb/app.elf: flash 1324 B > limit 1318 B (+6 B, +0.46 %)")
            && err.contains("grew +12 B (+0.91 %) from 1312 B"),
        "{err}"
    );
    let o = size_check(&[
        "--elf",
        elf_s,
        "--baseline",
        base_s,
        "--max-growth",
        "1%",
        "--json",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(json(&o)["deltas"]["flash_bytes"], 12);
    let budgets = dir.join("budgets.toml");
    std::fs::write(&budgets, "max_growth = \"8 B\"\n").unwrap();
    let o = size_check(&[
        "--elf",
        elf_s,
        "--baseline",
        base_s,
        "--budgets",
        budgets.to_str().unwrap(),
    ]);
    let (_, err) = text(&o);
    assert!(
        err.contains("flash 1324 B > limit 1320 B (+4 B, +0.30 %)")
            && err.contains("max growth 8 B"),
        "{err}"
    );

    let o = size_check(&["--elf", elf_s, "--baseline", base_s, "--update-baseline"]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("-      \"flash_bytes\": 1312")
            && err.contains("+      \"flash_bytes\": 1324"),
        "{err}"
    );
    let o = size_check(&["--elf", elf_s, "--baseline", base_s, "--max-growth", "0"]);
    assert!(o.status.success(), "{:?}", text(&o));
}

#[test]
fn compare_to_an_older_elf_gives_symbol_deltas_in_markdown() {
    let old = arm_image("cmp-old.elf", 0x200);
    let new = arm_image("cmp-new.elf", 0x230);
    let md = old.parent().unwrap().join("cmp.md");
    let o = size_check(&[
        "--elf",
        new.to_str().unwrap(),
        "--compare-to",
        old.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let j = json(&o);
    assert_eq!(j["deltas"]["symbols"][0]["name"], "fw_tests::main");
    assert_eq!(j["deltas"]["symbols"][0]["base"], 0x200);
    assert_eq!(j["deltas"]["symbols"][0]["now"], 0x230);
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.contains("| image | region | base | now | Δ bytes | Δ % |"),
        "{md}"
    );
    assert!(
        md.contains("| `lm3s6965evb/cmp-new.elf` | flash | 1312 | 1312 | 0 | 0.00 % |"),
        "{md}"
    );
    assert!(
        md.contains("| `fw_tests::main` | fw_tests | 512 | 560 | +48 |"),
        "{md}"
    );

    // A saved JSON report works as a baseline too.
    let report = scratch("size_check", "cmp-report.jsonl", &o.stdout);
    let o = size_check(&[
        "--elf",
        new.to_str().unwrap(),
        "--compare-to",
        report.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(json(&o)["deltas"]["ram_bytes"], 0);
}

#[test]
fn symbols_are_demangled_grouped_by_crate_and_thumb_bit_cleared() {
    let elf = arm_image("symbols.elf", 0x200);
    let o = size_check(&["--elf", elf.to_str().unwrap(), "--symbols", "3", "--json"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let j = json(&o);
    let syms = j["symbols"].as_array().unwrap();
    assert_eq!(syms.len(), 3);
    assert_eq!(syms[0]["name"], "fw_tests::main");
    assert_eq!(syms[0]["crate"], "fw_tests");
    assert_eq!(syms[0]["addr"], 0x40, "Thumb bit cleared");
    assert_eq!(syms[0]["region"], "flash");
    assert_eq!(syms[1]["name"], "core::fmt::write");
    assert_eq!(syms[2]["name"], "kernel::TASKS");
    assert_eq!(syms[2]["region"], "ram");

    let o = size_check(&["--elf", elf.to_str().unwrap(), "--symbols"]);
    let (out, _) = text(&o);
    assert!(
        out.contains("top 4 symbols") && out.contains("[unmangled]") && out.contains("by crate"),
        "{out}"
    );

    let rv = scratch(
        "size_check",
        "symbols-rv.elf",
        &firmware_like(EM_RISCV, RV_FLASH, RV_RAM, 0x200).build(),
    );
    let o = size_check(&["--elf", rv.to_str().unwrap(), "--symbols", "1", "--json"]);
    assert_eq!(json(&o)["symbols"][0]["addr"], RV_FLASH + 0x40);
}

#[test]
fn table_shows_regions_and_section_split() {
    let elf = arm_image("table.elf", 0x200);
    let o = size_check(&["--elf", elf.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("lm3s6965evb/table.elf") && out.contains("flash") && out.contains("1312"),
        "{out}"
    );
    assert!(out.contains("reserved 2048 (.stack 2048)"), "{out}");
}

/// Runs size-check on `elf` with `args` and returns (exit code, stderr).
fn checked(elf: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let o = size_check(&[&["--elf", elf.to_str().unwrap()], args].concat());
    (o.status.code(), text(&o).1)
}

#[test]
fn checks_that_would_switch_off_silently_are_errors_naming_the_file() {
    let elf = arm_image("silent.elf", 0x200);
    let dir = fresh_dir_beside(&elf, "silent");
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let missing = dir.join("missing.toml").display().to_string();
    let (code, err) = checked(&elf, &["--budgets", &missing]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("budgets file {missing} does not exist")),
        "{err}"
    );

    for (name, text) in [
        ("empty.json", ""),
        ("list.json", "[]"),
        ("images.json", "{\"images\": []}"),
    ] {
        let base = file(name, text);
        let (code, err) = checked(&elf, &["--baseline", &base]);
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(
            err.contains(&base) && err.contains("lists no image"),
            "{name}: {err}"
        );
    }
    let gone = dir.join("gone.json").display().to_string();
    let (code, err) = checked(&elf, &["--baseline", &gone]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&gone) && err.contains("--no-baseline"),
        "{err}"
    );
    // A deliberate "no baseline" says so.
    let (code, err) = checked(&elf, &["--no-baseline"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _) = checked(&elf, &["--no-baseline", "--baseline", &gone]);
    assert_eq!(code, Some(2), "--no-baseline conflicts with --baseline");

    for (name, text, flag, needles) in [
        (
            "typo.toml",
            "[[budget]]\nimage = \"lm3s6965/*\"\nflash = \"1 KiB\"\n",
            "--budgets",
            ["typo.toml", "budget `lm3s6965/*` matches no image"],
        ),
        (
            "boards.json",
            "{\"images\": [{\"image\": \"mps9/silent.elf\", \"flash_bytes\": 1, \"ram_bytes\": 1}]}",
            "--baseline",
            [
                "silent/boards.json: image `mps9/silent.elf`",
                "board `mps9`, which qemu/boards.toml does not have",
            ],
        ),
        (
            "over.toml",
            "[[budget]]\nimage = \"lm3s6965evb/*\"\nram = \"150 %\"\n",
            "--budgets",
            ["over.toml", "more than the whole region (100 %)"],
        ),
    ] {
        let (code, err) = checked(&elf, &[flag, &file(name, text)]);
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(needles.iter().all(|n| err.contains(n)), "{name}: {err}");
    }
    let (code, err) = checked(&elf, &["--flash-limit", "101%"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--flash-limit") && err.contains("100 %"),
        "{err}"
    );
}
