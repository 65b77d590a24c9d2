//! `cargo xtask release` on the workspace's real firmware: archives that
//! `sha256sum` and `--verify` accept, that `--verify` rejects once tampered
//! with, signatures, notes and tags, no host path in the images, and no
//! file under its final name after a `kill -9`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

mod archive_common;
use archive_common::members;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lies in the workspace")
        .to_path_buf()
}

/// A fresh, empty folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("release-tests")
        .join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove old scratch folder");
    }
    std::fs::create_dir_all(&dir).expect("create scratch folder");
    dir
}

/// `cargo xtask <args>` run from `cwd`, with the default epoch.
fn xtask(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(cwd)
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH");
    cmd
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("xtask runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `--verify` on `dir` and returns its stderr, asserting it failed.
fn verify_fails(dir: &Path) -> String {
    let out = xtask(&root(), &["release", "--verify"])
        .arg(dir)
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "--verify accepted a bad release:\n{stderr}"
    );
    stderr
}

/// One release of this workspace, built once per test binary.
fn shared_release() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch("shared").join("dist");
        run_ok(xtask(&root(), &["release", "--out"]).arg(&dir));
        dir
    })
}

/// A private copy of the shared release.
fn copy_of_release(name: &str) -> PathBuf {
    let dir = scratch(name).join("dist");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(shared_release()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    dir
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn dist_manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("dist-manifest.json")).unwrap()).unwrap()
}

fn archives(dir: &Path) -> Vec<String> {
    dist_manifest(dir)["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "archive")
        .map(|a| a["path"].as_str().unwrap().to_string())
        .collect()
}

/// Rewrites dist-manifest.json and SHA256SUMS to match the files as they
/// are now, so a tampered archive fails only the check under test.
fn reseal(dir: &Path) {
    let mut manifest = dist_manifest(dir);
    for a in manifest["artifacts"].as_array_mut().unwrap() {
        let bytes = std::fs::read(dir.join(a["path"].as_str().unwrap())).unwrap();
        a["size"] = bytes.len().into();
        a["sha256"] = sha256_hex(&bytes).into();
    }
    std::fs::write(
        dir.join("dist-manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    let mut sums = String::new();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SHA256SUMS")
        .collect();
    names.sort();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        sums.push_str(&format!("{}  {name}\n", sha256_hex(&bytes)));
    }
    std::fs::write(dir.join("SHA256SUMS"), sums).unwrap();
}

fn tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

#[test]
fn release_is_accepted_by_sha256sum_and_verify() {
    let dir = shared_release();
    match tool("sha256sum") {
        Some(sha256sum) => {
            let out = Command::new(sha256sum)
                .args(["-c", "--strict", "SHA256SUMS"])
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "sha256sum -c --strict: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        None => println!("skipped: sha256sum -c (coreutils sha256sum not on PATH)"),
    }
    let out = run_ok(xtask(&root(), &["release", "--verify"]).arg(dir));
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified"));

    let names = archives(dir);
    assert_eq!(names.len(), 2, "one archive per target: {names:?}");
    let manifest = dist_manifest(dir);
    let version = manifest["version"].as_str().unwrap();
    for target in ["thumbv7m-none-eabi", "riscv32imac-unknown-none-elf"] {
        let name = format!("embedded-xtask-{version}-{target}.tar.gz");
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}

/// The member a manifest.json file entry (`{"path": …}`) names.
fn member<'a>(
    files: &'a BTreeMap<String, Vec<u8>>,
    root_folder: &str,
    entry: &serde_json::Value,
) -> &'a [u8] {
    let path = format!("{root_folder}/{}", entry["path"].as_str().unwrap());
    files
        .get(&path)
        .unwrap_or_else(|| panic!("{path} is not in the archive"))
}

#[test]
fn archives_hold_elf_bin_manifest_readme_and_license() {
    let dir = shared_release();
    let objcopy = llvm_objcopy();
    let mut boards = Vec::new();
    for name in archives(dir) {
        let root_folder = name.trim_end_matches(".tar.gz");
        let files = members(&dir.join(&name));
        assert!(
            files
                .keys()
                .all(|p| p.starts_with(&format!("{root_folder}/"))),
            "{name}: {:?}",
            files.keys()
        );
        for f in [
            "README.md",
            "LICENSE-MIT",
            "LICENSE-APACHE",
            "manifest.json",
        ] {
            assert!(
                files.contains_key(&format!("{root_folder}/{f}")),
                "{name} lacks {f}"
            );
        }
        let manifest: serde_json::Value =
            serde_json::from_slice(&files[&format!("{root_folder}/manifest.json")]).unwrap();
        boards.push(manifest["board"].as_str().unwrap().to_string());
        let images = manifest["images"].as_array().unwrap();
        assert!(
            images.iter().any(|i| i["name"] == "sched"),
            "{name} ships no sched image"
        );
        for image in images {
            let elf = member(&files, root_folder, &image["elf"]);
            let bin = member(&files, root_folder, &image["bin"]);
            assert_eq!(&elf[..4], b"\x7fELF");
            assert!(image["flash_bytes"].as_u64().unwrap() >= bin.len() as u64 / 2);
            assert!(image["load_address"].as_str().unwrap().starts_with("0x"));
            // The .bin is what `objcopy -O binary` makes of the ELF.
            if let Some(objcopy) = &objcopy {
                let scratch = scratch(&format!("objcopy-{}", image["name"].as_str().unwrap()));
                std::fs::write(scratch.join("in.elf"), elf).unwrap();
                let out = objcopy_to(objcopy, &scratch, &["-O", "binary", "in.elf"], "out.bin");
                assert!(
                    out == *bin,
                    "{name}: {} differs from llvm-objcopy -O binary",
                    image["bin"]["path"]
                );
            }
        }
    }
    // Several QEMU boards share a triple; the archive of a triple holds the
    // images of its default board (`default = true` in qemu/boards.toml).
    boards.sort();
    assert_eq!(boards, ["lm3s6965evb", "sifive_e"], "archive boards");
    if objcopy.is_none() {
        println!("skipped: .bin vs llvm-objcopy: llvm-objcopy not found");
    }
}

/// llvm-objcopy from the toolchain's llvm-tools component (in
/// rust-toolchain.toml), else `/usr/bin/llvm-objcopy`.
fn llvm_objcopy() -> Option<PathBuf> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(root())
        .output()
        .ok()
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    sysroot
        .and_then(|sysroot| std::fs::read_dir(sysroot.join("lib/rustlib")).ok())
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path().join("bin/llvm-objcopy")))
        .chain([PathBuf::from("/usr/bin/llvm-objcopy")])
        .find(|p| p.is_file())
}

/// Runs `objcopy args` in `dir` and returns the file it wrote, `out`.
fn objcopy_to(objcopy: &Path, dir: &Path, args: &[&str], out: &str) -> Vec<u8> {
    let status = Command::new(objcopy)
        .args(args)
        .arg(out)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{} {args:?} {out} failed",
        objcopy.display()
    );
    std::fs::read(dir.join(out)).unwrap()
}

fn address(value: &serde_json::Value) -> u64 {
    let text = value.as_str().unwrap();
    u64::from_str_radix(text.strip_prefix("0x").unwrap(), 16).unwrap()
}

/// The record layout of one `.hex`: an extended linear address record
/// first when the image loads above 64 KiB (a data record otherwise), one
/// start linear address record with the manifest's entry point, and the
/// end-of-file record last. Returns the start linear address record.
fn check_hex_layout<'a>(text: &'a str, image: &serde_json::Value) -> &'a str {
    let load = address(&image["load_address"]);
    let first = text.lines().next().unwrap();
    if load >= 0x1_0000 {
        let ela = format!(":02000004{:04X}", load >> 16);
        assert!(first.starts_with(&ela), "{first}");
    } else {
        assert_eq!(&first[7..9], "00", "not a data record first: {first}");
    }
    let entry = format!(":04000005{:08X}", address(&image["entry"]));
    let starts: Vec<&str> = text.lines().filter(|l| l.get(7..9) == Some("05")).collect();
    assert!(
        starts.len() == 1 && starts[0].starts_with(&entry),
        "{starts:?}"
    );
    assert_eq!(text.lines().last(), Some(":00000001FF"));
    starts[0]
}

/// llvm-objcopy reads `hex` as exactly `bin`. Returns whether llvm-objcopy
/// writes a start linear address record for `elf` (it does for entry
/// points above 1 MiB; below, it writes an 8086 CS:IP record), after
/// checking that it equals `start`.
fn check_with_objcopy(objcopy: &Path, scratch: &Path, files: [&[u8]; 3], start: &str) -> bool {
    let [elf, bin, hex] = files;
    std::fs::write(scratch.join("in.hex"), hex).unwrap();
    std::fs::write(scratch.join("in.elf"), elf).unwrap();
    let args = ["-I", "ihex", "-O", "binary", "in.hex"];
    let back = objcopy_to(objcopy, scratch, &args, "out.bin");
    assert!(
        back == bin,
        "llvm-objcopy reads the .hex as other bytes than the .bin"
    );
    let reference = objcopy_to(objcopy, scratch, &["-O", "ihex", "in.elf"], "ref.hex");
    let reference = String::from_utf8(reference).unwrap();
    let theirs = reference.lines().find(|l| l.get(7..9) == Some("05"));
    if let Some(theirs) = theirs {
        assert_eq!(
            theirs.trim_end(),
            start,
            "start linear address records differ"
        );
    }
    theirs.is_some()
}

/// Every image's `.hex`, in its archive and beside it, is listed in
/// manifest.json, dist-manifest.json and SHA256SUMS, uses 32-bit linear
/// addresses with the entry point as start address, and converts back to
/// the `.bin` with an independent reader, `llvm-objcopy -I ihex -O binary`.
#[test]
fn hex_images_convert_back_to_the_bin() {
    let dir = shared_release();
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let dist = dist_manifest(dir);
    let copies: Vec<&serde_json::Value> = dist["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "intel-hex")
        .collect();
    let objcopy = llvm_objcopy();
    let (mut images, mut converted, mut same_start) = (0, 0, 0);
    for name in archives(dir) {
        let root_folder = name.trim_end_matches(".tar.gz");
        let files = members(&dir.join(&name));
        let manifest: serde_json::Value =
            serde_json::from_slice(&files[&format!("{root_folder}/manifest.json")]).unwrap();
        for image in manifest["images"].as_array().unwrap() {
            images += 1;
            let [elf, bin, hex] =
                ["elf", "bin", "hex"].map(|kind| member(&files, root_folder, &image[kind]));
            assert_eq!(image["hex"]["sha256"], sha256_hex(hex).as_str());
            let copy = copies
                .iter()
                .find(|a| {
                    a["copy_of"]["archive"] == name.as_str()
                        && a["copy_of"]["member"] == image["hex"]["path"]
                })
                .unwrap_or_else(|| panic!("no copy of {} beside {name}", image["hex"]["path"]));
            let copy_path = copy["path"].as_str().unwrap();
            assert_eq!(std::fs::read(dir.join(copy_path)).unwrap(), hex);
            assert!(sums.contains(&format!("{}  {copy_path}\n", sha256_hex(hex))));
            let start = check_hex_layout(std::str::from_utf8(hex).unwrap(), image);
            let Some(objcopy) = &objcopy else { continue };
            let label = format!("ihex-{root_folder}-{}", image["name"].as_str().unwrap());
            same_start += usize::from(check_with_objcopy(
                objcopy,
                &scratch(&label),
                [elf, bin, hex],
                start,
            ));
            converted += 1;
        }
    }
    assert!(images >= 4, "only {images} images");
    match objcopy {
        Some(_) => assert!(
            converted == images && same_start >= 1,
            "{converted} of {images} converted, {same_start} start records compared"
        ),
        None => println!(
            "skipped: llvm-objcopy not found (rustup component add llvm-tools, or apt llvm)"
        ),
    }
}

#[test]
fn verify_rejects_a_flipped_byte() {
    let dir = copy_of_release("flipped-byte");
    let name = archives(&dir).remove(0);
    let path = dir.join(&name);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let err = verify_fails(&dir);
    assert!(
        err.contains(&format!("checksum mismatch for `{name}`")),
        "{err}"
    );
}

#[test]
fn verify_rejects_a_missing_file() {
    let dir = copy_of_release("missing-file");
    std::fs::remove_file(dir.join("sbom.cdx.json")).unwrap();
    let err = verify_fails(&dir);
    assert!(err.contains("missing file `sbom.cdx.json`"), "{err}");
}

#[test]
fn verify_rejects_an_extra_file() {
    let dir = copy_of_release("extra-file");
    std::fs::write(dir.join("payload.bin"), b"not part of the release").unwrap();
    let err = verify_fails(&dir);
    assert!(err.contains("extra file `payload.bin`"), "{err}");
}

/// `members` (paths including the root folder) as `.tar.gz` bytes, after
/// which `extra` may append entries of its own.
fn tar_gz(
    members: &BTreeMap<String, Vec<u8>>,
    extra: impl FnOnce(&mut tar::Builder<Vec<u8>>),
) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, path, data.as_slice()).unwrap();
    }
    extra(&mut tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

#[test]
fn verify_rejects_a_path_traversal_entry() {
    let dir = copy_of_release("path-traversal");
    let name = archives(&dir).remove(0);
    let root_folder = name.trim_end_matches(".tar.gz");
    // Rebuild the archive with one more entry, `<root>/../../evil.sh`, whose
    // name is written into the header directly: tar writers refuse `..`.
    let evil = format!("{root_folder}/../../evil.sh");
    let bytes = tar_gz(&members(&dir.join(&name)), |tar| {
        let payload = b"#!/bin/sh\necho owned\n";
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..evil.len()].copy_from_slice(evil.as_bytes());
        h.set_size(payload.len() as u64);
        h.set_mode(0o755);
        h.set_cksum();
        tar.append(&h, &payload[..]).unwrap();
    });
    std::fs::write(dir.join(&name), bytes).unwrap();
    reseal(&dir);

    fails_only_with(
        &dir,
        &format!("entry `{evil}` contains `..` (path traversal)"),
    );
}

/// The HiFive1 archive, whose images load at 0x2001_0000 and so need an
/// extended linear address record.
fn riscv_archive(dir: &Path) -> String {
    archives(dir)
        .into_iter()
        .find(|a| a.contains("riscv32imac"))
        .expect("a riscv32imac archive")
}

/// An Intel HEX record's checksum: the two's complement of its bytes' sum.
fn record_checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |sum, b| sum.wrapping_add(*b))
        .wrapping_neg()
}

/// Replaces line `line` of `sched.hex` in the HiFive1 archive of a copy of
/// the release, and in the copy beside the archive, by `edit(line)`; then
/// updates manifest.json, repacks and reseals, so that only the `.hex`
/// check can fail. Returns the release folder and the archive's name.
fn tamper_hex(test: &str, line: usize, edit: impl Fn(&str) -> String) -> (PathBuf, String) {
    let dir = copy_of_release(test);
    let name = riscv_archive(&dir);
    let root_folder = name.trim_end_matches(".tar.gz");
    let mut files = members(&dir.join(&name));
    let path = format!("{root_folder}/sched.hex");
    let text = String::from_utf8(files[&path].clone()).unwrap();
    let old = text.lines().nth(line - 1).unwrap();
    let tampered = text.replacen(old, &edit(old), 1).into_bytes();
    assert_ne!(tampered, files[&path], "the edit changed nothing");
    let manifest_path = format!("{root_folder}/manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&files[&manifest_path]).unwrap();
    for image in manifest["images"].as_array_mut().unwrap() {
        if image["hex"]["path"] == "sched.hex" {
            image["hex"]["size"] = tampered.len().into();
            image["hex"]["sha256"] = sha256_hex(&tampered).into();
        }
    }
    files.insert(manifest_path, serde_json::to_vec_pretty(&manifest).unwrap());
    files.insert(path, tampered.clone());
    std::fs::write(dir.join(&name), tar_gz(&files, |_| {})).unwrap();
    std::fs::write(dir.join(format!("{root_folder}-sched.hex")), tampered).unwrap();
    reseal(&dir);
    (dir, name)
}

/// The bytes of a record line (`:` and hex digits).
fn record_bytes(line: &str) -> Vec<u8> {
    (1..line.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap())
        .collect()
}

fn record_line(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    format!(":{hex}")
}

#[test]
fn verify_rejects_a_hex_data_byte_even_with_a_fixed_checksum() {
    // Line 10: the ninth data record after the extended address record.
    let (dir, archive) = tamper_hex("hex-data-byte", 10, flip_data_byte);
    let err = only_problem(
        &dir,
        &format!("`{archive}`: `sched.hex`: line 10: byte at 0x20010080 is"),
    );
    assert!(err.contains("the .bin has"), "{err}");
}

/// Runs `--verify` on `dir`, asserting that it fails with exactly one
/// problem, which contains `want`. Returns the message.
fn only_problem(dir: &Path, want: &str) -> String {
    let err = verify_fails(dir);
    assert!(err.contains(want), "want `{want}`, got: {err}");
    assert!(
        err.contains("(1 problems)"),
        "only one check must fail: {err}"
    );
    err
}

/// Flips the first data byte of a data record and fixes its checksum.
fn flip_data_byte(line: &str) -> String {
    let mut bytes = record_bytes(line);
    assert_eq!(bytes[3], 0, "not a data record: {line}");
    bytes[4] ^= 0xFF;
    let n = bytes.len();
    bytes[n - 1] = record_checksum(&bytes[..n - 1]);
    record_line(&bytes)
}

#[test]
fn verify_rejects_a_hex_copy_that_differs_from_its_archive_member() {
    let dir = copy_of_release("hex-copy");
    let archive = riscv_archive(&dir);
    let copy = format!("{}-sched.hex", archive.trim_end_matches(".tar.gz"));
    let text = std::fs::read_to_string(dir.join(&copy)).unwrap();
    let line = text.lines().nth(9).unwrap();
    std::fs::write(
        dir.join(&copy),
        text.replacen(line, &flip_data_byte(line), 1),
    )
    .unwrap();
    reseal(&dir);
    only_problem(
        &dir,
        &format!("`{copy}`: differs from `sched.hex` in `{archive}`, of which it is a copy"),
    );
}

#[test]
fn verify_rejects_a_hex_record_with_a_broken_checksum() {
    let (dir, archive) = tamper_hex("hex-checksum", 10, |line| {
        let mut bytes = record_bytes(line);
        let n = bytes.len();
        bytes[n - 1] ^= 0x01;
        record_line(&bytes)
    });
    only_problem(
        &dir,
        &format!(
            "`{archive}`: `sched.hex`: line 10: checksum mismatch: the record's checksum byte is"
        ),
    );
}

#[test]
fn signed_release_verifies_with_its_key_only() {
    let dir = scratch("signed");
    let key = |name: &str| dir.join(name);
    let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    std::fs::write(
        key("release.key"),
        pair.sk.to_box(None).unwrap().to_string(),
    )
    .unwrap();
    std::fs::write(key("release.pub"), pair.pk.to_box().unwrap().to_string()).unwrap();
    let other = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    std::fs::write(key("other.pub"), other.pk.to_box().unwrap().to_string()).unwrap();

    let out_dir = dir.join("dist");
    run_ok(
        xtask(&root(), &["release", "--out"])
            .arg(&out_dir)
            .arg("--sign")
            .arg(key("release.key")),
    );
    assert!(out_dir.join("SHA256SUMS.minisig").is_file());
    run_ok(
        xtask(&root(), &["release", "--verify"])
            .arg(&out_dir)
            .arg("--pubkey")
            .arg(key("release.pub")),
    );
    let out = xtask(&root(), &["release", "--verify"])
        .arg(&out_dir)
        .arg("--pubkey")
        .arg(key("other.pub"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("SHA256SUMS.minisig does not verify"),
        "{err}"
    );

    // The stock CLI accepts the same files, when it is installed.
    match tool("minisign") {
        Some(cli) => {
            let status = Command::new(cli)
                .args(["-V", "-q", "-m", "SHA256SUMS", "-p"])
                .arg(key("release.pub"))
                .current_dir(&out_dir)
                .status()
                .unwrap();
            assert!(status.success(), "minisign -V rejected the signature");
        }
        None => println!("skipped: check with the minisign CLI (not on PATH)"),
    }
}

#[test]
fn notes_list_sizes_and_deltas_against_a_previous_release() {
    let dir = scratch("notes").join("dist");
    run_ok(
        xtask(&root(), &["release", "--notes", "--previous"])
            .arg(shared_release())
            .arg("--out")
            .arg(&dir),
    );
    let notes = std::fs::read_to_string(dir.join("RELEASE_NOTES.md")).unwrap();
    assert!(notes.contains("## Image sizes"), "{notes}");
    // Same commit as the previous release: every delta is zero.
    assert!(
        notes.contains("| sched | thumbv7m-none-eabi | release |"),
        "{notes}"
    );
    assert!(notes.contains("±0") && !notes.contains("new |"), "{notes}");
    run_ok(xtask(&root(), &["release", "--verify"]).arg(&dir));
}

#[test]
fn tag_must_match_the_workspace_version() {
    let out = xtask(&root(), &["release", "--tag", "v999.0.0", "--out"])
        .arg(scratch("tag").join("dist"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a mismatched tag was accepted");
    assert!(
        err.contains("tag `v999.0.0` does not match the workspace version"),
        "{err}"
    );
}

/// Hubris' check: no image built by the workspace, in any profile, holds
/// the checkout path (debug info and panic locations would carry it
/// without `--remap-path-prefix`).
#[test]
fn images_do_not_contain_the_checkout_path() {
    let out = run_ok(&mut xtask(
        &root(),
        &["build", "--target", "all", "--profile", "all"],
    ));
    let needle = root().display().to_string();
    let elfs: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert!(elfs.len() >= 4, "too few images: {elfs:?}");
    for elf in elfs {
        let bytes = std::fs::read(elf).unwrap();
        assert!(
            memchr::memmem::find(&bytes, needle.as_bytes()).is_none(),
            "{elf} contains the checkout path {needle}"
        );
    }
}

/// Kills `release` with SIGKILL at random points while it packages, and
/// checks that `dist` either does not exist or is a complete release equal
/// to an uninterrupted one; a later run cleans up and succeeds.
#[test]
fn kill_9_during_packaging_leaves_no_file_under_its_final_name() {
    let reference = std::fs::read(shared_release().join("SHA256SUMS")).unwrap();
    let parent = scratch("kill");
    let out = parent.join("dist");
    // Each run stages in a folder of its own: `.dist.<random>.partial`.
    let is_staging = |name: &str| name.starts_with(".dist.") && name.ends_with(".partial");
    let staging = || -> Vec<PathBuf> {
        std::fs::read_dir(&parent)
            .unwrap()
            .flatten()
            .filter(|e| is_staging(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect()
    };
    let mut seed = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let mut random = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below.max(1)
    };
    // Packaging time, measured once: from the staging folder's appearance to exit.
    let mut packaging = Duration::from_millis(200);
    let mut killed_while_packaging = 0;
    for round in 0..16 {
        if round % 4 == 0 && out.exists() {
            std::fs::remove_dir_all(&out).unwrap();
        }
        // Left by the previous round's kill; the release removes them too,
        // but the wait below must see this round's own staging folder.
        for stale in staging() {
            std::fs::remove_dir_all(&stale).unwrap();
        }
        let mut child = xtask(&root(), &["release", "--out"])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(300);
        while staging().is_empty() && child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "release never started packaging");
            std::thread::sleep(Duration::from_micros(200));
        }
        let started = Instant::now();
        if round == 0 {
            assert!(
                child.wait().unwrap().success(),
                "uninterrupted release failed"
            );
            packaging = started.elapsed();
        } else {
            // Within the first half of the measured time, which a loaded
            // machine may have stretched; a kill that came too late halves
            // the estimate, so the next rounds still land inside packaging.
            let delay = random(packaging.as_micros() as u64 / 2);
            std::thread::sleep(Duration::from_micros(delay));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                killed_while_packaging += 1;
            } else {
                packaging /= 2;
            }
            child.wait().unwrap();
        }
        for entry in std::fs::read_dir(&parent).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                is_staging(&name) || [".dist.old", "dist"].contains(&name.as_str()),
                "round {round}: unexpected `{name}` beside the release"
            );
        }
        if out.exists() {
            let sums = std::fs::read(out.join("SHA256SUMS"))
                .unwrap_or_else(|_| panic!("round {round}: dist exists without SHA256SUMS"));
            assert_eq!(sums, reference, "round {round}: dist holds another release");
            run_ok(xtask(&root(), &["release", "--verify"]).arg(&out));
        }
    }
    assert!(
        killed_while_packaging >= 8,
        "only {killed_while_packaging} of 15 kills landed while packaging"
    );
    // The last round's leftovers are cleaned up by the next release.
    run_ok(xtask(&root(), &["release", "--out"]).arg(&out));
    assert!(staging().is_empty() && !parent.join(".dist.old").exists());
    assert_eq!(std::fs::read(out.join("SHA256SUMS")).unwrap(), reference);
}

/// Rebuilds the first archive of `dir` with `extra` appended after its
/// members (built with the tar crate), and reseals the release, so only the
/// archive's contents can fail verification.
fn append_to_first_archive(
    dir: &Path,
    extra: impl FnOnce(&mut tar::Builder<Vec<u8>>, &str),
) -> String {
    let name = archives(dir).remove(0);
    let root_folder = name.trim_end_matches(".tar.gz").to_string();
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    tar.append_data(&mut h, format!("{root_folder}/"), std::io::empty())
        .unwrap();
    for (path, data) in members(&dir.join(&name)) {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, path, data.as_slice()).unwrap();
    }
    extra(&mut tar, &root_folder);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
    std::fs::write(dir.join(&name), gz.finish().unwrap()).unwrap();
    reseal(dir);
    root_folder
}

fn append_symlink(tar: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_size(0);
    tar.append_link(&mut h, path, target).unwrap();
}

fn append_file(tar: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    tar.append_data(&mut h, path, data).unwrap();
}

#[test]
fn verify_rejects_a_chain_of_links_that_escapes() {
    let dir = copy_of_release("link-chain");
    // `s1` is the root folder itself, so `up` is the folder above it, and
    // `up/evil.txt` lands outside the root folder once extracted.
    let root_folder = append_to_first_archive(&dir, |tar, r| {
        append_symlink(tar, &format!("{r}/s1"), ".");
        append_symlink(tar, &format!("{r}/up"), "s1/..");
        append_file(tar, &format!("{r}/up/evil.txt"), b"owned\n");
    });
    fails_only_with(
        &dir,
        &format!("entry `{root_folder}/up`: link to `s1/..` leads outside the root folder"),
    );
}

/// `--verify` fails on `dir` with `problem`, and with no checksum problem.
fn fails_only_with(dir: &Path, problem: &str) {
    let err = verify_fails(dir);
    assert!(err.contains(problem), "{err}");
    assert!(
        !err.contains("checksum mismatch"),
        "only {problem:?}: {err}"
    );
}

#[test]
fn verify_rejects_a_member_that_the_archive_manifest_does_not_list() {
    let dir = copy_of_release("unlisted-member");
    let root_folder = append_to_first_archive(&dir, |tar, r| {
        append_file(tar, &format!("{r}/extra.bin"), b"not in manifest.json\n");
    });
    fails_only_with(
        &dir,
        &format!("member `{root_folder}/extra.bin` is not listed in manifest.json"),
    );
}

#[test]
fn a_release_over_files_it_did_not_write_refuses_and_keeps_them() {
    let dir = copy_of_release("foreign-files");
    std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
    let out = xtask(&root(), &["release", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the release replaced a folder with foreign files"
    );
    assert!(
        err.contains("holds files that no release wrote (notes.txt)") && err.contains("refusing"),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"mine");
    std::fs::remove_file(dir.join("notes.txt")).unwrap();
    run_ok(xtask(&root(), &["release", "--verify"]).arg(&dir));
}

/// The state a crash between the two renames of a release without
/// `RENAME_EXCHANGE` leaves: the previous release in `.dist.old`, no
/// `dist`, and a staging folder. The next run, even one that then fails,
/// moves the previous release back before it deletes anything.
#[test]
fn a_release_moved_aside_by_a_crash_is_restored_by_the_next_run() {
    let reference = std::fs::read(shared_release().join("SHA256SUMS")).unwrap();
    let parent = copy_of_release("moved-aside")
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::rename(parent.join("dist"), parent.join(".dist.old")).unwrap();
    std::fs::create_dir_all(parent.join(".dist.partial")).unwrap();
    std::fs::write(parent.join(".dist.partial/SHA256SUMS"), b"half").unwrap();
    let out = xtask(&root(), &["release", "--tag", "v999.0.0", "--out"])
        .arg(parent.join("dist"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("v999.0.0"), "{err}");
    assert!(err.contains("restored the previous release"), "{err}");
    assert_eq!(
        std::fs::read(parent.join("dist/SHA256SUMS")).unwrap(),
        reference
    );
    assert!(!parent.join(".dist.old").exists() && !parent.join(".dist.partial").exists());
    run_ok(xtask(&root(), &["release", "--verify"]).arg(parent.join("dist")));
}
