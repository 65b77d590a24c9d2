//! The one fuzz runner, behind `cargo xtask ci fuzz` (nightly CI) and
//! `cargo xtask size-check --fuzz`: cargo-fuzz runs every target of `fuzz/`
//! (its own nightly-only workspace) under libFuzzer, one job, the time
//! budget shared between the targets, and fails on any crash, timeout or
//! out-of-memory it finds.

use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::cmd;

use crate::cmd::{capture, run, shell};
use crate::workspace::Workspace;

/// The fuzzing time budget of the nightly run, in seconds.
pub const BUDGET_S: u64 = 600;

/// libFuzzer options besides the time budget: a 10 s limit per input, a
/// 2 GiB memory limit, and the final statistics.
const LIBFUZZER_ARGS: [&str; 3] = ["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"];

/// Fuzzes every target of `fuzz/Cargo.toml` for `budget_s` seconds in all,
/// each from its corpus `fuzz/corpus/<target>/`.
///
/// Errors: no fuzz workspace or target, or a target that fails to build or
/// finds a crashing input (libFuzzer's report names the artifact under
/// `fuzz/artifacts/<target>/`). Without cargo-fuzz or a nightly toolchain it
/// prints `skipped:` and why, and succeeds.
pub fn run_all(ws: &Workspace, budget_s: u64) -> Result<()> {
    let dir = ws.root.join("fuzz");
    if !dir.join("Cargo.toml").is_file() {
        bail!("{} has no fuzz workspace", dir.display());
    }
    if let Some(why) = missing_tools(&dir) {
        println!("fuzz: skipped: {why}");
        return Ok(());
    }
    let targets = targets(&dir)?;
    if targets.is_empty() {
        bail!("{} lists no fuzz target", dir.display());
    }
    let per_target = (budget_s / targets.len() as u64).max(1);
    let sh = shell(&dir)?;
    for target in &targets {
        let corpus = dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("cannot create {}", corpus.display()))?;
        let budget = format!("-max_total_time={per_target}");
        run(cmd!(
            sh,
            "cargo +nightly fuzz run {target} {corpus} -- {budget} {LIBFUZZER_ARGS...}"
        ))
        .with_context(|| {
            format!(
                "fuzz target {target} failed; the crashing input is under {}",
                dir.join("artifacts").join(target).display()
            )
        })?;
    }
    Ok(())
}

/// Why the fuzzer cannot run here, if it cannot.
fn missing_tools(dir: &Path) -> Option<String> {
    if which::which("cargo-fuzz").is_err() {
        return Some("cargo-fuzz is not installed (cargo install cargo-fuzz)".into());
    }
    let sh = shell(dir).ok()?;
    capture(cmd!(sh, "rustup run nightly rustc --version"))
        .err()
        .map(|_| "no nightly toolchain (rustup toolchain install nightly)".into())
}

/// The `[[bin]]` names of the fuzz workspace: its targets.
fn targets(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join("Cargo.toml");
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
