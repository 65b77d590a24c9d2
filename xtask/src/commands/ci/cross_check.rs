//! `cargo xtask ci cross-check`: `cargo check -p xtask` for the foreign host
//! triples of [`CROSS_TARGETS`], in one cargo call and in the lint
//! directories ([`Workspace::lint_dirs`]), so that `cargo xtask` keeps
//! building on Windows and macOS.

use anyhow::{Context, Result};
use xshell::cmd;

use super::plan::CROSS_TARGETS;
use crate::cmd::{cargo, shell};
use crate::workspace::Workspace;

/// Errors: cargo fails, for a type error on either triple or a missing
/// rustup target (`cargo xtask setup` installs both).
pub fn run(ws: &Workspace) -> Result<()> {
    let targets = CROSS_TARGETS.map(|t| ["--target", t]).concat();
    let shown = format!("cargo check -p xtask {}", targets.join(" "));
    println!("$ {shown}");
    let dirs = ws.lint_dirs();
    let sh = shell(&ws.root)?;
    let cargo = cargo();
    cmd!(sh, "{cargo} check -p xtask {targets...}")
        .env("CARGO_TARGET_DIR", &dirs.target)
        .env("CARGO_BUILD_BUILD_DIR", &dirs.build)
        .quiet()
        .run()
        .with_context(|| format!("`{shown}` failed"))
}
