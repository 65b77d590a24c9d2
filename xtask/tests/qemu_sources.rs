//! Where test images come from, on the workspace's own firmware and real
//! QEMU: manifests mixing `package`, `manifest_path` and `elf`; same-named
//! binaries of two packages; an Arm-only project and `--target riscv`; a
//! manifest of prebuilt ELFs and a bundle, sharded, run with a `cargo` that
//! answers nothing but `cargo metadata`, and merged. Each test prints
//! "skipped: …" and returns when QEMU is not installed.
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every board of qemu/boards.toml.
const BOARDS: [&str; 4] = ["lm3s6965evb", "mps2-an385", "sifive_e", "virt"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `cargo xtask <args>` in the workspace root.
fn xtask(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(root()).args(args).env("NO_COLOR", "1");
    cmd
}

fn run(cmd: &mut Command) -> (bool, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("xtask starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.success(), text)
}

/// A scratch folder, or `None` (after saying why) when a QEMU system
/// emulator is not on `PATH`.
fn scratch_with_qemu() -> Option<tempfile::TempDir> {
    let missing: Vec<&str> = ["qemu-system-arm", "qemu-system-riscv32"]
        .into_iter()
        .filter(|q| which::which(q).is_err())
        .collect();
    if !missing.is_empty() {
        eprintln!("skipped: {} not installed", missing.join(", "));
        return None;
    }
    Some(tempfile::tempdir().expect("a scratch folder"))
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 scratch path")
}

/// The JSON report at `path`: case id → (status, ELF).
fn cases(path: &Path) -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
            (s("id"), (s("status"), s("elf")))
        })
        .collect()
}

/// `cargo xtask qemu --build-only` of the checked-in manifest's `tests`:
/// case id → ELF path, as it prints them.
fn built(tests: &[&str]) -> BTreeMap<String, PathBuf> {
    let mut args = vec!["qemu", "--build-only"];
    for t in tests {
        args.extend(["--test", t]);
    }
    let o = xtask(&args).output().expect("xtask starts");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(id, elf)| (id.to_owned(), PathBuf::from(elf)))
        .collect()
}

/// A `cargo` that runs the real one for `cargo metadata` only, logs every
/// call to `<dir>/cargo.log`, and fails on anything else.
fn metadata_only_cargo(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    let log = dir.join("cargo.log");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{log}'\nif [ \"$1\" = metadata ]; then exec '{real}' \"$@\"; fi\necho \"cargo $1: refused, only metadata is allowed\" >&2\nexit 101\n",
        log = log.display(),
        real = env!("CARGO"),
    );
    let cargo = bin.join("cargo");
    write(&cargo, &script);
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    (cargo, log)
}

/// `cmd` with the metadata-only cargo first on `PATH` and as `$CARGO`.
fn without_cargo_builds<'a>(cmd: &'a mut Command, cargo: &Path) -> &'a mut Command {
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(cargo.parent().unwrap().to_owned()).chain(std::env::split_paths(&dirs)),
    )
    .unwrap();
    cmd.env("PATH", path).env("CARGO", cargo)
}

fn assert_only_metadata(log: &Path) {
    let calls = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        calls.lines().all(|l| l.starts_with("metadata")),
        "cargo was asked for more than metadata:\n{calls}"
    );
}

#[test]
fn a_manifest_mixing_package_manifest_path_and_elf_passes() {
    let Some(s) = scratch_with_qemu() else {
        return;
    };
    let sched = &built(&["sched"])["lm3s6965evb/sched"];
    let prebuilt = s.path().join("prebuilt/sched.elf");
    std::fs::create_dir_all(prebuilt.parent().unwrap()).unwrap();
    std::fs::copy(sched, &prebuilt).unwrap();
    let root = root();
    let manifest = s.path().join("tests.toml");
    write(
        &manifest,
        &format!(
            r#"
[[test]]
name = "sched"
package = "fw-tests"
expected = "{expected}/sched.txt"

# A bin named like fw-tests' `sched`, in another package.
[[test]]
name = "fixture_sched"
package = "fw-fixtures"
bin = "sched"
expect_regex = ["^sched of fw-fixtures, not of fw-tests$", "^PASS sched$"]

[[test]]
name = "outside"
manifest_path = "{external}/Cargo.toml"
bin = "hello-cortex-m"
boards = ["lm3s6965evb"]
expected = "{expected}/hello-cortex-m.txt"

[[test]]
name = "prebuilt"
elf = "prebuilt/sched.elf"
expected = "{expected}/sched.txt"
"#,
            expected = path(&root.join("qemu/expected")),
            external = path(&root.join("firmware/external/hello-cortex-m")),
        ),
    );
    let json = s.path().join("r.json");
    let (ok, out) = run(&mut xtask(&[
        "qemu",
        "--manifest",
        path(&manifest),
        "--json",
        path(&json),
    ]));
    assert!(ok, "{out}");
    let report = cases(&json);
    // An `elf` without `boards` runs where `--elf` would run it.
    let (ok, single) = run(&mut xtask(&["qemu", "--elf", path(&prebuilt)]));
    assert!(ok, "{single}");
    let elf_board = BOARDS
        .into_iter()
        .find(|b| single.contains(&format!("passed on {b}")))
        .unwrap_or_else(|| panic!("no board in:\n{single}"));
    let ids: BTreeSet<&str> = report.keys().map(String::as_str).collect();
    let want: BTreeSet<String> = BOARDS
        .iter()
        .flat_map(|b| [format!("{b}/sched"), format!("{b}/fixture_sched")])
        .chain(["lm3s6965evb/outside".to_string()])
        .chain([format!("{elf_board}/prebuilt")])
        .collect();
    assert_eq!(ids, want.iter().map(String::as_str).collect(), "{out}");
    assert!(
        report.values().all(|(status, _)| status == "passed"),
        "{report:?}"
    );
    // Same-named binaries of two packages: two files, each its own verdict.
    for board in BOARDS {
        let ours = &report[&format!("{board}/sched")].1;
        let twin = &report[&format!("{board}/fixture_sched")].1;
        assert_ne!(ours, twin);
        assert!(
            ours.contains("/fw-tests/") && twin.contains("/fw-fixtures/"),
            "{ours} {twin}"
        );
    }
}

#[test]
fn an_arm_only_project_does_not_break_target_riscv() {
    let Some(s) = scratch_with_qemu() else {
        return;
    };
    let external = root().join("firmware/external/hello-cortex-m/Cargo.toml");
    let manifest = |boards: &str| {
        format!(
            "[[test]]\nname = \"sched\"\npackage = \"fw-tests\"\nexpect_regex = [\"^PASS sched$\"]\n\n\
             [[test]]\nname = \"hello-cortex-m\"\nmanifest_path = \"{}\"\n{boards}expect_regex = [\"^hello from cortex-m-rt$\"]\n",
            path(&external)
        )
    };
    let arm_only = s.path().join("arm-only.toml");
    write(&arm_only, &manifest("boards = [\"lm3s6965evb\"]\n"));
    let json = s.path().join("r.json");
    let (ok, out) = run(&mut xtask(&[
        "qemu",
        "--target",
        "riscv",
        "--manifest",
        path(&arm_only),
        "--json",
        path(&json),
    ]));
    assert!(ok, "{out}");
    assert_eq!(
        cases(&json).keys().collect::<Vec<_>>(),
        ["sifive_e/sched", "virt/sched"],
        "{out}"
    );
    // The project is Arm-only indeed: asked to, cargo cannot build it for RISC-V.
    let everywhere = s.path().join("everywhere.toml");
    write(&everywhere, &manifest(""));
    let (ok, out) = run(&mut xtask(&[
        "qemu",
        "--target",
        "riscv",
        "--build-only",
        "--manifest",
        path(&everywhere),
    ]));
    assert!(!ok, "{out}");
    assert!(
        out.contains("cargo build of `hello-cortex-m` for sifive_e"),
        "{out}"
    );
}

/// The first ```toml block after `heading` in the README.
fn readme_toml(heading: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading}"))..];
    let block = &section[section.find("```toml\n").unwrap() + 8..];
    block[..block.find("```").unwrap()].to_owned()
}

#[test]
fn the_readme_manifest_of_prebuilt_elfs_runs_without_building() {
    let Some(s) = scratch_with_qemu() else {
        return;
    };
    let elfs = built(&["sched", "hello-cortex-m"]);
    let dir = s.path().join("prebuilt");
    for board in ["lm3s6965evb", "sifive_e"] {
        let to = dir.join(format!("elf/{board}/sched"));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&elfs[&format!("{board}/sched")], to).unwrap();
    }
    std::fs::copy(
        &elfs["lm3s6965evb/hello-cortex-m"],
        dir.join("elf/hello-cortex-m"),
    )
    .unwrap();
    std::fs::copy(
        root().join("qemu/expected/hello-cortex-m.txt"),
        dir.join("hello-cortex-m.txt"),
    )
    .unwrap();
    write(
        &dir.join("tests.toml"),
        &readme_toml("### A manifest of prebuilt ELFs"),
    );
    let (cargo, log) = metadata_only_cargo(s.path());
    let json = s.path().join("r.json");
    let manifest = dir.join("tests.toml");
    let mut cmd = xtask(&["qemu", "--manifest", path(&manifest), "--json", path(&json)]);
    let (ok, out) = run(without_cargo_builds(&mut cmd, &cargo));
    assert!(ok, "{out}");
    assert_only_metadata(&log);
    let report = cases(&json);
    assert_eq!(report.len(), 3, "{report:?}");
    assert!(
        report.values().all(|(status, _)| status == "passed"),
        "{report:?}"
    );
}

#[test]
fn three_shards_of_a_bundle_partition_the_suite_and_merge() {
    let Some(s) = scratch_with_qemu() else {
        return;
    };
    let bundle = s.path().join("bundle");
    let (ok, out) = run(&mut xtask(&[
        "qemu",
        "--build-only",
        "--bundle",
        path(&bundle),
    ]));
    assert!(ok, "{out}");
    let (cargo, log) = metadata_only_cargo(s.path());
    let shell = |args: &[&str]| {
        let mut cmd = xtask(args);
        run(without_cargo_builds(&mut cmd, &cargo))
    };
    let (ok, listed) = shell(&["qemu", "--bundle", path(&bundle), "--list"]);
    assert!(ok, "{listed}");
    let suite: BTreeSet<String> = listed.lines().map(str::to_owned).collect();
    let (_, whole) = run(&mut xtask(&["qemu", "--list"]));
    assert_eq!(
        suite,
        whole.lines().map(str::to_owned).collect(),
        "the bundle holds the suite"
    );
    let mut union = BTreeSet::new();
    for i in 1..=3 {
        let json = s.path().join(format!("shard-{i}/qemu.json"));
        let subset = format!("{i}/3");
        let (ok, out) = shell(&[
            "qemu",
            "--bundle",
            path(&bundle),
            "--subset",
            &subset,
            "--json",
            path(&json),
        ]);
        assert!(ok, "shard {i}:\n{out}");
        for (id, (status, elf)) in cases(&json) {
            assert_eq!(status, "passed", "{id}");
            assert!(elf.starts_with(path(&bundle)), "{id} ran {elf}");
            assert!(union.insert(id.clone()), "{id} is in two shards");
        }
    }
    assert_eq!(union, suite, "the shards partition the suite");
    // A shard past the end of the suite tests nothing: a failure, unless
    // the runner says that is fine.
    let past = format!("{0}/{0}", suite.len() + 1);
    let (ok, out) = shell(&["qemu", "--bundle", path(&bundle), "--subset", &past]);
    assert!(!ok && out.contains("no test selected"), "{out}");
    let (ok, out) = shell(&[
        "qemu",
        "--bundle",
        path(&bundle),
        "--subset",
        &past,
        "--allow-empty",
    ]);
    assert!(ok, "{out}");
    assert_only_metadata(&log);

    let shards: Vec<PathBuf> = (1..=3)
        .map(|i| s.path().join(format!("shard-{i}")))
        .collect();
    let merged = s.path().join("merged");
    let mut args = vec!["ci", "report", "--out", path(&merged), "--merge"];
    args.extend(shards.iter().map(|p| path(p)));
    let (ok, out) = run(&mut xtask(&args));
    assert!(ok, "{out}");
    assert_eq!(
        cases(&merged.join("qemu.json"))
            .into_keys()
            .collect::<BTreeSet<_>>(),
        suite
    );
    let md = std::fs::read_to_string(merged.join("summary.md")).unwrap();
    assert!(
        md.contains(&format!("✅ passed: {} tests from 3 reports", suite.len())),
        "{md}"
    );
    let junit = std::fs::read_to_string(merged.join("qemu-junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), suite.len(), "{junit}");
    let (ok, out) = run(&mut xtask(&[
        "ci",
        "report",
        "--out",
        path(&merged),
        "--merge",
        path(&shards[0]),
        path(&shards[2]),
    ]));
    assert!(!ok && out.contains("shard 2/3 missing"), "{out}");

    // A changed file is named, and nothing runs.
    let elf = bundle.join("elf/sifive_e/sched.elf");
    let mut bytes = std::fs::read(&elf).unwrap();
    bytes[200] ^= 0xff;
    std::fs::write(&elf, bytes).unwrap();
    let (ok, out) = shell(&["qemu", "--bundle", path(&bundle), "--subset", "1/3"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("elf/sifive_e/sched.elf does not match its SHA-256"),
        "{out}"
    );
}
