//! The command line of `cargo xtask`: one subcommand per module of
//! [`crate::commands`].

use clap::{Parser, Subcommand};

use crate::commands::{bench, build, ci, clippy, docker, native, qemu, release, setup, size_check};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
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
