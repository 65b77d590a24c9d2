//! size-check on the project's own release images: the totals agree with
//! `llvm-size`, the checked-in budgets and baseline pass, the reports are
//! written, and a baseline image missing from the build fails the run.

mod size_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use size_common::*;

/// `llvm-size` on PATH, else the rustup llvm-tools copy.
fn llvm_size() -> Option<PathBuf> {
    if Command::new("llvm-size")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Some(PathBuf::from("llvm-size"));
    }
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let lib = Path::new(String::from_utf8_lossy(&sysroot.stdout).trim()).join("lib/rustlib");
    std::fs::read_dir(lib)
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin/llvm-size"))
        .find(|p| p.is_file())
}

/// Builds the release images and returns their ELF paths.
fn release_images() -> Vec<PathBuf> {
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["build", "--target", "all", "--profile", "release"])
        .output()
        .expect("xtask build runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let images: Vec<PathBuf> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(PathBuf::from)
        .collect();
    assert!(!images.is_empty());
    images
}

/// (text, data, bss) from llvm-size's Berkeley output.
fn berkeley(tool: &Path, elf: &Path) -> (u64, u64, u64) {
    let o = Command::new(tool)
        .arg(elf)
        .output()
        .expect("llvm-size runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let row: Vec<u64> = out
        .lines()
        .nth(1)
        .expect("a row")
        .split_whitespace()
        .take(3)
        .map(|n| n.parse().expect("a number"))
        .collect();
    (row[0], row[1], row[2])
}

#[test]
fn totals_agree_with_llvm_size() {
    let Some(tool) = llvm_size() else {
        println!("skipped: llvm-size not found");
        return;
    };
    for elf in release_images() {
        let o = size_check(&["--elf", elf.to_str().unwrap(), "--json"]);
        assert!(o.status.success(), "{:?}", text(&o));
        let j = json(&o);
        let (text_b, data, bss) = berkeley(&tool, &elf);
        let flash = j["flash_bytes"].as_u64().unwrap();
        let ram = j["ram_bytes"].as_u64().unwrap();
        // Segments may hold alignment padding between sections, nothing more.
        let slack = 8 * j["segments"].as_array().unwrap().len() as u64;
        println!(
            "{}: flash {flash} B vs text+data {} B; ram {ram} B vs data+bss {} B",
            j["image"],
            text_b + data,
            data + bss
        );
        assert!(
            flash >= text_b + data && flash - (text_b + data) <= slack,
            "{}: flash",
            elf.display()
        );
        assert!(
            ram >= data + bss && ram - (data + bss) <= slack,
            "{}: ram",
            elf.display()
        );
        let s = &j["sections"];
        let split = |k: &str| s[k].as_u64().unwrap();
        assert_eq!(split("text") + split("rodata"), text_b, "{}", elf.display());
        assert_eq!(split("data"), data, "{}", elf.display());
        assert_eq!(split("bss") + split("reserved"), bss, "{}", elf.display());
    }
}

fn report_path(stderr: &str, what: &str) -> PathBuf {
    let prefix = format!("size-check: {what} report in ");
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {what} report line in {stderr}"));
    PathBuf::from(line)
}

#[test]
fn workspace_images_pass_checked_in_budgets_and_baseline() {
    let o = size_check(&[]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("lm3s6965evb/fw-tests/sched") && out.contains("sifive_e/fw-tests/sched"),
        "{out}"
    );
    let md = report_path(&err, "Markdown");
    assert!(md.ends_with("reports/size.md"), "{}", md.display());
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains("| `lm3s6965evb/fw-tests/sched` | flash |"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_path(&err, "JSON")).unwrap()).unwrap();
    let images = json["images"].as_array().unwrap();
    // Images in the checked-in baseline are compared with it; new ones are not.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let baseline = std::fs::read_to_string(root.join("qemu/size-baseline.json")).unwrap();
    for i in images {
        let listed = baseline.contains(&format!("\"{}\"", i["image"].as_str().unwrap()));
        assert_eq!(
            i["deltas"]["baseline"] == "qemu/size-baseline.json",
            listed,
            "{i}"
        );
    }
    assert!(baseline.contains("\"lm3s6965evb/fw-tests/sched\""));
    // The firmware goal: test images within 8 KiB (Cortex-M3) and 10 KiB (RV32IMAC) of flash.
    for i in images {
        let limit = if i["board"] == "lm3s6965evb" {
            8192
        } else {
            10240
        };
        assert!(i["flash_bytes"].as_u64().unwrap() <= limit, "{i}");
    }
}

#[test]
fn baseline_image_missing_from_the_build_fails() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text_in = std::fs::read_to_string(root.join("qemu/size-baseline.json")).unwrap();
    let mut base: serde_json::Value = serde_json::from_str(&text_in).unwrap();
    base["images"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "image": "lm3s6965evb/fw-tests/retired", "flash_bytes": 100, "ram_bytes": 10
        }));
    let path = scratch(
        "size_firmware",
        "baseline.json",
        base.to_string().as_bytes(),
    );
    let md = path.with_file_name("missing.md");
    let o = size_check(&[
        "--target",
        "arm",
        "--baseline",
        path.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lm3s6965evb/fw-tests/retired: in ")
            && err.contains("but missing from the build"),
        "{err}"
    );
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains("❌ 1 size check(s) failed") && md.contains("retired"),
        "{md}"
    );
}

/// Stack peaks come from a suite report of the very same ELFs, with their
/// delta against the baseline; a report of another build is never shown.
#[test]
fn stack_peaks_of_the_same_build_show_with_their_delta() {
    let qemu = Command::new("qemu-system-arm").arg("--version").output();
    if !qemu.is_ok_and(|o| o.status.success()) {
        println!("skipped: qemu-system-arm not installed (cargo xtask setup)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let suite = scratch("size_firmware", "qemu.json", b"");
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["qemu", "--target", "arm", "--test", "sched", "--json"])
        .arg(&suite)
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
    let ran: serde_json::Value = serde_json::from_slice(&std::fs::read(&suite).unwrap()).unwrap();
    let peaks = ran["tests"][0]["stack"].clone();
    assert_eq!(peaks.as_array().map(Vec::len), Some(5), "{ran}");
    let monitor = peaks[0]["peak_bytes"].as_i64().unwrap();

    // A baseline whose sched peaked 8 bytes lower.
    let text_in = std::fs::read_to_string(root.join("qemu/size-baseline.json")).unwrap();
    let mut base: serde_json::Value = serde_json::from_str(&text_in).unwrap();
    let sched = base["images"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["image"] == "lm3s6965evb/fw-tests/sched")
        .unwrap();
    sched["stack"] = peaks.clone();
    sched["stack"][0]["peak_bytes"] = (monitor - 8).into();
    let base_path = suite.with_file_name("stack-baseline.json");
    std::fs::write(&base_path, base.to_string()).unwrap();
    let md = suite.with_file_name("stack.md");
    let check = |report: &Path| {
        let o = size_check(&[
            "--target",
            "arm",
            "--json",
            "--qemu-report",
            report.to_str().unwrap(),
            "--baseline",
            base_path.to_str().unwrap(),
            "--markdown",
            md.to_str().unwrap(),
        ]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}\n{err}");
        let sched: serde_json::Value = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|i| i["image"] == "lm3s6965evb/fw-tests/sched")
            .unwrap();
        (sched, std::fs::read_to_string(&md).unwrap())
    };
    let (sched, table) = check(&suite);
    assert_eq!(sched["stack"], peaks, "{sched}");
    assert_eq!(sched["deltas"]["stack_peak_bytes"], 8, "{sched}");
    assert!(
        sched["stack_source"]
            .as_str()
            .unwrap()
            .contains("qemu.json (commit ")
    );
    let row = format!("| `lm3s6965evb/fw-tests/sched` | monitor | {monitor} | 1024 |");
    assert!(table.contains(&row) && table.contains(" | +8 |"), "{table}");
    assert!(table.contains("Not measured") && table.contains("`lm3s6965evb/fw-fixtures/pass`"));

    // The same report claiming another ELF: sched is no longer measured.
    let mut stale = ran.clone();
    stale["tests"][0]["elf_sha256"] = "0".repeat(64).into();
    let stale_path = suite.with_file_name("stale.json");
    std::fs::write(&stale_path, stale.to_string()).unwrap();
    let (sched, table) = check(&stale_path);
    assert!(sched.get("stack_source").is_none() && sched["stack"] == serde_json::json!([]));
    assert!(table.contains("ran none of these ELFs"), "{table}");
}
