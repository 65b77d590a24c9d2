//! `cargo xtask clippy`: clippy with `-D warnings` on the host crates (the
//! workspace's default members) and on every firmware package per target.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::boards::Boards;
use crate::workspace::Workspace;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    let boards = Boards::load(&ws)?;
    let firmware: Vec<String> = ws
        .metadata
        .workspace_packages()
        .iter()
        .filter(|p| {
            p.manifest_path
                .as_std_path()
                .starts_with(ws.root.join("firmware"))
        })
        .map(|p| p.name.to_string())
        .collect();
    clippy(&ws, &["--all-targets"])?;
    for board in boards.all() {
        let mut args = vec!["--target", board.target.as_str()];
        for p in &firmware {
            args.extend(["--package", p.as_str()]);
        }
        clippy(&ws, &args)?;
    }
    Ok(())
}

fn clippy(ws: &Workspace, args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("$ cargo clippy {} -- -D warnings", args.join(" "));
    let status = Command::new(cargo)
        .current_dir(&ws.root)
        .arg("clippy")
        .args(args)
        .args(["--", "-D", "warnings"])
        .status()
        .context("cannot run cargo clippy")?;
    if !status.success() {
        bail!("cargo clippy {} failed with {status}", args.join(" "));
    }
    Ok(())
}
