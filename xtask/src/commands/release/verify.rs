//! `cargo xtask release --verify DIR [--pubkey KEY]`: checks a release
//! directory as a downloader would, and reports every problem found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::archive::read_checked;
use super::checksums::{self, sha256_hex};
use super::manifest::{
    ARCHIVE_MANIFEST, ArchiveManifest, ArtifactKind, DIST_MANIFEST, DistManifest, FileEntry,
    SCHEMA_VERSION,
};
use super::{intel_hex, sign};
use crate::cargo::Profile;

/// Checks, in order: `SHA256SUMS` parses; the folder holds exactly the
/// files it lists (plus itself and the signature); every checksum; the
/// signature when `pubkey` is given; `dist-manifest.json` lists the same
/// files with the same sizes and hashes; every archive is safe to extract
/// (links followed as extraction follows them) and its `manifest.json`
/// matches its members and the dist manifest and lists every member; each
/// `.hex` decodes to its `.bin`, and each copy equals its archive member.
///
/// Errors: one message listing every problem, each naming the file.
pub fn run(dir: &Path, pubkey: Option<&Path>) -> Result<()> {
    if !dir.is_dir() {
        bail!("--verify {}: no such folder", dir.display());
    }
    let sums_path = dir.join(checksums::FILE_NAME);
    let sums_text = std::fs::read_to_string(&sums_path)
        .with_context(|| format!("cannot read {}", sums_path.display()))?;
    let sums = checksums::parse(&sums_text).with_context(|| format!("in {}", dir.display()))?;

    let mut problems = Vec::new();
    let files = read_listed(dir, &sums, &mut problems)?;
    match (pubkey, dir.join(sign::SIGNATURE).is_file()) {
        (Some(key), true) => {
            let sig = std::fs::read_to_string(dir.join(sign::SIGNATURE))
                .with_context(|| format!("cannot read {}", sign::SIGNATURE))?;
            if let Err(e) = sign::verify(key, sums_text.as_bytes(), &sig) {
                problems.push(format!("{e:#}"));
            }
        }
        (Some(_), false) => problems.push(format!(
            "{} is missing, but --pubkey asks for a signed release",
            sign::SIGNATURE
        )),
        (None, true) => println!(
            "note: {} not checked; pass --pubkey KEY to check it",
            sign::SIGNATURE
        ),
        (None, false) => {}
    }
    check_manifests(&sums, &files, &mut problems);

    if problems.is_empty() {
        println!(
            "release in {} verified: {} files, checksums, manifests and archive entries{}",
            dir.display(),
            sums.len(),
            if pubkey.is_some() { ", signature" } else { "" }
        );
        Ok(())
    } else {
        bail!(
            "release in {} failed verification ({} problems):\n  - {}",
            dir.display(),
            problems.len(),
            problems.join("\n  - ")
        )
    }
}

/// Compares the folder's files with `sums` and reads the listed ones.
/// Returns name → bytes for every listed file that could be read.
fn read_listed(
    dir: &Path,
    sums: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut present = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type()?;
        present.insert(name.clone(), kind.is_file());
        let own = name == checksums::FILE_NAME || name == sign::SIGNATURE;
        if !kind.is_file() {
            problems.push(format!("`{name}` is not a regular file"));
        } else if !own && !sums.contains_key(&name) {
            problems.push(format!(
                "extra file `{name}`: not listed in {}",
                checksums::FILE_NAME
            ));
        }
    }
    let mut files = BTreeMap::new();
    for (name, want) in sums {
        match present.get(name) {
            None => problems.push(format!(
                "missing file `{name}`: listed in {}",
                checksums::FILE_NAME
            )),
            Some(false) => {}
            Some(true) => {
                let bytes = std::fs::read(dir.join(name))
                    .with_context(|| format!("cannot read {}", dir.join(name).display()))?;
                let got = sha256_hex(&bytes);
                if &got != want {
                    problems.push(format!(
                        "checksum mismatch for `{name}`: {} says {want}, the file hashes to {got}",
                        checksums::FILE_NAME
                    ));
                }
                files.insert(name.clone(), bytes);
            }
        }
    }
    Ok(files)
}

fn check_manifests(
    sums: &BTreeMap<String, String>,
    files: &BTreeMap<String, Vec<u8>>,
    problems: &mut Vec<String>,
) {
    if !sums.contains_key(DIST_MANIFEST) {
        problems.push(format!(
            "{DIST_MANIFEST} is not listed in {}",
            checksums::FILE_NAME
        ));
    }
    let Some(bytes) = files.get(DIST_MANIFEST) else {
        return;
    };
    let dist: DistManifest = match serde_json::from_slice(bytes) {
        Ok(d) => d,
        Err(e) => return problems.push(format!("{DIST_MANIFEST} does not parse: {e}")),
    };
    if dist.schema_version != SCHEMA_VERSION {
        problems.push(format!(
            "{DIST_MANIFEST}: schema_version {} is not {SCHEMA_VERSION}",
            dist.schema_version
        ));
        return;
    }
    for name in sums.keys().filter(|n| *n != DIST_MANIFEST) {
        if !dist.artifacts.iter().any(|a| &a.path == name) {
            problems.push(format!(
                "`{name}` is listed in {} but not in {DIST_MANIFEST}",
                checksums::FILE_NAME
            ));
        }
    }
    for a in &dist.artifacts {
        if !sums.contains_key(&a.path) {
            problems.push(format!(
                "{DIST_MANIFEST} lists `{}`, which {} does not",
                a.path,
                checksums::FILE_NAME
            ));
        }
        let Some(data) = files.get(&a.path) else {
            continue;
        };
        if data.len() as u64 != a.size || sha256_hex(data) != a.sha256 {
            problems.push(format!(
                "{DIST_MANIFEST}: `{}` should be {} bytes with sha256 {}, the file is {} bytes \
                 with sha256 {}",
                a.path,
                a.size,
                a.sha256,
                data.len(),
                sha256_hex(data)
            ));
        }
        if let Err(e) = intel_hex::check_copy(a, data, files) {
            problems.push(format!("`{}`: {e:#}", a.path));
        }
        if a.kind != ArtifactKind::Archive {
            continue;
        }
        let (target, profile) = (a.target.as_deref(), a.profile);
        if let Err(e) = check_archive(&a.path, data, &dist, target, profile) {
            problems.push(format!("`{}`: {e:#}", a.path));
        }
    }
}

/// Safe entries, one root folder named like the archive, and a
/// `manifest.json` that matches the members and the dist manifest and
/// lists every member but itself.
fn check_archive(
    name: &str,
    bytes: &[u8],
    dist: &DistManifest,
    target: Option<&str>,
    profile: Option<Profile>,
) -> Result<()> {
    let Some(root) = name.strip_suffix(".tar.gz") else {
        bail!("an archive's name must end in .tar.gz");
    };
    let (members, others) = read_checked(bytes, root)?;
    let manifest_bytes = members
        .get(ARCHIVE_MANIFEST)
        .with_context(|| format!("no {root}/{ARCHIVE_MANIFEST}"))?;
    let m: ArchiveManifest = serde_json::from_slice(manifest_bytes)
        .with_context(|| format!("{ARCHIVE_MANIFEST} does not parse"))?;
    if m.schema_version != SCHEMA_VERSION {
        bail!(
            "{ARCHIVE_MANIFEST}: schema_version {} is not {SCHEMA_VERSION}",
            m.schema_version
        );
    }
    if Some(m.target.as_str()) != target || Some(m.profile) != profile {
        bail!(
            "{ARCHIVE_MANIFEST} is for {} ({}), {DIST_MANIFEST} says {} ({})",
            m.target,
            m.profile,
            target.unwrap_or("no target"),
            profile.map_or("no profile", Profile::name)
        );
    }
    if m.provenance != dist.provenance {
        bail!(
            "{ARCHIVE_MANIFEST}'s name, version, revision, toolchain or epoch differ from {DIST_MANIFEST}'s"
        );
    }
    let check = |f: &FileEntry| -> Result<()> {
        let data = members.get(&f.path).with_context(|| {
            format!(
                "{ARCHIVE_MANIFEST} lists `{}`, which is not in the archive",
                f.path
            )
        })?;
        if data.len() as u64 != f.size || sha256_hex(data) != f.sha256 {
            bail!(
                "{ARCHIVE_MANIFEST}: `{}` should be {} bytes with sha256 {}, it is {} bytes with sha256 {}",
                f.path,
                f.size,
                f.sha256,
                data.len(),
                sha256_hex(data)
            );
        }
        Ok(())
    };
    let mut listed: BTreeSet<&str> = BTreeSet::from([ARCHIVE_MANIFEST]);
    for f in &m.files {
        check(f)?;
        listed.insert(&f.path);
    }
    for image in &m.images {
        check(&image.elf)?;
        check(&image.bin)?;
        check(&image.hex)?;
        intel_hex::check_member(&members, image)?;
        listed.extend([
            image.elf.path.as_str(),
            image.bin.path.as_str(),
            image.hex.path.as_str(),
        ]);
        let listed = dist.images.iter().any(|i| {
            i.name == image.name
                && i.target == m.target
                && i.profile == m.profile
                && (i.flash_bytes, i.ram_bytes) == (image.flash_bytes, image.ram_bytes)
        });
        if !listed {
            bail!(
                "image `{}` ({} flash bytes, {} RAM bytes) is not in {DIST_MANIFEST}'s images",
                image.name,
                image.flash_bytes,
                image.ram_bytes
            );
        }
    }
    if let Some(extra) = members
        .keys()
        .chain(&others)
        .find(|m| !listed.contains(m.as_str()))
    {
        bail!("member `{root}/{extra}` is not listed in {ARCHIVE_MANIFEST}");
    }
    Ok(())
}
