//! `cargo xtask size-check --fuzz [SECS]`: runs the cargo-fuzz target in
//! `fuzz/` (libFuzzer on `elf.rs`) for a time budget, one job, and fails on
//! any crash, timeout or out-of-memory it finds.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The fuzz target, in `fuzz/Cargo.toml`.
const TARGET: &str = "elf_account";

/// Fuzzes for `seconds`, printing libFuzzer's final statistics.
///
/// Errors: nightly or cargo-fuzz is missing (with the command that installs
/// it), or the fuzzer found an input that crashes; libFuzzer's report names
/// the artifact under `fuzz/artifacts/elf_account/`.
pub fn run(root: &Path, seconds: u64) -> Result<()> {
    let dir = root.join("fuzz");
    let probe = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        bail!(
            "`cargo +nightly fuzz` is not available; install it with `rustup toolchain install nightly && cargo install cargo-fuzz`"
        );
    }
    let corpus = dir.join("corpus").join(TARGET);
    std::fs::create_dir_all(&corpus)
        .with_context(|| format!("cannot create {}", corpus.display()))?;
    eprintln!("size-check: fuzzing `{TARGET}` for {seconds} s (one job)");
    let status = Command::new("cargo")
        .args(["+nightly", "fuzz", "run", TARGET])
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"])
        .current_dir(&dir)
        .status()
        .context("cannot run cargo fuzz")?;
    if !status.success() {
        bail!(
            "fuzzing `{TARGET}` failed ({status}); the crashing input is under {}",
            dir.join("artifacts").join(TARGET).display()
        );
    }
    Ok(())
}
