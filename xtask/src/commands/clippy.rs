//! `cargo xtask clippy`: clippy with `-D warnings` on the host crates (the
//! workspace's default members) and on every firmware package built for the
//! boards, per board, with that board's feature.

use anyhow::{Context, Result};
use xshell::cmd;

use crate::boards::Boards;
use crate::cargo::invocations;
use crate::cmd::{cargo, shell};
use crate::workspace::Workspace;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    let boards = Boards::load(&ws)?;
    let firmware = ws.firmware_cross_packages();
    clippy(&ws, &["--all-targets".to_string()])?;
    for board in boards.all() {
        for inv in invocations(&ws, board, &firmware) {
            let args = [
                vec!["--target".to_string(), board.target.clone()],
                inv.args(),
            ]
            .concat();
            clippy(&ws, &args)?;
        }
    }
    Ok(())
}

fn clippy(ws: &Workspace, args: &[String]) -> Result<()> {
    let shown = format!("cargo clippy {} -- -D warnings", args.join(" "));
    println!("$ {shown}");
    let sh = shell(&ws.root)?;
    let cargo = cargo();
    cmd!(sh, "{cargo} clippy {args...} -- -D warnings")
        .quiet()
        .run()
        .with_context(|| format!("`{shown}` failed"))
}
