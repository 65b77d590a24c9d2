//! The folder a release is assembled in: a sibling `.<out>.partial/` that
//! replaces `<out>` only once complete, so an interrupted release never
//! leaves a file under its final name, and the previous release stays intact
//! until the rename.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::checksums::sha256_hex;
use super::manifest::{Artifact, ArtifactKind, DIST_MANIFEST};
use crate::cargo::Profile;
use crate::workspace::write_atomic;

/// The folder a release is assembled in before it replaces `out`.
pub struct Staging {
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
    pub fn new(out: &Path) -> Result<Self> {
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
        write_atomic(&self.dir.join(name), bytes)
    }

    /// Moves the finished release to `out`; a previous release there is
    /// moved aside first and removed after.
    pub fn publish(self) -> Result<()> {
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
