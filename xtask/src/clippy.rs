//! `cargo xtask clippy`: clippy with `-D warnings` on the host crates (the
//! workspace's default members) and on every firmware package per board
//! (its target, and `--features board/<name>` for packages on `board`).

use std::process::Command;

use anyhow::{Context, Result, bail};
use cargo_metadata::DependencyKind;

use crate::boards::Boards;
use crate::workspace::Workspace;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    let boards = Boards::load(&ws)?;
    let firmware = cross_packages(&ws);
    clippy(&ws, &["--all-targets"])?;
    for board in boards.all() {
        let feature = crate::build::board_feature(&ws, &firmware, board);
        let mut args = vec!["--target", board.target.as_str()];
        for p in &firmware {
            args.extend(["--package", p.as_str()]);
        }
        if let Some(feature) = &feature {
            args.extend(["--features", feature.as_str()]);
        }
        clippy(&ws, &args)?;
    }
    Ok(())
}

/// Packages under `firmware/` that are built for the boards: all but host
/// crates that other packages use only as a build-dependency (such as
/// `board-map`, which board build scripts run on the host); those are
/// default members and checked with the host crates.
fn cross_packages(ws: &Workspace) -> Vec<String> {
    let packages = ws.metadata.workspace_packages();
    let build_only = |name: &str| {
        let uses = || {
            packages
                .iter()
                .flat_map(|p| &p.dependencies)
                .filter(|d| d.name == name)
        };
        uses().next().is_some() && uses().all(|d| d.kind == DependencyKind::Build)
    };
    packages
        .iter()
        .filter(|p| {
            p.manifest_path
                .as_std_path()
                .starts_with(ws.root.join("firmware"))
        })
        .filter(|p| !build_only(&p.name))
        .map(|p| p.name.to_string())
        .collect()
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
