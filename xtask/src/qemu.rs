//! `cargo xtask qemu`: builds the firmware test images and runs each on its
//! QEMU board with trustworthy verdicts (see `README.md`, "QEMU harness"), or
//! runs one ELF with `--elf` (also the cargo runner of both firmware targets).

mod bench;
mod console;
pub mod deadline;
pub mod expect;
mod manifest;
mod process;
mod report;
pub mod runner;
mod suite;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub use expect::{Expectation, Verdict};
pub use runner::{End, run_elf};

use crate::boards::{Board, Boards};
use crate::build::Profile;
use crate::workspace::Workspace;

/// The per-image timeout when neither the manifest nor `--timeout` sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run this one ELF and nothing else (what the cargo runner does).
    #[arg(long, value_name = "PATH")]
    pub elf: Option<PathBuf>,
    /// `arm`, `riscv`, `all`, a target triple or a board name. With `--elf`,
    /// defaults to the board matching the ELF's machine.
    #[arg(long)]
    pub target: Option<String>,
    /// Seconds per image; overrides the manifest and the 30 s default.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Scales every timeout (slow hosts, sanitiser builds).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub timeout_multiplier: f64,
    /// Firmware profile to build and run: `debug` or `release`.
    #[arg(long, default_value = "release", value_parser = parse_profile)]
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
    /// What cargo passes after the ELF path when used as the runner; the
    /// firmware has no command line, so these are ignored with a warning.
    #[arg(requires = "elf", value_name = "ARGS")]
    pub runner_args: Vec<String>,
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    match s {
        "debug" => Ok(Profile::Debug),
        "release" => Ok(Profile::Release),
        _ => Err(format!(
            "unknown profile `{s}`; valid profiles: debug, release"
        )),
    }
}

pub fn run(args: Args) -> Result<()> {
    if args.timeout.is_some_and(|t| !(t > 0.0 && t.is_finite())) {
        bail!("--timeout must be a positive number of seconds");
    }
    if !(args.timeout_multiplier > 0.0 && args.timeout_multiplier.is_finite()) {
        bail!("--timeout-multiplier must be a positive number");
    }
    let ws = Workspace::load()?;
    let boards = Boards::load(&ws)?;
    process::install_interrupt_handler();
    match &args.elf {
        Some(elf) => run_one(&args, &boards, elf),
        None => suite::run(&ws, &boards, &args),
    }
}

/// `--elf`: console to stdout as it arrives, then one verdict line.
fn run_one(args: &Args, boards: &Boards, elf: &Path) -> Result<()> {
    if !args.runner_args.is_empty() {
        eprintln!(
            "warning: ignoring arguments after the ELF ({}): firmware has no command line",
            args.runner_args.join(" ")
        );
    }
    let board = match &args.target {
        Some(sel) => match boards.select(sel)?.as_slice() {
            [one] => *one,
            _ => bail!("--elf needs one board; `{sel}` selects several"),
        },
        None => board_for_elf(boards, elf)?,
    };
    let timeout = Duration::from_secs_f64(args.timeout.unwrap_or(DEFAULT_TIMEOUT.as_secs_f64()))
        .mul_f64(args.timeout_multiplier);
    let expectation = Expectation::exit_zero();
    let mut watch = expectation.watcher();
    let label = format!("{}/{}", board.name, elf.display());
    let outcome = runner::run(runner::RunSpec {
        board,
        elf,
        extra_args: &[],
        timeout,
        watch: &mut watch,
        echo: true,
        label: &label,
    })?;
    let took = outcome.wall.as_secs_f64();
    match expectation.judge(&outcome).verdict {
        Verdict::Passed => {
            println!(
                "verdict: passed on {} in {took:.3}s (exit code 0)",
                board.name
            );
            Ok(())
        }
        Verdict::Failed(reason) => {
            println!("verdict: failed on {}: {reason} ({took:.3}s)", board.name);
            if outcome.end == End::TimedOut {
                println!(
                    "QEMU ended at the deadline: {} accounted, {took:.3}s wall, of which {:.3}s waiting for a CPU; last lines of output:",
                    expect::secs(timeout),
                    outcome.starved.as_secs_f64()
                );
                for line in outcome.tail(10) {
                    println!("    {line}");
                }
            }
            bail!("{}: {reason}", elf.display())
        }
    }
}

/// The board whose target matches the ELF's `e_machine` (ELF gABI: EM_ARM =
/// 40, EM_RISCV = 243).
///
/// Errors: unreadable or non-ELF file, or no single matching board.
fn board_for_elf<'a>(boards: &'a Boards, elf: &Path) -> Result<&'a Board> {
    let bytes = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let header = goblin::elf::Elf::parse_header(&bytes)
        .with_context(|| format!("{} is not an ELF file", elf.display()))?;
    let arch = match header.e_machine {
        goblin::elf::header::EM_ARM => ["thumb", "arm"].as_slice(),
        goblin::elf::header::EM_RISCV => ["riscv32"].as_slice(),
        m => bail!(
            "{}: e_machine {m} has no QEMU board; pass --target",
            elf.display()
        ),
    };
    let found: Vec<&Board> = boards
        .all()
        .iter()
        .filter(|b| arch.iter().any(|a| b.target.starts_with(a)))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        _ => bail!(
            "{}: cannot pick a board from the ELF alone; pass --target",
            elf.display()
        ),
    }
}

/// `cargo xtask bench qemu`: spawn-to-verdict per image (median of 20 runs)
/// and the whole suite's wall time.
pub fn bench() -> Result<()> {
    bench::run()
}
