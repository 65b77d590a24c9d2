//! Placeholder for `cargo xtask bench firmware`: implemented by its own issue.

use anyhow::{Result, bail};

pub fn run() -> Result<()> {
    bail!("`bench firmware` is not implemented yet")
}
