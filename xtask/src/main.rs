//! `cargo xtask`: parses the command line and dispatches to the command's
//! `run`; everything else lives in the library.

use clap::Parser;
use xtask::cli::{Cli, Command};
use xtask::commands::{bench, build, ci, clippy, docker, native, qemu, release, setup, size_check};

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
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
