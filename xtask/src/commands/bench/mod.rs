//! `cargo xtask bench <what>`: prints performance figures. Speed and memory
//! goals live here, not in timed tests. The benchmarks of one command live
//! beside it; the firmware's own figures in [`firmware`].

pub mod firmware;

use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Flash and RAM per image, RAM per task, instructions per context switch.
    Firmware,
    /// Time from QEMU spawn to verdict per image, and the whole suite.
    Qemu,
    /// Time of the ELF size accounting per image, in-process.
    Size,
    /// Throughput of every available native backend.
    Native,
    /// A clean xtask build, a fresh clone's setup and ci per step, a warm
    /// rerun and a rerun after a one-line kernel edit.
    Ci(super::ci::bench::Args),
}

pub fn run(args: Args) -> Result<()> {
    match args.what {
        What::Firmware => firmware::run(),
        What::Qemu => super::qemu::bench::run(),
        What::Size => super::size_check::bench::run(),
        What::Native => super::native::bench(),
        What::Ci(args) => super::ci::bench::run(args),
    }
}
