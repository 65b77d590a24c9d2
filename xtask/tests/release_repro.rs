//! Reproducibility: `release --reproducible` builds `HEAD` twice, at two
//! checkout paths, each with its own target directory (this checkout, when
//! clean, and a clone; else two clones); this test checks their SHA256SUMS
//! itself, and that no released file or archive member holds the path of
//! the checkout it was built in.

use std::path::{Path, PathBuf};
use std::process::Command;

mod archive_common;
use archive_common::members;

#[test]
fn two_clones_at_different_paths_release_identical_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(root)
        .args(["release", "--reproducible"])
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "release --reproducible failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dists: Vec<PathBuf> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("built: "))
        .map(PathBuf::from)
        .collect();
    assert_eq!(dists.len(), 2, "{stdout}");
    let dirs: Vec<PathBuf> = stdout
        .lines()
        .filter_map(|l| {
            l.split_once(" in ")
                .filter(|(b, _)| b.starts_with("building "))
        })
        .map(|(_, dir)| PathBuf::from(dir))
        .collect();
    assert_eq!(dirs.len(), 2, "{stdout}");
    assert_ne!(dirs[0], dirs[1], "two checkout paths");
    let head = String::from_utf8_lossy(
        &Command::new("git")
            .current_dir(root)
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .to_string();
    let mut sums = Vec::new();
    assert!(
        dirs.iter().any(|d| d != root),
        "at least one release is built in a clone: {dirs:?}"
    );
    for (dist, dir) in dists.iter().zip(&dirs) {
        assert!(
            dist.starts_with(dir) || dir == root,
            "{dist:?} from {dir:?}"
        );
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dist.join("dist-manifest.json")).unwrap())
                .unwrap();
        assert_eq!(
            manifest["git_revision"],
            head.as_str(),
            "a clean checkout is not -dirty"
        );
        // Hubris' check: nothing released names the folder it was built in.
        let needle = dir.display().to_string();
        for entry in std::fs::read_dir(dist).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let mut blobs = vec![(name.clone(), std::fs::read(&path).unwrap())];
            if name.ends_with(".tar.gz") {
                blobs.extend(members(&path));
            }
            for (what, bytes) in blobs {
                assert!(
                    memchr::memmem::find(&bytes, needle.as_bytes()).is_none(),
                    "{what} contains the checkout path {needle}"
                );
            }
        }
        sums.push(std::fs::read(dist.join("SHA256SUMS")).unwrap());
    }
    assert_ne!(dists[0], dists[1]);
    assert_eq!(sums[0], sums[1], "SHA256SUMS differ between the clones");
    assert!(String::from_utf8_lossy(&sums[0]).lines().count() >= 4);
}
