//! Placeholder: implemented by its own issue.

use anyhow::{Result, bail};

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    bail!("`native` is not implemented yet")
}

/// Installs the CUDA toolkit for `setup --cuda`.
pub fn setup_cuda(_ws: &crate::workspace::Workspace) -> Result<()> {
    bail!("`setup --cuda` is not implemented yet")
}

/// `cargo xtask bench` entry for this module.
pub fn bench() -> Result<()> {
    bail!("`bench` for `native` is not implemented yet")
}
