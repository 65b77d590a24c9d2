//! `cargo xtask ci qemu-7.2`: the QEMU suite on Debian 12's stock QEMU 7.2
//! (see [`crate::stock_qemu`]), beside the run on the installed QEMU, so
//! that a version regression shows here rather than on a user's machine.
//! A board whose `min_qemu` is above 7.2 has its tests skipped up front,
//! never failed. Without the unpacked QEMU it says `skipped:` and why.

use anyhow::{Context, Result};
use clap::Parser;

use crate::commands::qemu;
use crate::stock_qemu;
use crate::workspace::Workspace;

/// `cargo xtask qemu`'s command line, parsed here.
#[derive(Parser)]
struct QemuCommand {
    #[command(flatten)]
    args: qemu::Args,
}

pub fn run(ws: &Workspace) -> Result<()> {
    let Some(bin) = stock_qemu::bin_dir(ws) else {
        println!("qemu 7.2: skipped: {}", stock_qemu::missing_reason(ws));
        return Ok(());
    };
    let json = ws.reports_dir().join("qemu-7.2.json");
    let argv = [
        "qemu".as_ref(),
        "--qemu-dir".as_ref(),
        bin.as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
    ];
    let cmd = QemuCommand::try_parse_from(argv).context("the qemu command line")?;
    qemu::run(cmd.args)
}
