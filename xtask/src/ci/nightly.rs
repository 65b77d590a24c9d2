//! The nightly fuzzing budget, as `cargo xtask ci fuzz`. (The other slow
//! checks are `cargo xtask release --reproducible` and `cargo xtask ci audit`.)

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
