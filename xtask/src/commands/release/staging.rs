//! Where a release is assembled and how it replaces the previous one, so
//! that at every instant the output folder holds one complete release, the
//! old or the new, and no file that a release did not write is ever lost.
//!
//! - One release at a time per parent folder: an exclusive `flock` on the
//!   parent (Unix), held for the whole run.
//! - Each run assembles its release in a staging folder of its own,
//!   `.<out>.<random>.partial`, beside `<out>`; those of crashed runs are
//!   removed at the start of the next one.
//! - On Linux the finished folder is swapped with the previous release by
//!   `renameat2(RENAME_EXCHANGE)` (renameat2(2)), then the previous one is
//!   removed. Elsewhere, or on a file system without the swap, the previous
//!   release is moved to `.<out>.old` and the new one moved in; a crash
//!   between the two renames is repaired at the start of the next run,
//!   which moves `.<out>.old` back before it deletes anything.
//! - An existing `<out>` is replaced only if it is empty or a release:
//!   a `dist-manifest.json` that parses, and no file it does not account for.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use super::checksums::{self, sha256_hex};
use super::manifest::{Artifact, ArtifactKind, DIST_MANIFEST, DistManifest};
use super::sign;
use crate::cargo::Profile;
use crate::fault;
use crate::workspace::write_atomic;

/// The output folder, locked and repaired, before anything is built.
pub struct Target {
    out: PathBuf,
    old: PathBuf,
    name: String,
    /// The locked parent folder; the lock ends when it is closed.
    _lock: Option<File>,
}

impl Target {
    /// Locks `out`'s parent folder, restores a previous release that a
    /// crash left in `.<out>.old`, removes the staging folders of crashed
    /// runs, and checks that `out` may be replaced.
    ///
    /// Errors: `out` names no folder, the parent cannot be created or
    /// locked, or `out` holds files that no release wrote.
    pub fn prepare(out: &Path) -> Result<Self> {
        let (Some(parent), Some(name)) = (out.parent(), out.file_name()) else {
            bail!("--out {} must name a folder", out.display());
        };
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let name = name.to_string_lossy().into_owned();
        let target = Self {
            out: out.to_path_buf(),
            old: parent.join(format!(".{name}.old")),
            _lock: lock(parent)?,
            name,
        };
        target.recover()?;
        check_replaceable(&target.out)?;
        Ok(target)
    }

    /// Repairs what a crashed run left: `.<out>.old` without `<out>` is the
    /// previous release, moved back; with `<out>` it is a leftover, removed,
    /// as are all staging folders (the lock says no run is using them).
    fn recover(&self) -> Result<()> {
        if self.old.exists() {
            if self.out.exists() {
                remove(&self.old)?;
            } else {
                fault::point("release-restore", &self.out);
                std::fs::rename(&self.old, &self.out).with_context(|| {
                    format!(
                        "cannot restore {} to {}",
                        self.old.display(),
                        self.out.display()
                    )
                })?;
                eprintln!(
                    "release: restored the previous release in {} (an interrupted release had moved it to {})",
                    self.out.display(),
                    self.old.display()
                );
            }
        }
        let parent = self.old.parent().unwrap_or(Path::new("."));
        let (prefix, suffix) = (format!(".{}.", self.name), ".partial");
        for entry in std::fs::read_dir(parent)
            .with_context(|| format!("cannot list {}", parent.display()))?
        {
            let entry = entry?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if file.starts_with(&prefix) && file.ends_with(suffix) && entry.file_type()?.is_dir() {
                remove(&entry.path())?;
            }
        }
        Ok(())
    }

    /// A new staging folder beside `out`.
    ///
    /// Errors: it cannot be created.
    pub fn stage(self) -> Result<Staging> {
        let parent = self.old.parent().unwrap_or(Path::new("."));
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{}.", self.name))
            .suffix(".partial")
            .tempdir_in(parent)
            .with_context(|| format!("cannot create a staging folder in {}", parent.display()))?;
        Ok(Staging { dir, target: self })
    }
}

/// The folder a release is assembled in; removed if dropped unpublished.
pub struct Staging {
    dir: TempDir,
    target: Target,
}

impl Staging {
    /// Writes one artifact and describes it for the dist manifest.
    pub fn write(
        &self,
        kind: ArtifactKind,
        target: Option<(&str, Profile)>,
        name: &str,
        bytes: &[u8],
    ) -> Result<Artifact> {
        self.write_plain(name, bytes)?;
        Ok(Artifact {
            kind,
            target: target.map(|(t, _)| t.to_string()),
            profile: target.map(|(_, p)| p),
            path: name.to_string(),
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
            copy_of: None,
        })
    }

    pub fn write_plain(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.dir.path().join(name), bytes)
    }

    /// Moves the finished release to `out`, replacing a previous release
    /// there (see the module docs for how), then removes the previous one.
    ///
    /// Errors: `out` changed into something that is not a release since
    /// [`Target::prepare`], or a rename or the removal fails.
    pub fn publish(self) -> Result<()> {
        let Target { out, old, .. } = &self.target;
        let stage = self.dir.keep();
        open_up(&stage)?;
        if !out.exists() {
            fault::point("release-first", out);
            return std::fs::rename(&stage, out).with_context(|| {
                format!("cannot rename {} to {}", stage.display(), out.display())
            });
        }
        check_replaceable(out)?;
        let previous = if exchange(&stage, out)? {
            stage
        } else {
            fault::point("release-move-aside", out);
            std::fs::rename(out, old)
                .with_context(|| format!("cannot move {} to {}", out.display(), old.display()))?;
            fault::point("release-move-in", out);
            std::fs::rename(&stage, out).with_context(|| {
                format!("cannot rename {} to {}", stage.display(), out.display())
            })?;
            old.clone()
        };
        fault::point("release-remove-old", out);
        remove(&previous)
    }
}

/// Swaps `stage` and `out` atomically where the platform can: afterwards
/// `out` is the new release and `stage` the previous one. `false` when it
/// cannot (not Linux, a file system without the flag, or the test hook).
#[cfg(target_os = "linux")]
fn exchange(stage: &Path, out: &Path) -> Result<bool> {
    use nix::errno::Errno;
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    if fault::no_exchange() {
        return Ok(false);
    }
    fault::point("release-exchange", out);
    match renameat2(AT_FDCWD, stage, AT_FDCWD, out, RenameFlags::RENAME_EXCHANGE) {
        Ok(()) => Ok(true),
        Err(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => Ok(false),
        Err(e) => Err(e)
            .with_context(|| format!("cannot swap {} with {}", stage.display(), out.display())),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_stage: &Path, _out: &Path) -> Result<bool> {
    Ok(false)
}

/// Fails unless `out` is absent, empty, or a release: it holds a
/// `dist-manifest.json` that parses, and every entry in it is a file that
/// manifest lists, the manifest itself, `SHA256SUMS` or its signature.
fn check_replaceable(out: &Path) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(out)
        .with_context(|| format!("--out {} is not a readable folder", out.display()))?
        .collect::<std::io::Result<_>>()?;
    if entries.is_empty() {
        return Ok(());
    }
    let refuse = |why: String| -> Result<()> {
        bail!(
            "--out {} {why}: refusing to replace it; move those files away or choose a new or empty folder",
            out.display()
        )
    };
    let Ok(text) = std::fs::read(out.join(DIST_MANIFEST)) else {
        return refuse(format!("is not empty and holds no {DIST_MANIFEST}"));
    };
    let Ok(dist) = serde_json::from_slice::<DistManifest>(&text) else {
        return refuse(format!("holds a {DIST_MANIFEST} that is not a release's"));
    };
    let known = |name: &str| {
        [DIST_MANIFEST, checksums::FILE_NAME, sign::SIGNATURE].contains(&name)
            || dist.artifacts.iter().any(|a| a.path == name)
    };
    let mut foreign: Vec<String> = Vec::new();
    for e in &entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type()?.is_file() {
            foreign.push(format!("{name}/"));
        } else if !known(&name) {
            foreign.push(name);
        }
    }
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    refuse(format!(
        "holds files that no release wrote ({})",
        foreign.join(", ")
    ))
}

/// Takes the exclusive lock of `parent`, waiting for another release that
/// holds it. `None` where folders cannot be locked (not Unix).
#[cfg(unix)]
fn lock(parent: &Path) -> Result<Option<File>> {
    let dir = File::open(parent).with_context(|| format!("cannot open {}", parent.display()))?;
    if dir.try_lock().is_err() {
        eprintln!(
            "release: waiting for another release in {} to finish",
            parent.display()
        );
        dir.lock()
            .with_context(|| format!("cannot lock {}", parent.display()))?;
    }
    Ok(Some(dir))
}

#[cfg(not(unix))]
fn lock(_parent: &Path) -> Result<Option<File>> {
    Ok(None)
}

/// Gives the staging folder the mode of a folder made with `mkdir` under
/// the usual umask (a temporary folder is private).
#[cfg(unix)]
fn open_up(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot set the mode of {}", dir.display()))
}

#[cfg(not(unix))]
fn open_up(_dir: &Path) -> Result<()> {
    Ok(())
}

fn remove(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-staging-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn release_in(dir: &Path, marker: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let dist = r#"{"schema_version":1,"name":"n","version":"0","git_revision":"r","toolchain":"t","source_date_epoch":0,"artifacts":[{"kind":"sbom","target":null,"profile":null,"path":"sbom.cdx.json","size":1,"sha256":"x"}],"images":[]}"#;
        std::fs::write(dir.join(DIST_MANIFEST), dist).unwrap();
        std::fs::write(dir.join("sbom.cdx.json"), marker).unwrap();
        std::fs::write(dir.join(checksums::FILE_NAME), "").unwrap();
    }

    #[test]
    fn a_release_moved_aside_is_restored_before_anything_is_deleted() {
        let parent = scratch("restore");
        let out = parent.join("dist");
        release_in(&parent.join(".dist.old"), "previous");
        std::fs::create_dir_all(parent.join(".dist.1234.partial")).unwrap();
        let target = Target::prepare(&out).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("sbom.cdx.json")).unwrap(),
            "previous"
        );
        assert!(!parent.join(".dist.old").exists());
        assert!(
            !parent.join(".dist.1234.partial").exists(),
            "a crashed run's staging folder"
        );
        let stage = target.stage().unwrap();
        stage.write_plain(DIST_MANIFEST, b"{}").unwrap();
        drop(stage);
        let left: Vec<_> = std::fs::read_dir(&parent)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["dist"], "an unpublished staging folder is removed");
        std::fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn only_a_release_is_replaced() {
        let parent = scratch("refuse");
        let out = parent.join("dist");
        release_in(&out, "r");
        assert!(check_replaceable(&out).is_ok());
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        std::fs::create_dir_all(out.join("sub")).unwrap();
        let e = format!("{:#}", Target::prepare(&out).err().unwrap());
        assert!(
            e.contains("holds files that no release wrote (notes.txt, sub/)"),
            "{e}"
        );
        std::fs::remove_file(out.join(DIST_MANIFEST)).unwrap();
        let e = format!("{:#}", check_replaceable(&out).unwrap_err());
        assert!(e.contains("holds no dist-manifest.json"), "{e}");
        assert!(out.join("notes.txt").is_file(), "nothing was deleted");
        std::fs::remove_dir_all(&parent).unwrap();
    }
}
