//! `cargo xtask qemu`: builds the firmware test images and runs each on its
//! QEMU board with trustworthy verdicts (see `README.md`, "QEMU harness"), or
//! runs one ELF with `--elf` (also the cargo runner of both firmware targets).
//! `--build-only --bundle DIR` writes the built suite as a bundle, which
//! `--bundle DIR` runs anywhere without compiling firmware.

pub mod bench;
mod coverage;
pub mod report;
mod shown;
pub mod single;
mod suite;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, anyhow};

use crate::boards::{BoardArgs, Boards};
use crate::cargo::Profile;
use crate::qemu::{DEFAULT_TIMEOUT, deadline, expect, process};
use crate::workspace::Workspace;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run this one ELF and nothing else (what the cargo runner does):
    /// its console to stdout, the verdict to stderr.
    #[arg(long, value_name = "PATH")]
    pub elf: Option<PathBuf>,
    #[command(flatten)]
    pub single: single::Options,
    #[command(flatten)]
    pub boards: BoardArgs,
    /// Run the boards' QEMU executables from this directory instead of
    /// `PATH` (e.g. another QEMU release, unpacked).
    #[arg(long, value_name = "DIR")]
    pub qemu_dir: Option<PathBuf>,
    /// Seconds per image, 0.001 to 86400; overrides the manifest and the
    /// 30 s default.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<f64>,
    /// Scales every timeout (slow hosts, sanitiser builds); the result must
    /// stay within 1 ms to 24 h.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = parse_multiplier)]
    pub timeout_multiplier: f64,
    /// Firmware profile to build and run.
    #[arg(long, value_enum, default_value_t = Profile::Release)]
    pub profile: Profile,
    /// Parallel QEMU runs (default: the number of CPU cores).
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// Rerun a failed test up to N times; one that then passes is `flaky`.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retry_failed: u32,
    /// Exit non-zero when a test was flaky.
    #[arg(long)]
    pub fail_on_flaky: bool,
    /// Run only this test (repeatable).
    #[arg(long, value_name = "NAME")]
    pub test: Vec<String>,
    /// Run only the tests that failed or errored in the last run (its JSON
    /// report under `<target_dir>/reports/`).
    #[arg(long)]
    pub only_failed: bool,
    /// Run shard N of M (1-based), e.g. `--subset 2/4`.
    #[arg(long, value_name = "N/M", value_parser = suite::Subset::parse)]
    pub subset: Option<suite::Subset>,
    /// List the selected tests and exit without building.
    #[arg(long)]
    pub list: bool,
    /// Accept a run that tests nothing (no test selected, or every
    /// selected test skipped); without it such a run fails.
    #[arg(long)]
    pub allow_empty: bool,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write a JSON report here (one is always written under
    /// `<target_dir>/reports/qemu.json`).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Test manifest (default `qemu/tests.toml`).
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Build the selected tests' images and run nothing; with `--bundle`,
    /// write them as a bundle.
    #[arg(long, conflicts_with_all = ["elf", "subset", "list", "only_failed"])]
    pub build_only: bool,
    /// With `--build-only`: write the bundle (ELFs, manifest, expected
    /// output, boards, SHA256SUMS) to DIR. Without: run the bundle in DIR,
    /// compiling nothing, after checking its SHA256SUMS.
    #[arg(long, value_name = "DIR", conflicts_with = "elf")]
    pub bundle: Option<PathBuf>,
    /// Budgets file whose `stack` budgets the tasks of every image are held
    /// to [default: qemu/budgets.toml].
    #[arg(long, value_name = "FILE")]
    pub budgets: Option<PathBuf>,
    /// Line coverage: build in the `coverage` profile, log QEMU's
    /// translated code (`-d in_asm`), and write
    /// `<target_dir>/reports/coverage/lcov.info` and a per-file table.
    /// Not with a bundle: its images are built without line tables.
    #[arg(long, conflicts_with_all = ["profile", "elf", "bundle", "build_only"])]
    pub coverage: bool,
    /// What cargo passes after the ELF path when used as the runner; the
    /// firmware has no command line, so these are ignored with a warning.
    #[arg(requires = "elf", value_name = "ARGS")]
    pub runner_args: Vec<String>,
}

fn parse_timeout(text: &str) -> Result<f64, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    deadline::timeout_from_secs(secs).map(|_| secs)
}

fn parse_multiplier(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f > 0.0 && f.is_finite() => Ok(f),
        _ => Err(format!("`{text}` is not a positive factor")),
    }
}

impl Args {
    /// The profile the images are built in: `coverage` with `--coverage`.
    fn profile(&self) -> Profile {
        if self.coverage {
            Profile::Coverage
        } else {
            self.profile
        }
    }

    /// A test's timeout (the manifest's, else 30 s) after `--timeout` and
    /// `--timeout-multiplier`.
    ///
    /// Errors: the result lies outside 1 ms to 24 h; the message names both
    /// flags.
    fn timeout(&self, manifest: Option<Duration>) -> Result<Duration> {
        let base = self
            .timeout
            .map(Duration::from_secs_f64)
            .or(manifest)
            .unwrap_or(DEFAULT_TIMEOUT);
        let secs = base.as_secs_f64() * self.timeout_multiplier;
        deadline::timeout_from_secs(secs).map_err(|e| {
            anyhow!(
                "timeout {} × --timeout-multiplier {:?}: {e}",
                expect::secs(base),
                self.timeout_multiplier
            )
        })
    }
}

pub fn run(args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    let mut boards = Boards::load(&ws)?;
    if let Some(dir) = &args.qemu_dir {
        boards = boards.with_qemu_dir(dir)?;
    }
    process::install_interrupt_handler();
    match &args.elf {
        Some(elf) => single::run(&args, &ws, &boards, elf),
        None => suite::run(&ws, &boards, &args),
    }
}
