//! Debian 12's stock QEMU 7.2, the QEMU that users of Debian bookworm get,
//! kept under `.cache/qemu-7.2/` so that the suite also runs on it (`cargo
//! xtask ci qemu-7.2`) and a version regression shows here first. `cargo
//! xtask setup` downloads the packages with `apt-get download` and unpacks
//! them with `dpkg -x`, without installing them (they would conflict with
//! the QEMU 10.0 that `setup` installs); where apt is unavailable it says
//! `skipped:` and why.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::cmd::{capture, first_line, shell};
use crate::workspace::{Workspace, copy_atomic};

/// The Debian 12 package version: bookworm's QEMU 7.2.22.
pub const VERSION: &str = "1:7.2+dfsg-7+deb12u18+b3";
/// The packages that hold the two system emulators (RISC-V is in
/// `qemu-system-misc` in 7.2) and what they share.
const PACKAGES: [&str; 3] = ["qemu-system-arm", "qemu-system-misc", "qemu-system-common"];
/// The executables the boards need; only these are kept.
const BINARIES: [&str; 2] = ["qemu-system-arm", "qemu-system-riscv32"];

/// `<root>/.cache/qemu-7.2`.
pub fn dir(ws: &Workspace) -> PathBuf {
    ws.cache_dir().join("qemu-7.2")
}

/// The directory holding the unpacked executables, for `--qemu-dir`, when
/// `setup` has unpacked them.
pub fn bin_dir(ws: &Workspace) -> Option<PathBuf> {
    let bin = dir(ws).join("bin");
    BINARIES
        .iter()
        .all(|b| bin.join(b).is_file())
        .then_some(bin)
}

/// Why the stock QEMU is not there, for a check that cannot run.
pub fn missing_reason(ws: &Workspace) -> String {
    format!(
        "Debian 12's QEMU 7.2 is not unpacked in {}; `cargo xtask setup` downloads it where apt-get can (Debian)",
        dir(ws).display()
    )
}

/// Downloads and unpacks the packages in a temporary directory and copies
/// the executables into `.cache/qemu-7.2/bin`, so that an interrupted setup
/// leaves nothing half made. Prints what it did, or `skipped:` and why:
/// already unpacked, no apt-get or dpkg, or the packages cannot be had (a
/// non-Debian-12 archive).
///
/// Errors: the cache directory cannot be written.
pub fn setup(ws: &Workspace, root: bool) -> Result<()> {
    if let Some(bin) = bin_dir(ws) {
        println!(
            "skipped: Debian 12's QEMU 7.2 (already in {}: {})",
            dir(ws).display(),
            version_line(&bin)
        );
        return Ok(());
    }
    if which::which("apt-get").is_err() || which::which("dpkg").is_err() {
        println!("skipped: Debian 12's QEMU 7.2 (no apt-get and dpkg here)");
        return Ok(());
    }
    std::fs::create_dir_all(ws.cache_dir())
        .with_context(|| format!("cannot create {}", ws.cache_dir().display()))?;
    // Unique, and removed when dropped: concurrent or interrupted setups
    // never share or keep a half-unpacked tree.
    let partial = tempfile::Builder::new()
        .prefix(".qemu-7.2.")
        .suffix(".partial")
        .tempdir_in(ws.cache_dir())
        .with_context(|| format!("cannot create a directory in {}", ws.cache_dir().display()))?;
    let outcome = match unpack(partial.path(), root)? {
        Some(why) => Some(why),
        None => {
            install(&partial.path().join("root/usr/bin"), &dir(ws).join("bin"))?;
            None
        }
    };
    match outcome {
        Some(why) => println!("skipped: Debian 12's QEMU 7.2 ({why})"),
        None => println!(
            "installed: Debian 12's QEMU 7.2 in {} ({})",
            dir(ws).display(),
            version_line(&dir(ws).join("bin"))
        ),
    }
    Ok(())
}

/// Downloads the packages into `partial` and unpacks them to
/// `partial/root`; `Some(why)` when they cannot be had.
fn unpack(partial: &Path, root: bool) -> Result<Option<String>> {
    let sh = shell(partial)?;
    let wanted: Vec<String> = PACKAGES.iter().map(|p| format!("{p}={VERSION}")).collect();
    let download = || {
        let w = &wanted;
        println!("$ apt-get download {}", w.join(" "));
        capture(cmd!(sh, "apt-get download {w...}"))
    };
    let mut got = download();
    if got.is_err() && root {
        // A fresh machine may have no package lists yet.
        println!("$ apt-get update");
        capture(cmd!(sh, "apt-get update")).ok();
        got = download();
    }
    if let Err(e) = got {
        let first = format!("{e:#}");
        let first = first.lines().last().unwrap_or_default().trim().to_string();
        return Ok(Some(format!("apt-get download failed: {first}")));
    }
    let unpacked = partial.join("root");
    for entry in std::fs::read_dir(partial)?.flatten() {
        let deb = entry.path();
        if deb.extension().is_some_and(|e| e == "deb") {
            capture(cmd!(sh, "dpkg -x {deb} {unpacked}"))?;
        }
    }
    let bin = unpacked.join("usr/bin");
    if let Some(b) = BINARIES.iter().find(|b| !bin.join(b).is_file()) {
        return Ok(Some(format!("the packages hold no usr/bin/{b}")));
    }
    if first_line(cmd!(sh, "{bin}/qemu-system-arm --version")).is_none() {
        return Ok(Some(
            "the unpacked qemu-system-arm does not run (its shared libraries come with the QEMU that setup installs)".into(),
        ));
    }
    Ok(None)
}

/// Copies the executables of the unpacked `usr/bin` into `to`, each
/// atomically; `bin_dir` finds them only once all are there, so an
/// interrupted setup unpacks again.
fn install(usr_bin: &Path, to: &Path) -> Result<()> {
    for b in BINARIES {
        copy_atomic(&usr_bin.join(b), &to.join(b))?;
    }
    Ok(())
}

fn version_line(bin: &Path) -> String {
    Shell::new()
        .ok()
        .and_then(|sh| {
            let exe = bin.join("qemu-system-arm");
            first_line(cmd!(sh, "{exe} --version"))
        })
        .unwrap_or_else(|| "version unknown".into())
}
