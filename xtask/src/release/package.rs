//! Building a release directory: cross-build the shipped images, pack one
//! archive per target and profile, then the SBOM, notes, dist manifest,
//! checksums and signature.
//!
//! Everything is written into a sibling staging folder `.<out>.partial/`
//! (each file itself through a temporary name), which replaces `<out>` only
//! once complete: an interrupted release never leaves a file under its final
//! name, and the previous release stays intact until the rename.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::archive::write_tar_gz;
use super::checksums::{self, sha256_hex};
use super::config::Config;
use super::elf::flash_image;
use super::manifest::{
    ARCHIVE_MANIFEST, ArchiveManifest, Artifact, ArtifactKind, DIST_MANIFEST, DistManifest,
    FileEntry, ImageEntry, ImageSize, Provenance, SCHEMA_VERSION, to_json,
};
use super::remap::contains_path;
use super::{Args, git, notes, sbom, sign};
use crate::boards::{Board, Boards};
use crate::build::{Image, build_images};
use crate::workspace::{Workspace, write_atomic};

pub fn run(args: &Args) -> Result<()> {
    let ws = Workspace::load()?;
    let config = Config::load(&ws)?;
    if let Some(tag) = &args.tag {
        check_tag(&ws.root, tag, &config.version)?;
    }
    let boards = Boards::load(&ws)?;
    let boards: Vec<&Board> = boards.all().iter().collect();
    let images = build_images(&ws, &boards, &config.profiles)?;
    let provenance = Provenance {
        name: config.name.clone(),
        version: config.version.clone(),
        git_revision: git::revision(&ws.root)?,
        toolchain: toolchain(&ws.root)?,
        source_date_epoch: git::source_date_epoch(&ws.root)?,
    };
    let out = std::path::absolute(
        args.out
            .clone()
            .unwrap_or_else(|| ws.target_dir.join("dist")),
    )
    .context("cannot resolve --out")?;
    let stage = Staging::new(&out)?;

    let mut artifacts = Vec::new();
    let mut sizes = Vec::new();
    for board in &boards {
        for &profile in &config.profiles {
            let shipped: Vec<&Image> = images
                .iter()
                .filter(|i| i.target == board.target && i.profile == profile)
                .filter(|i| config.ships(&i.package, &i.name))
                .collect();
            if shipped.is_empty() {
                bail!(
                    "no binary of {} was built for {} ({}); check [workspace.metadata.release] \
                     packages",
                    config.packages.join(", "),
                    board.target,
                    profile.name()
                );
            }
            let stem = config.archive_stem(&board.target, profile);
            let (bytes, manifest) = pack(
                &ws,
                &config,
                &provenance,
                board,
                profile.name(),
                &stem,
                &shipped,
            )?;
            sizes.extend(manifest.images.iter().map(|i| ImageSize {
                name: i.name.clone(),
                target: board.target.clone(),
                profile: profile.name().to_string(),
                flash_bytes: i.flash_bytes,
                ram_bytes: i.ram_bytes,
            }));
            let name = format!("{stem}.tar.gz");
            artifacts.push(stage.write(
                ArtifactKind::Archive,
                Some((&board.target, profile.name())),
                &name,
                &bytes,
            )?);
        }
    }

    let targets: Vec<&str> = boards.iter().map(|b| b.target.as_str()).collect();
    let sbom = sbom::generate(&ws, &config, &provenance, &targets)?;
    artifacts.push(stage.write(ArtifactKind::Sbom, None, sbom::FILE_NAME, &sbom)?);
    if args.notes {
        let text = notes::render(&ws.root, &provenance, &sizes, args.previous.as_deref())?;
        artifacts.push(stage.write(
            ArtifactKind::ReleaseNotes,
            None,
            notes::FILE_NAME,
            text.as_bytes(),
        )?);
    }
    let dist = DistManifest {
        schema_version: SCHEMA_VERSION,
        provenance: provenance.clone(),
        artifacts,
        images: sizes,
    };
    let dist_bytes = to_json(&dist);
    stage.write_plain(DIST_MANIFEST, &dist_bytes)?;

    let mut sums: BTreeMap<String, String> = dist
        .artifacts
        .iter()
        .map(|a| (a.path.clone(), a.sha256.clone()))
        .collect();
    sums.insert(DIST_MANIFEST.to_string(), sha256_hex(&dist_bytes));
    let sums_text = checksums::render(&sums);
    stage.write_plain(checksums::FILE_NAME, sums_text.as_bytes())?;
    if let Some(key) = &args.sign {
        let sig = sign::sign(key, sums_text.as_bytes(), provenance.source_date_epoch)?;
        stage.write_plain(sign::SIGNATURE, &sig)?;
    }
    stage.publish()?;

    for a in &dist.artifacts {
        println!("{}  {:>9} bytes  sha256:{}", a.path, a.size, a.sha256);
    }
    println!(
        "release {} {} ({}) written to {}",
        provenance.name,
        provenance.version,
        provenance.git_revision,
        out.display()
    );
    Ok(())
}

/// Packs the images of one board and profile with the included files and
/// their `manifest.json` into `<stem>.tar.gz` bytes.
fn pack(
    ws: &Workspace,
    config: &Config,
    provenance: &Provenance,
    board: &Board,
    profile: &str,
    stem: &str,
    shipped: &[&Image],
) -> Result<(Vec<u8>, ArchiveManifest)> {
    let mut files = BTreeMap::new();
    let mut entries = Vec::new();
    for image in shipped {
        let elf = std::fs::read(&image.elf)
            .with_context(|| format!("cannot read {}", image.elf.display()))?;
        for path in [&ws.root, &ws.target_dir] {
            if contains_path(&elf, path) {
                bail!(
                    "{} contains the host path {}; the release would not be reproducible \
                     (is --remap-path-prefix missing from the firmware build?)",
                    image.elf.display(),
                    path.display()
                );
            }
        }
        let flash = flash_image(&image.elf.display().to_string(), &elf, &board.memory)?;
        let file = |path: String, bytes: &[u8]| FileEntry {
            path,
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        };
        entries.push(ImageEntry {
            name: image.name.clone(),
            package: image.package.clone(),
            elf: file(format!("{}.elf", image.name), &elf),
            bin: file(format!("{}.bin", image.name), &flash.bin),
            load_address: format!("{:#010x}", flash.load_address),
            entry: format!("{:#010x}", flash.entry),
            flash_bytes: flash.flash_bytes,
            ram_bytes: flash.ram_bytes,
        });
        files.insert(format!("{}.elf", image.name), elf);
        files.insert(format!("{}.bin", image.name), flash.bin);
    }
    for include in &config.include {
        let path = ws.root.join(include);
        let name = Path::new(include)
            .file_name()
            .with_context(|| format!("include `{include}` has no file name"))?;
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        files.insert(name.to_string_lossy().into_owned(), bytes);
    }
    let manifest = ArchiveManifest {
        schema_version: SCHEMA_VERSION,
        provenance: provenance.clone(),
        target: board.target.clone(),
        board: board.name.clone(),
        profile: profile.to_string(),
        images: entries,
    };
    files.insert(ARCHIVE_MANIFEST.to_string(), to_json(&manifest));
    let bytes = write_tar_gz(stem, &files, provenance.source_date_epoch)?;
    Ok((bytes, manifest))
}

/// `rustc -V` as run from the workspace root, so the toolchain pinned in
/// `rust-toolchain.toml` answers (`RUSTC` when cargo sets it).
fn toolchain(root: &Path) -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .arg("-V")
        .current_dir(root)
        .output()
        .with_context(|| format!("cannot run `{rustc} -V`"))?;
    if !out.status.success() {
        bail!(
            "`{rustc} -V` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `--tag [TAG]`: TAG (default: the `v*` tag on HEAD) must be
/// `v<version>` and point at HEAD.
fn check_tag(root: &Path, tag: &str, version: &str) -> Result<()> {
    let expected = format!("v{version}");
    let tag = if tag.is_empty() {
        let at_head = git::tags_at_head(root)?;
        match at_head.iter().find(|t| **t == expected).or(at_head.first()) {
            Some(t) => t.clone(),
            None => bail!("--tag: no `v*` tag points at HEAD; create it with `git tag {expected}`"),
        }
    } else {
        tag.to_string()
    };
    if tag != expected {
        bail!(
            "--tag: tag `{tag}` does not match the workspace version {version} \
             ([workspace.package] version in Cargo.toml); expected `{expected}`"
        );
    }
    let tagged = git::git(root, &["rev-parse", &format!("{tag}^{{commit}}")])
        .with_context(|| format!("--tag: tag `{tag}` does not exist"))?;
    let head = git::git(root, &["rev-parse", "HEAD"])?;
    if tagged != head {
        bail!("--tag: `{tag}` points at {tagged}, not at HEAD ({head})");
    }
    Ok(())
}

/// The folder a release is assembled in before it replaces `out`.
struct Staging {
    dir: PathBuf,
    old: PathBuf,
    out: PathBuf,
}

impl Staging {
    /// Removes what an interrupted run left (`.<out>.partial`, `.<out>.old`)
    /// and creates a fresh staging folder.
    ///
    /// Errors: `out` exists but does not hold a release (no
    /// dist-manifest.json), so replacing it could destroy other files.
    fn new(out: &Path) -> Result<Self> {
        let (Some(parent), Some(name)) = (out.parent(), out.file_name()) else {
            bail!("--out {} must name a folder", out.display());
        };
        let name = name.to_string_lossy();
        if out.exists() {
            let empty = std::fs::read_dir(out)
                .with_context(|| format!("--out {} is not a readable folder", out.display()))?
                .next()
                .is_none();
            if !empty && !out.join(DIST_MANIFEST).is_file() {
                bail!(
                    "--out {} is not empty and holds no {DIST_MANIFEST}: refusing to replace \
                     it; choose a new or empty folder",
                    out.display()
                );
            }
        }
        let stage = Self {
            dir: parent.join(format!(".{name}.partial")),
            old: parent.join(format!(".{name}.old")),
            out: out.to_path_buf(),
        };
        for stale in [&stage.dir, &stage.old] {
            if stale.exists() {
                std::fs::remove_dir_all(stale)
                    .with_context(|| format!("cannot remove {}", stale.display()))?;
            }
        }
        std::fs::create_dir_all(&stage.dir)
            .with_context(|| format!("cannot create {}", stage.dir.display()))?;
        Ok(stage)
    }

    /// Writes one artifact and describes it for the dist manifest.
    fn write(
        &self,
        kind: ArtifactKind,
        target: Option<(&str, &str)>,
        name: &str,
        bytes: &[u8],
    ) -> Result<Artifact> {
        self.write_plain(name, bytes)?;
        Ok(Artifact {
            kind,
            target: target.map(|(t, _)| t.to_string()),
            profile: target.map(|(_, p)| p.to_string()),
            path: name.to_string(),
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        })
    }

    fn write_plain(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.dir.join(name), bytes)
    }

    /// Moves the finished release to `out`; a previous release there is
    /// moved aside first and removed after.
    fn publish(self) -> Result<()> {
        let had_old = self.out.exists();
        if had_old {
            std::fs::rename(&self.out, &self.old).with_context(|| {
                format!(
                    "cannot move {} to {}",
                    self.out.display(),
                    self.old.display()
                )
            })?;
        }
        std::fs::rename(&self.dir, &self.out).with_context(|| {
            format!(
                "cannot rename {} to {}",
                self.dir.display(),
                self.out.display()
            )
        })?;
        if had_old {
            std::fs::remove_dir_all(&self.old)
                .with_context(|| format!("cannot remove {}", self.old.display()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_tag;
    use crate::release::notes::tests::repo;

    #[test]
    fn tag_must_equal_the_version_and_point_at_head() {
        let dir = repo(
            "tag",
            &[
                ("feat: one", "", Some("v0.1.0")),
                ("fix: two", "", Some("v0.2.0")),
            ],
        );
        let err =
            |tag: &str, version: &str| format!("{:#}", check_tag(&dir, tag, version).unwrap_err());
        assert!(check_tag(&dir, "v0.2.0", "0.2.0").is_ok());
        assert!(
            check_tag(&dir, "", "0.2.0").is_ok(),
            "the tag on HEAD is found"
        );
        assert!(
            err("", "0.3.0").contains("tag `v0.2.0` does not match the workspace version 0.3.0")
        );
        assert!(err("v0.1.0", "0.1.0").contains("not at HEAD"));
        assert!(err("v9.9.9", "9.9.9").contains("does not exist"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
