//! Building a release directory: cross-build the shipped images, pack one
//! archive per target and profile, then the SBOM, notes, dist manifest,
//! checksums and signature, all in a [`Staging`] folder that replaces the
//! output directory once complete.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::cmd;

use super::archive::{Members, write_tar_gz};
use super::config::Config;
use super::flash::flash_image;
use super::manifest::{
    ARCHIVE_MANIFEST, ArchiveManifest, ArchiveMember, Artifact, ArtifactKind, DIST_MANIFEST,
    DistManifest, FileEntry, ImageEntry, ImageSize, Provenance, SCHEMA_VERSION, to_json,
};
use super::staging::{self, Staging};
use super::{Args, intel_hex, notes, sbom, sign};
use crate::boards::{Board, Boards};
use crate::cargo::{Image, Profile, build_images};
use crate::checksums::{self, sha256_hex};
use crate::cmd::{capture, shell};
use crate::git;
use crate::workspace::Workspace;

pub fn run(args: &Args) -> Result<()> {
    let ws = Workspace::load()?;
    let out = std::path::absolute(
        args.out
            .clone()
            .unwrap_or_else(|| ws.target_dir.join("dist")),
    )
    .context("cannot resolve --out")?;
    // First, so that a crashed release is repaired even if this one fails.
    let target = staging::Target::prepare(&out)?;
    let config = Config::load(&ws)?;
    if let Some(tag) = &args.tag {
        check_tag(&ws.root, tag.as_deref(), &config.version)?;
    }
    let boards = Boards::load(&ws)?;
    // One archive per target: the default board of each architecture (the
    // hardware the images are flashed to); the other boards of a triple
    // are QEMU machines the suite also runs on.
    let boards: Vec<&Board> = boards.all().iter().filter(|b| b.default).collect();
    let images = build_images(&ws, &boards, &config.profiles)?;
    let provenance = Provenance {
        name: config.name.clone(),
        version: config.version.clone(),
        git_revision: git::revision(&ws.root)?,
        toolchain: toolchain(&ws.root)?,
        source_date_epoch: git::source_date_epoch(&ws.root)?,
    };
    let stage = target.stage()?;
    let release = Release {
        ws: &ws,
        config: &config,
        provenance: &provenance,
        stage: &stage,
    };
    let (mut artifacts, sizes) = release.archives(&boards, &images)?;
    let sbom = sbom::generate(&ws, &config, &provenance, &boards)?;
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
    release.seal(&dist, args.sign.as_deref())?;
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

/// What every part of one release shares.
struct Release<'a> {
    ws: &'a Workspace,
    config: &'a Config,
    provenance: &'a Provenance,
    stage: &'a Staging,
}

impl Release<'_> {
    /// One archive per default board (one per target) and profile, and the
    /// size of every shipped image.
    ///
    /// Errors: a board and profile ship no image, or packing fails.
    fn archives(
        &self,
        boards: &[&Board],
        images: &[Image],
    ) -> Result<(Vec<Artifact>, Vec<ImageSize>)> {
        let (mut artifacts, mut sizes) = (Vec::new(), Vec::new());
        for board in boards {
            for &profile in &self.config.profiles {
                let shipped: Vec<&Image> = images
                    .iter()
                    .filter(|i| i.id.board == board.name && i.profile == profile)
                    .filter(|i| self.config.ships(i.package(), i.bin()))
                    .collect();
                if shipped.is_empty() {
                    bail!(
                        "no binary of {} was built for {} ({profile}); check [workspace.metadata.release] \
                         packages",
                        self.config.packages.join(", "),
                        board.target,
                    );
                }
                let stem = self.config.archive_stem(&board.target, profile);
                let (bytes, manifest, files) = self.pack(board, profile, &stem, &shipped)?;
                sizes.extend(manifest.images.iter().map(|i| ImageSize {
                    name: i.name.clone(),
                    target: board.target.clone(),
                    profile,
                    flash_bytes: i.flash_bytes,
                    ram_bytes: i.ram_bytes,
                }));
                let target = Some((board.target.as_str(), profile));
                let name = format!("{stem}.tar.gz");
                artifacts.push(
                    self.stage
                        .write(ArtifactKind::Archive, target, &name, &bytes)?,
                );
                for image in &manifest.images {
                    let member = &image.hex.path;
                    artifacts.push(self.copy_out(&name, &stem, member, &files[member], target)?);
                }
            }
        }
        Ok((artifacts, sizes))
    }

    /// Writes `member` of `archive` beside it as `<stem>-<member>`, for
    /// flashers that take one file rather than an archive.
    fn copy_out(
        &self,
        archive: &str,
        stem: &str,
        member: &str,
        bytes: &[u8],
        target: Option<(&str, Profile)>,
    ) -> Result<Artifact> {
        let name = format!("{stem}-{member}");
        let mut artifact = self
            .stage
            .write(ArtifactKind::IntelHex, target, &name, bytes)?;
        artifact.copy_of = Some(ArchiveMember {
            archive: archive.to_string(),
            member: member.to_string(),
        });
        Ok(artifact)
    }

    /// Writes `dist-manifest.json`, `SHA256SUMS` over it and every artifact,
    /// and with a key, `SHA256SUMS.minisig`.
    ///
    /// Errors: a file cannot be written or the key cannot sign.
    fn seal(&self, dist: &DistManifest, key: Option<&Path>) -> Result<()> {
        let dist_bytes = to_json(dist);
        self.stage.write_plain(DIST_MANIFEST, &dist_bytes)?;
        let mut sums: BTreeMap<String, String> = dist
            .artifacts
            .iter()
            .map(|a| (a.path.clone(), a.sha256.clone()))
            .collect();
        sums.insert(DIST_MANIFEST.to_string(), sha256_hex(&dist_bytes));
        let sums_text = checksums::render(&sums);
        self.stage
            .write_plain(checksums::FILE_NAME, sums_text.as_bytes())?;
        if let Some(key) = key {
            let sig = sign::sign(key, sums_text.as_bytes(), self.provenance.source_date_epoch)?;
            self.stage.write_plain(sign::SIGNATURE, &sig)?;
        }
        Ok(())
    }

    /// Packs the images of one board and profile with the included files and
    /// their `manifest.json` into `<stem>.tar.gz` bytes; also returns the
    /// manifest and the members by path.
    fn pack(
        &self,
        board: &Board,
        profile: Profile,
        stem: &str,
        shipped: &[&Image],
    ) -> Result<(Vec<u8>, ArchiveManifest, Members)> {
        let mut files = Members::new();
        let mut entries = Vec::new();
        let mut others = Vec::new();
        for image in shipped {
            let (entry, image_files) = self.image_entry(board, image)?;
            files.extend(image_files);
            entries.push(entry);
        }
        for include in &self.config.include {
            let path = self.ws.root.join(include);
            let name = Path::new(include)
                .file_name()
                .with_context(|| format!("include `{include}` has no file name"))?;
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let name = name.to_string_lossy().into_owned();
            others.push(FileEntry {
                path: name.clone(),
                size: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            });
            files.insert(name, bytes);
        }
        let manifest = ArchiveManifest {
            schema_version: SCHEMA_VERSION,
            provenance: self.provenance.clone(),
            target: board.target.clone(),
            board: board.name.clone(),
            profile,
            images: entries,
            files: others,
        };
        files.insert(ARCHIVE_MANIFEST.to_string(), to_json(&manifest));
        let bytes = write_tar_gz(stem, &files, self.provenance.source_date_epoch)?;
        Ok((bytes, manifest, files))
    }

    /// One image's manifest entry and its files by member path: the ELF,
    /// the raw flash image and that image as Intel HEX.
    ///
    /// Errors: the ELF cannot be read, holds a host path, has no flash
    /// image, or one that Intel HEX cannot address.
    fn image_entry(&self, board: &Board, image: &Image) -> Result<(ImageEntry, Members)> {
        let elf = std::fs::read(&image.elf)
            .with_context(|| format!("cannot read {}", image.elf.display()))?;
        for path in [&self.ws.root, &self.ws.target_dir] {
            if contains_path(&elf, path) {
                bail!(
                    "{} contains the host path {}; the release would not be reproducible \
                     (is --remap-path-prefix missing from the firmware build?)",
                    image.elf.display(),
                    path.display()
                );
            }
        }
        let what = image.elf.display().to_string();
        let flash = flash_image(&what, &elf, board.memory_map())?;
        let hex = intel_hex::encode(&flash).with_context(|| what.clone())?;
        let file = |path: String, bytes: &[u8]| FileEntry {
            path,
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        };
        let entry = ImageEntry {
            name: image.bin().to_string(),
            package: image.package().to_string(),
            elf: file(format!("{}.elf", image.bin()), &elf),
            bin: file(format!("{}.bin", image.bin()), &flash.bin),
            hex: file(format!("{}.hex", image.bin()), hex.as_bytes()),
            load_address: format!("{:#010x}", flash.load_address),
            entry: format!("{:#010x}", flash.entry),
            flash_bytes: flash.flash_bytes,
            ram_bytes: flash.ram_bytes,
        };
        let files = Members::from([
            (entry.elf.path.clone(), elf),
            (entry.bin.path.clone(), flash.bin),
            (entry.hex.path.clone(), hex.into_bytes()),
        ]);
        Ok((entry, files))
    }
}

/// Whether `haystack` contains `path` (as UTF-8 bytes): the check Hubris
/// runs on its archives.
fn contains_path(haystack: &[u8], path: &Path) -> bool {
    let needle = path.as_os_str().as_encoded_bytes();
    !needle.is_empty() && memchr::memmem::find(haystack, needle).is_some()
}

/// `rustc -V` as run from the workspace root, so the toolchain pinned in
/// `rust-toolchain.toml` answers (`RUSTC` when cargo sets it).
fn toolchain(root: &Path) -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sh = shell(root)?;
    capture(cmd!(sh, "{rustc} -V"))
}

/// `--tag [TAG]`: TAG (default: the `v*` tag on HEAD) must be
/// `v<version>` and point at HEAD.
fn check_tag(root: &Path, tag: Option<&str>, version: &str) -> Result<()> {
    let expected = format!("v{version}");
    let tag = match tag {
        Some(tag) => tag.to_string(),
        None => {
            let at_head = git::tags_at_head(root)?;
            match at_head.iter().find(|t| **t == expected).or(at_head.first()) {
                Some(t) => t.clone(),
                None => {
                    bail!("--tag: no `v*` tag points at HEAD; create it with `git tag {expected}`")
                }
            }
        }
    };
    if tag != expected {
        bail!(
            "--tag: tag `{tag}` does not match the workspace version {version} \
             ([workspace.package] version in Cargo.toml); expected `{expected}`"
        );
    }
    let tagged = git::git(root, &["rev-parse", &format!("{tag}^{{commit}}")])
        .with_context(|| format!("--tag: tag `{tag}` does not exist"))?;
    let head = git::head(root)?;
    if tagged != head {
        bail!("--tag: `{tag}` points at {tagged}, not at HEAD ({head})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_tag;
    use crate::commands::release::notes::tests::repo;

    #[test]
    fn tag_must_equal_the_version_and_point_at_head() {
        let dir = repo(
            "tag",
            &[
                ("feat: one", "", Some("v0.1.0")),
                ("fix: two", "", Some("v0.2.0")),
            ],
        );
        let err = |tag: Option<&str>, version: &str| {
            format!("{:#}", check_tag(&dir, tag, version).unwrap_err())
        };
        assert!(check_tag(&dir, Some("v0.2.0"), "0.2.0").is_ok());
        assert!(
            check_tag(&dir, None, "0.2.0").is_ok(),
            "the tag on HEAD is found"
        );
        assert!(
            err(None, "0.3.0").contains("tag `v0.2.0` does not match the workspace version 0.3.0")
        );
        assert!(err(Some("v0.1.0"), "0.1.0").contains("not at HEAD"));
        assert!(err(Some("v9.9.9"), "9.9.9").contains("does not exist"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
