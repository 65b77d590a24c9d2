//! One module per `cargo xtask` subcommand, each with its `Args` and a
//! `run(args) -> Result<()>`. Commands use the services at the crate root;
//! they do not call each other, except that `bench` runs the benchmarks
//! that live beside the commands they measure.

pub mod bench;
pub mod build;
pub mod ci;
pub mod clippy;
pub mod docker;
pub mod native;
pub mod qemu;
pub mod release;
pub mod setup;
pub mod size_check;
