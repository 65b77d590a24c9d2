//! `cargo xtask bench <what>`: prints performance figures. Speed and memory
//! goals live here, not in timed tests.

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
}

pub fn run(args: Args) -> Result<()> {
    match args.what {
        What::Firmware => crate::fw_bench::run(),
        What::Qemu => crate::qemu::bench(),
        What::Size => crate::size_check::bench(),
        What::Native => crate::native::bench(),
    }
}
