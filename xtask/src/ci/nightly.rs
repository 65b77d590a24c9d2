//! The nightly workflow's slow checks, as `cargo xtask ci fuzz` and
//! `cargo xtask ci reproducibility` (the dependency audit is `ci audit`).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace::Workspace;

/// The fuzzing time budget per night, in seconds.
pub const FUZZ_BUDGET_S: u32 = 600;

/// Runs the size accounting's fuzz target (`fuzz/`, its own nightly-only
/// workspace) under libFuzzer for `budget_s` seconds, through cargo-fuzz.
///
/// Errors: a crash or a failed build. Without cargo-fuzz or a nightly
/// toolchain it prints why it was skipped and succeeds, so the nightly
/// report shows the skip instead of a false failure.
pub fn fuzz(ws: &Workspace, budget_s: u32) -> Result<()> {
    let fuzz_dir = ws.root.join("fuzz");
    if !fuzz_dir.join("Cargo.toml").is_file() {
        bail!("{} has no fuzz workspace", fuzz_dir.display());
    }
    if which::which("cargo-fuzz").is_err() {
        println!("fuzz: skipped: cargo-fuzz is not installed (cargo install cargo-fuzz)");
        return Ok(());
    }
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !nightly {
        println!("fuzz: skipped: no nightly toolchain (rustup toolchain install nightly)");
        return Ok(());
    }
    let targets = list_fuzz_targets(&fuzz_dir)?;
    if targets.is_empty() {
        bail!("{} lists no fuzz target", fuzz_dir.display());
    }
    let per_target = (budget_s / targets.len() as u32).max(1);
    for target in targets {
        println!("$ cargo +nightly fuzz run {target} -- -max_total_time={per_target}");
        let status = Command::new("cargo")
            .args(["+nightly", "fuzz", "run", &target, "--"])
            .arg(format!("-max_total_time={per_target}"))
            .current_dir(&fuzz_dir)
            .status()
            .context("cannot run cargo fuzz")?;
        if !status.success() {
            bail!("fuzz target {target} failed with {status} (crash input under fuzz/artifacts/)");
        }
    }
    Ok(())
}

fn list_fuzz_targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let path = fuzz_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let manifest: toml::Table =
        toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))?;
    Ok(manifest
        .get("bin")
        .and_then(|b| b.as_array())
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("name").and_then(|n| n.as_str()).map(String::from))
        .collect())
}

/// Clones HEAD twice into separate directories, each with its own target
/// directory, runs `cargo xtask release --out` in both, and requires the two
/// `SHA256SUMS` to be byte-identical: the archives do not depend on the
/// checkout's path, time or machine state.
///
/// Errors: a clone or release fails, or the checksums differ (both listed).
pub fn reproducibility(ws: &Workspace) -> Result<()> {
    let base = std::env::temp_dir().join(format!("xtask-repro-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let result = two_clones(ws, &base);
    let _ = std::fs::remove_dir_all(&base);
    result
}

fn two_clones(ws: &Workspace, base: &Path) -> Result<()> {
    let xtask = std::env::current_exe().context("locating xtask")?;
    let mut sums = Vec::new();
    for name in ["a", "b"] {
        // Different path lengths catch paths leaking into the archives.
        let clone = base.join(format!("{name}-{}", "x".repeat(sums.len() * 7)));
        let status = Command::new("git")
            .args(["clone", "--quiet", "--no-hardlinks"])
            .arg(&ws.root)
            .arg(&clone)
            .status()
            .context("cannot run git clone")?;
        if !status.success() {
            bail!("git clone of {} failed with {status}", ws.root.display());
        }
        let out = clone.join("dist");
        println!(
            "$ cargo xtask release --out {}  (in {})",
            out.display(),
            clone.display()
        );
        let status = Command::new(&xtask)
            .args(["release", "--out"])
            .arg(&out)
            .current_dir(&clone)
            .env("CARGO_TARGET_DIR", clone.join("target"))
            .status()
            .context("cannot run xtask release")?;
        if !status.success() {
            bail!("release in clone {name} failed with {status}");
        }
        let sums_path = out.join("SHA256SUMS");
        sums.push(
            std::fs::read_to_string(&sums_path)
                .with_context(|| format!("cannot read {}", sums_path.display()))?,
        );
    }
    if sums[0] != sums[1] {
        bail!(
            "the two clones' releases differ:\n--- a\n{}--- b\n{}",
            sums[0],
            sums[1]
        );
    }
    println!(
        "reproducibility: both clones produced identical archives ({} files)",
        sums[0].lines().count()
    );
    Ok(())
}
