//! `cargo xtask`: the workspace's build driver. Each subcommand lives in its
//! own module with an `Args` type and a `run(args) -> Result<()>`; this file
//! only parses the command line and dispatches.

mod bench;
mod boards;
mod build;
mod ci;
mod clippy;
mod docker;
mod fw_bench;
mod native;
mod qemu;
mod release;
mod setup;
mod size_check;
mod workspace;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install the Rust targets and components, QEMU, and optional toolkits.
    Setup(setup::Args),
    /// Cross-build the firmware and print each ELF's path.
    Build(build::Args),
    /// Run clippy with `-D warnings` on host crates and on every firmware target.
    Clippy(clippy::Args),
    /// Build and run the firmware test images in QEMU, or run one ELF.
    Qemu(qemu::Args),
    /// Check flash and RAM usage against budgets and baselines.
    SizeCheck(size_check::Args),
    /// Package, checksum and verify release archives.
    Release(release::Args),
    /// Build and test the native (CPU / CUDA / Metal) shim.
    Native(native::Args),
    /// Print performance figures.
    Bench(bench::Args),
    /// Build the CI container image.
    Docker(docker::Args),
    /// Run everything CI runs, then print one summary.
    Ci(ci::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup(args) => setup::run(args),
        Command::Build(args) => build::run(args),
        Command::Clippy(args) => clippy::run(args),
        Command::Qemu(args) => qemu::run(args),
        Command::SizeCheck(args) => size_check::run(args),
        Command::Release(args) => release::run(args),
        Command::Native(args) => native::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Docker(args) => docker::run(args),
        Command::Ci(args) => ci::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
