//! Reproducibility: two clones of `HEAD` at different paths, each with its
//! own target directory, release byte-identical files, and no archive
//! member holds the path of the clone it was built in.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

fn git(cwd: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        cwd.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A checkout of `head` at `dir`, reusing an earlier clone (and its warm
/// target directory) when there is one.
fn checkout(source: &Path, head: &str, dir: &Path) {
    if dir.join(".git").exists() {
        git(dir, &["fetch", "-q", "origin"]);
    } else {
        std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
        git(
            dir.parent().unwrap(),
            &[
                "clone",
                "-q",
                &source.display().to_string(),
                &dir.display().to_string(),
            ],
        );
    }
    git(dir, &["checkout", "-q", "--force", "--detach", head]);
    git(dir, &["clean", "-q", "-f", "-d", "-x", "-e", "/target"]);
    assert_eq!(git(dir, &["rev-parse", "HEAD"]), head);
}

fn members(archive: &Path) -> BTreeMap<String, Vec<u8>> {
    let file = std::fs::File::open(archive).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(entry.path().unwrap().display().to_string(), data);
    }
    out
}

#[test]
fn two_clones_at_different_paths_release_identical_files() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let head = git(source, &["rev-parse", "HEAD"]);
    // Outside this checkout: cargo would merge its `.cargo/config.toml` into
    // a nested clone's. Named per source checkout, so reruns reuse warm
    // clones without two checkouts sharing one.
    let hash: u32 = source
        .display()
        .to_string()
        .bytes()
        .fold(2166136261, |h, b| (h ^ u32::from(b)).wrapping_mul(16777619));
    let base = std::env::temp_dir().join(format!("embedded-xtask-repro-{hash:08x}"));
    let clones: [PathBuf; 2] = [
        base.join("a/embedded-xtask"),
        base.join("second/clone/at/a/deeper/path/fw"),
    ];
    let mut sums = Vec::new();
    for clone in &clones {
        checkout(source, &head, clone);
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .current_dir(clone)
            .args(["release", "--out", "target/dist"])
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "release in {} failed:\n{}",
            clone.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let dist = clone.join("target/dist");
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dist.join("dist-manifest.json")).unwrap())
                .unwrap();
        assert_eq!(
            manifest["git_revision"],
            head.as_str(),
            "a clean clone is not -dirty"
        );
        // Hubris' check: the images must not name the folder they were built in.
        let needle = clone.display().to_string();
        for entry in std::fs::read_dir(&dist).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let mut blobs = vec![(name.clone(), std::fs::read(&path).unwrap())];
            if name.ends_with(".tar.gz") {
                blobs.extend(members(&path));
            }
            for (what, bytes) in blobs {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{what} contains the checkout path {needle}"
                );
            }
        }
        sums.push(std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap());
    }
    if sums[0] != sums[1] {
        // Name the archive members that differ, to point at the cause.
        let dists: Vec<PathBuf> = clones.iter().map(|c| c.join("target/dist")).collect();
        let mut differing = Vec::new();
        for entry in std::fs::read_dir(&dists[0]).unwrap() {
            let name = entry.unwrap().file_name();
            if name.to_string_lossy().ends_with(".tar.gz") {
                let (a, b) = (
                    members(&dists[0].join(&name)),
                    members(&dists[1].join(&name)),
                );
                differing.extend(a.keys().filter(|k| a.get(*k) != b.get(*k)).cloned());
            }
        }
        panic!(
            "SHA256SUMS differ between clones:\n{}\n---\n{}\ndiffering members: {differing:?}",
            sums[0], sums[1]
        );
    }
    assert!(sums[0].lines().count() >= 4, "{}", sums[0]);
}
