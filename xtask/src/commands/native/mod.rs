//! `cargo xtask native`: builds and tests the native shim on every backend
//! this machine can build, and says for each what happened:
//!
//! - CUDA: nvcc builds one fatbin (see `native/fatbin.rs`), which the crate
//!   embeds; the CUDA tests run if a device probes `Ready`.
//! - Metal: on macOS built and tested; elsewhere type-checked with
//!   `cargo check --target aarch64-apple-darwin`.
//! - CPU: always built and tested; it is the reference.
//!
//! Then the firmware `fir` image runs in QEMU on each board and its digest
//! is compared with the CPU reference.
//!
//! Also `bench native` (throughput).

mod fatbin;
mod firmware;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::{Cmd, Shell, cmd};

use crate::cmd::{capture, cargo, shell};
use crate::toolkits;
use crate::workspace::Workspace;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The backends to build and test.
    #[arg(long, value_enum, default_value = "all")]
    pub backend: BackendSel,
    /// Fail unless this GPU backend was built and tested here (GPU runners).
    #[arg(long, value_enum)]
    pub require: Option<Gpu>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            backend: BackendSel::All,
            require: None,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendSel {
    Cpu,
    Cuda,
    Metal,
    All,
}

impl BackendSel {
    fn selects(self, backend: &str) -> bool {
        match self {
            Self::Cpu => backend == "cpu",
            Self::Cuda => backend == "cuda",
            Self::Metal => backend == "metal",
            Self::All => true,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gpu {
    Cuda,
    Metal,
}

impl Gpu {
    fn name(self) -> &'static str {
        match self {
            Self::Cuda => "cuda",
            Self::Metal => "metal",
        }
    }
}

/// The package, its build-time variable and the target used to type-check
/// Metal off macOS.
const PACKAGE: &str = "native";

/// The packages whose tests the native step runs (`cargo test -p dsp -p
/// native`, with the fatbin when nvcc built one); the `test` step leaves
/// them to it.
pub const TESTED_PACKAGES: [&str; 2] = ["dsp", PACKAGE];
const FATBIN_ENV: &str = "NATIVE_CUDA_FATBIN";
const METAL_CHECK_TARGET: &str = "aarch64-apple-darwin";

/// What happened to one backend; `Display` is the line `native` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Tested(String),
    NotRun(String),
    TypeChecked,
    Skipped(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tested(d) => write!(f, "built + tested ({d})"),
            Self::NotRun(status) => write!(f, "built, not run: {status}"),
            Self::TypeChecked => f.write_str("type-checked, not run (needs macOS)"),
            Self::Skipped(why) => write!(f, "skipped: {why}"),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    let sh = shell(&ws.root)?;
    let want = |name: &str| args.backend.selects(name);
    let mut outcomes: BTreeMap<&str, Outcome> = BTreeMap::new();
    let mut runnable = vec!["cpu"];

    let mut fatbin_path = None;
    if want("cuda") {
        if cfg!(target_os = "macos") {
            outcomes.insert(
                "cuda",
                Outcome::Skipped("CUDA is not supported on macOS".into()),
            );
        } else if let Some(nvcc) = toolkits::find_nvcc(&ws) {
            let fb = fatbin::build(&ws, &nvcc.path)?;
            println!(
                "native: fatbin {} ({} bytes, {}; nvcc from {}{})",
                shown(&ws, &fb.path),
                fb.bytes,
                fb.arches(),
                nvcc.via,
                if fb.rebuilt { "" } else { ", unchanged" }
            );
            fatbin_path = Some(fb.path);
            runnable.push("cuda");
        } else {
            outcomes.insert(
                "cuda",
                Outcome::Skipped(toolkits::nvcc_search_description(&ws)),
            );
        }
    }
    if want("metal") {
        if cfg!(target_os = "macos") {
            runnable.push("metal");
        } else {
            outcomes.insert("metal", metal_type_check(&sh)?);
        }
    }

    cargo_tests(&sh, fatbin_path.as_deref())?;
    for (backend, outcome) in selftest(&sh, fatbin_path.as_deref(), &runnable)? {
        if backend == "cpu" && !want("cpu") {
            continue;
        }
        outcomes.insert(backend, outcome);
    }

    let firmware = if want("cpu") {
        Some(match firmware::check(&ws)? {
            firmware::Outcome::Skipped(why) => format!("skipped: {why}"),
            firmware::Outcome::Matched(boards) => format!(
                "`{}` digest equals the CPU reference on {}",
                firmware::IMAGE,
                boards
                    .iter()
                    .map(|b| format!("{} (0x{:08x})", b.board, b.digest))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        })
    } else {
        None
    };

    for (backend, outcome) in &outcomes {
        println!("native: {backend:<8} {outcome}");
    }
    if let Some(line) = firmware {
        println!("native: firmware {line}");
    }
    match args.require {
        Some(gpu) => check_required(&outcomes, gpu),
        None => Ok(()),
    }
}

/// `--require X`: anything but "built + tested" for X is a failure, so a GPU
/// runner without a working GPU cannot pass.
fn check_required(outcomes: &BTreeMap<&str, Outcome>, gpu: Gpu) -> Result<()> {
    match outcomes.get(gpu.name()) {
        Some(Outcome::Tested(_)) => Ok(()),
        Some(other) => bail!("--require {}: {} was {other}", gpu.name(), gpu.name()),
        None => bail!("--require {}: {} was not selected", gpu.name(), gpu.name()),
    }
}

fn shown(ws: &Workspace, path: &Path) -> String {
    path.strip_prefix(&ws.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A cargo command in the workspace with the fatbin (if any) passed to the
/// native crate's build script. The variable is removed otherwise, so a
/// stale value from the caller's environment cannot leak in.
fn with_fatbin<'a>(cmd: Cmd<'a>, fatbin: Option<&Path>) -> Cmd<'a> {
    match fatbin {
        Some(p) => cmd.env(FATBIN_ENV, p),
        None => cmd.env_remove(FATBIN_ENV),
    }
}

/// Runs `cmd` with inherited stdio.
///
/// Errors: it cannot start or fails; `what` names it.
fn status_ok(cmd: Cmd<'_>, what: &str) -> Result<()> {
    cmd.quiet().run().with_context(|| format!("{what} failed"))
}

/// `cargo test -p dsp -p native`: golden vectors, the CPU conformance and
/// the probe-status tests (and GPU conformance where a device is ready).
fn cargo_tests(sh: &Shell, fatbin: Option<&Path>) -> Result<()> {
    let cargo = cargo();
    let packages = TESTED_PACKAGES.map(|p| ["-p", p]).concat();
    let shown = format!("`cargo test {}`", packages.join(" "));
    status_ok(
        with_fatbin(cmd!(sh, "{cargo} test {packages...}"), fatbin),
        &shown,
    )
}

/// Runs the `selftest` example for `backends` and reads one outcome per
/// backend from its `selftest <backend> <status> <pass|fail|not-run> <detail>`
/// lines.
///
/// Errors: the build fails, a backend fails its conformance check, or the
/// output lacks a backend.
fn selftest(
    sh: &Shell,
    fatbin: Option<&Path>,
    backends: &[&'static str],
) -> Result<Vec<(&'static str, Outcome)>> {
    let cargo = cargo();
    let out = with_fatbin(
        cmd!(
            sh,
            "{cargo} run --quiet -p {PACKAGE} --example selftest -- {backends...}"
        ),
        fatbin,
    )
    .quiet()
    .ignore_status()
    .output()
    .context("cannot run cargo for the native selftest")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut results = Vec::new();
    for &backend in backends {
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("selftest {backend} ")))
            .with_context(|| {
                format!(
                    "the native selftest printed no line for {backend} ({}):\n{stdout}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
        let mut fields = line.splitn(3, ' ');
        let (status, verdict, detail) = (
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
        );
        results.push((
            backend,
            match verdict {
                "pass" => Outcome::Tested(detail.to_string()),
                "not-run" => Outcome::NotRun(format!("{status} ({detail})")),
                _ => bail!("{backend} is not bit-exact with the CPU reference: {detail}"),
            },
        ));
    }
    if !out.status.success() {
        bail!("the native selftest failed with {}:\n{stdout}", out.status);
    }
    Ok(results)
}

/// Off macOS: `cargo check --target aarch64-apple-darwin -p native
/// --all-targets`, which compiles the Metal backend's Rust against the
/// objc2-metal bindings without linking or running it.
///
/// Errors: the check fails. A missing rust-std for the target is a skip.
fn metal_type_check(sh: &Shell) -> Result<Outcome> {
    let sysroot = PathBuf::from(capture(cmd!(sh, "rustc --print sysroot"))?);
    if !sysroot
        .join("lib/rustlib")
        .join(METAL_CHECK_TARGET)
        .join("lib")
        .is_dir()
    {
        return Ok(Outcome::Skipped(format!(
            "rust target {METAL_CHECK_TARGET} is not installed (run `cargo xtask setup`)"
        )));
    }
    let cargo = cargo();
    status_ok(
        cmd!(
            sh,
            "{cargo} check --quiet --all-targets -p {PACKAGE} --target {METAL_CHECK_TARGET}"
        ),
        "`cargo check --target aarch64-apple-darwin -p native` (Metal type-check)",
    )?;
    Ok(Outcome::TypeChecked)
}

/// `cargo xtask bench native`: builds the fatbin where nvcc is found, then
/// runs the `bench` example optimised (`--profile bench` at opt-level 3,
/// without the firmware's size-oriented LTO) on every backend.
///
/// Errors: the build or the bench fails.
pub fn bench() -> Result<()> {
    let ws = Workspace::load()?;
    let fatbin = match toolkits::find_nvcc(&ws) {
        Some(nvcc) if !cfg!(target_os = "macos") => Some(fatbin::build(&ws, &nvcc.path)?.path),
        _ => None,
    };
    let sh = shell(&ws.root)?;
    let cargo = cargo();
    let bench = cmd!(
        sh,
        "{cargo} run --quiet --profile bench -p {PACKAGE} --example bench"
    )
    .env("CARGO_PROFILE_BENCH_OPT_LEVEL", "3")
    .env("CARGO_PROFILE_BENCH_LTO", "false")
    .env("CARGO_PROFILE_BENCH_CODEGEN_UNITS", "16");
    status_ok(with_fatbin(bench, fatbin.as_deref()), "the native bench")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_fails_unless_tested() {
        let mut outcomes = BTreeMap::new();
        outcomes.insert("cuda", Outcome::NotRun("NoDriver (x)".into()));
        outcomes.insert("metal", Outcome::TypeChecked);
        let err = check_required(&outcomes, Gpu::Cuda)
            .unwrap_err()
            .to_string();
        assert!(err.contains("built, not run: NoDriver"), "{err}");
        assert!(check_required(&outcomes, Gpu::Metal).is_err());
        outcomes.insert("cuda", Outcome::Skipped("nvcc not found".into()));
        assert!(check_required(&outcomes, Gpu::Cuda).is_err());
        outcomes.insert("cuda", Outcome::Tested("ok".into()));
        assert!(check_required(&outcomes, Gpu::Cuda).is_ok());
        outcomes.clear();
        assert!(
            check_required(&outcomes, Gpu::Cuda).is_err(),
            "not selected"
        );
    }

    #[test]
    fn backend_selection() {
        assert!(BackendSel::All.selects("metal"));
        assert!(BackendSel::Cuda.selects("cuda"));
        assert!(!BackendSel::Cuda.selects("cpu"));
    }

    #[test]
    fn outcome_lines() {
        assert_eq!(
            Outcome::Tested("1 samples".into()).to_string(),
            "built + tested (1 samples)"
        );
        assert_eq!(
            Outcome::NotRun("NoDriver (x)".into()).to_string(),
            "built, not run: NoDriver (x)"
        );
        assert_eq!(
            Outcome::TypeChecked.to_string(),
            "type-checked, not run (needs macOS)"
        );
        assert_eq!(Outcome::Skipped("y".into()).to_string(), "skipped: y");
    }
}
