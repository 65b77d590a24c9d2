//! Placeholder: implemented by its own issue.

use anyhow::{Result, bail};

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    bail!("`size_check` is not implemented yet")
}

/// `cargo xtask bench` entry for this module.
pub fn bench() -> Result<()> {
    bail!("`bench` for `size_check` is not implemented yet")
}
