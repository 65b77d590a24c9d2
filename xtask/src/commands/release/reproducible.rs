//! `cargo xtask release --reproducible`: builds the release of `HEAD` twice,
//! at two checkout paths with two target directories, and requires
//! byte-identical `SHA256SUMS` (the check Hubris runs by building twice).
//! Each release also refuses images holding the path it was built in.
//!
//! A clean checkout is one of the two builds, into
//! `<target dir>/reproducible/dist`, beside a fresh clone: its target
//! directory is usually warm, so the check costs one cold build rather than
//! two, and a warm build must equal a cold one. A checkout with uncommitted
//! changes is not `HEAD`, so then two clones are built.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::cmd;

use crate::checksums;
use crate::cmd::shell;
use crate::git::git;
use crate::workspace::Workspace;

/// Errors: a clone or a release fails, or the two releases differ (the
/// message names the files and archive members that differ).
pub fn run() -> Result<()> {
    let ws = Workspace::load()?;
    let head = git(&ws.root, &["rev-parse", "HEAD"])?;
    let clean = git(&ws.root, &["status", "--porcelain"])?.is_empty();
    if !clean {
        println!(
            "note: uncommitted changes are not part of the check; it builds {head} in two clones"
        );
    }
    // Outside the checkout, or cargo would merge this checkout's
    // `.cargo/config.toml` into the clones'. Named after the checkout so a
    // rerun reuses the clones' warm target directories.
    let hash = ws
        .root
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        });
    let base = std::env::temp_dir().join(format!("embedded-xtask-reproducible-{hash:08x}"));
    let clone = Build::Clone(base.join("a/checkout"));
    let builds = if clean {
        [Build::Checkout, clone]
    } else {
        [
            clone,
            Build::Clone(base.join("second/clone/at/a/deeper/path/checkout")),
        ]
    };
    let xtask = std::env::current_exe().context("cannot locate the running xtask")?;
    let mut dists = Vec::new();
    for build in &builds {
        let (dir, dist) = match build {
            Build::Checkout => (ws.root.clone(), ws.target_dir.join("reproducible/dist")),
            Build::Clone(clone) => {
                checkout(&ws.root, &head, clone)?;
                (clone.clone(), clone.join("target/dist"))
            }
        };
        println!("building {head} in {}", dir.display());
        let sh = shell(&dir)?;
        let mut release = cmd!(sh, "{xtask} release --out {dist}").quiet();
        if matches!(build, Build::Clone(_)) {
            release = release
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("CARGO_BUILD_TARGET_DIR");
        }
        release
            .run()
            .with_context(|| format!("the release in {} failed", dir.display()))?;
        println!("built: {}", dist.display());
        dists.push(dist);
    }
    let sums: Vec<String> = dists
        .iter()
        .map(|d| {
            let path = d.join(checksums::FILE_NAME);
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))
        })
        .collect::<Result<_>>()?;
    if sums[0] != sums[1] {
        bail!(
            "not reproducible: {} differs between {} and {}; differing files and archive \
             members: {}",
            checksums::FILE_NAME,
            dists[0].display(),
            dists[1].display(),
            differences(&dists[0], &dists[1])?.join(", ")
        );
    }
    print!("{}", sums[0]);
    println!(
        "reproducible: identical {} for {head} from two checkout paths and target directories",
        checksums::FILE_NAME
    );
    Ok(())
}

/// Where one of the two releases is built.
enum Build {
    /// This checkout, clean, with its own target directory.
    Checkout,
    /// A clean clone of `HEAD` at this folder, with `target/` inside it.
    Clone(PathBuf),
}

/// A clean checkout of `head` at `dir`: a fresh clone of `source`, or an
/// earlier one fetched and reset (keeping its ignored `target/`).
fn checkout(source: &Path, head: &str, dir: &Path) -> Result<()> {
    if dir.join(".git").exists() {
        git(dir, &["fetch", "-q", "origin"])?;
    } else {
        let parent = dir.parent().context("clone folder has no parent")?;
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let (src, dst) = (source.display().to_string(), dir.display().to_string());
        git(parent, &["clone", "-q", &src, &dst])?;
    }
    git(dir, &["checkout", "-q", "--force", "--detach", head])?;
    git(dir, &["clean", "-q", "-f", "-d", "-x", "-e", "/target"])?;
    Ok(())
}

/// Names of the release files that differ, and within differing archives,
/// the members that differ.
fn differences(a: &Path, b: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut names: Vec<PathBuf> = Vec::new();
    for dir in [a, b] {
        for entry in std::fs::read_dir(dir)? {
            names.push(entry?.file_name().into());
        }
    }
    names.sort();
    names.dedup();
    for name in names {
        let (x, y) = (
            std::fs::read(a.join(&name)).ok(),
            std::fs::read(b.join(&name)).ok(),
        );
        if x == y {
            continue;
        }
        let label = name.display().to_string();
        match (x, y) {
            (Some(x), Some(y)) if label.ends_with(".tar.gz") => {
                let (mx, my) = (members(&x)?, members(&y)?);
                let keys: std::collections::BTreeSet<&String> =
                    mx.keys().chain(my.keys()).collect();
                out.extend(
                    keys.into_iter()
                        .filter(|k| mx.get(*k) != my.get(*k))
                        .cloned(),
                );
            }
            _ => out.push(label),
        }
    }
    Ok(out)
}

fn members(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut out = BTreeMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        out.insert(
            String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            data,
        );
    }
    Ok(out)
}
