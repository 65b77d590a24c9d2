//! Where things are: the workspace root and the target directory, both taken
//! from `cargo metadata` so that `CARGO_TARGET_DIR` and `build.target-dir`
//! are honoured; and atomic writes of outputs.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, Package};
use tempfile::NamedTempFile;

use crate::fault;

pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub metadata: Metadata,
}

impl Workspace {
    /// Runs `cargo metadata --no-deps` for the workspace around the current
    /// directory, so one xtask binary can drive another checkout of the
    /// project (the reproducibility check builds two). Outside any workspace
    /// with an `xtask` package it falls back to the one xtask was built from.
    ///
    /// Errors: cargo is missing or the manifest does not parse.
    pub fn load() -> Result<Self> {
        let metadata = match MetadataCommand::new().no_deps().exec() {
            Ok(m)
                if m.workspace_packages()
                    .iter()
                    .any(|p| p.name.as_str() == "xtask") =>
            {
                m
            }
            _ => {
                let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
                MetadataCommand::new()
                    .manifest_path(&manifest)
                    .no_deps()
                    .exec()
                    .with_context(|| {
                        format!("`cargo metadata` failed for {}", manifest.display())
                    })?
            }
        };
        Ok(Self {
            root: metadata.workspace_root.clone().into_std_path_buf(),
            target_dir: metadata.target_directory.clone().into_std_path_buf(),
            metadata,
        })
    }

    /// `qemu/`: boards, test manifest, expected transcripts, budgets.
    pub fn qemu_dir(&self) -> PathBuf {
        self.root.join("qemu")
    }

    /// `<target_dir>/reports/`: JUnit, JSON, Markdown and Prometheus reports.
    pub fn reports_dir(&self) -> PathBuf {
        self.target_dir.join("reports")
    }

    /// `<root>/.cache/`: toolkits that `cargo xtask setup` installs (the CUDA
    /// virtual environment, linters). Ignored by git; safe to delete.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(".cache")
    }

    /// Workspace packages whose manifest lies under `firmware/`.
    pub fn firmware_packages(&self) -> Vec<&Package> {
        let firmware = self.root.join("firmware");
        self.metadata
            .workspace_packages()
            .into_iter()
            .filter(|p| p.manifest_path.as_std_path().starts_with(&firmware))
            .collect()
    }

    /// Firmware packages that are built for the boards: all but host crates
    /// that other firmware packages use only as a build-dependency (such as
    /// `board-map`, which board build scripts run on the host, and xtask
    /// reads boards with); those are default members, built and checked
    /// with the host crates.
    pub fn firmware_cross_packages(&self) -> Vec<&Package> {
        let packages = self.firmware_packages();
        let build_only = |name: &str| {
            let mut uses = packages
                .iter()
                .flat_map(|p| &p.dependencies)
                .filter(|d| d.name == name)
                .peekable();
            uses.peek().is_some() && uses.all(|d| d.kind == DependencyKind::Build)
        };
        self.firmware_packages()
            .into_iter()
            .filter(|p| !build_only(&p.name))
            .collect()
    }

    /// Firmware packages with at least one binary target: the firmware images.
    pub fn firmware_image_packages(&self) -> Vec<&Package> {
        self.firmware_packages()
            .into_iter()
            .filter(|p| p.targets.iter().any(|t| t.is_bin()))
            .collect()
    }
}

/// Writes `bytes` to `path` atomically: a uniquely named temporary file in
/// the same directory ([`temp_beside`]), then a rename, so a reader never
/// sees a partial file and concurrent writers never share a temporary name.
///
/// Errors: the directory cannot be created, the file cannot be written, or
/// `path` cannot be replaced (it is a directory, or not writable); the
/// temporary file is removed then.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = temp_beside(path)?;
    let (head, tail) = bytes.split_at(bytes.len() / 2);
    tmp.write_all(head)
        .and_then(|()| {
            fault::point("atomic-write", path);
            tmp.write_all(tail)
        })
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    fault::point("atomic-persist", path);
    tmp.persist(path)
        .map_err(|e| anyhow::Error::new(e.error))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Copies `from` to `to` through a uniquely named temporary file in `to`'s
/// directory ([`temp_beside`]), so a reader never sees a partial file and
/// concurrent copies never share a temporary name. The copy keeps `from`'s
/// permissions (executables stay executable).
///
/// Errors: `from` cannot be read, or `to` cannot be written.
pub fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let tmp = temp_beside(to)?;
    std::fs::copy(from, tmp.path())
        .with_context(|| format!("cannot copy {} to {}", from.display(), tmp.path().display()))?;
    fault::point("image-copy", to);
    tmp.persist(to)
        .map_err(|e| anyhow::Error::new(e.error))
        .with_context(|| format!("cannot write {}", to.display()))?;
    Ok(())
}

/// An empty temporary file beside `path`, named `.<file name>.<random>.partial`
/// and removed when dropped unless persisted. It has `path`'s permissions
/// when `path` exists, else those of a new file (0666 less the umask).
///
/// Errors: the directory cannot be created or written to.
pub fn temp_beside(path: &Path) -> Result<NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".partial");
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {
            builder.permissions(m.permissions());
        }
        _ => {
            #[cfg(unix)]
            builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        }
    }
    builder
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))
}

/// Checks, before any work, that an output `path` given as `flag` can be
/// written: it is not a directory and its directory accepts new files.
/// Leaves nothing behind.
///
/// Errors: name the flag, the path and the reason.
pub fn check_output(flag: &str, path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!(
            "{flag} {}: is a directory; give the path of a file to write",
            path.display()
        );
    }
    temp_beside(path)
        .map(drop)
        .with_context(|| format!("{flag} {}: cannot be written", path.display()))
}
