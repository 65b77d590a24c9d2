//! The pieces of `cargo xtask size-check`: ELF accounting (`elf`, also built
//! by the fuzz target), budgets, baselines, symbols, report rendering, and
//! the fuzzing run.

pub mod baseline;
pub mod budget;
pub mod check;
pub mod elf;
pub mod fuzz;
pub mod report;
pub mod symbols;
