//! The pieces of `cargo xtask size-check`: ELF accounting (`elf`, also built
//! by the fuzz target), budgets, baselines, symbols and report rendering.

pub mod baseline;
pub mod budget;
pub mod check;
pub mod elf;
pub mod report;
pub mod symbols;
