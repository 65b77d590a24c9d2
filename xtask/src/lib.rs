//! The build driver behind `cargo xtask`, as a library: the services that
//! the commands share, and the commands themselves.
//!
//! Services:
//!
//! - [`workspace`]: where things are (`cargo metadata`), atomic writes;
//! - [`boards`]: the QEMU boards of `qemu/boards.toml`, their memory maps,
//!   and which boards an ELF fits;
//! - [`elf`]: the one ELF reader (goblin) and the flash/RAM accounting after
//!   the ELF gABI;
//! - [`cargo`]: firmware builds per board and profile, with the board
//!   feature, reproducible paths, and one file per image;
//! - [`image`]: typed image identities;
//! - [`cmd`] and [`git`]: one-shot commands through xshell;
//! - [`toolkits`]: the tools `cargo xtask setup` installs under `.cache/`;
//! - [`qemu`]: one ELF in QEMU (process group, deadline, console, verdict)
//!   and the test manifest;
//! - [`fuzz`]: the libFuzzer run of the ELF reader;
//! - [`term`]: colour and live displays, one decision for every command;
//! - [`fault`]: the fault points that the crash tests kill xtask at.
//!
//! Commands: one module per subcommand under [`commands`], each with an
//! `Args` type and a `run(args) -> Result<()>`; [`cli::Cli`] is the command
//! line that `main.rs` parses and dispatches.

pub mod boards;
pub mod cargo;
pub mod cli;
pub mod cmd;
pub mod commands;
pub mod elf;
pub mod fault;
pub mod fuzz;
pub mod git;
pub mod image;
pub mod qemu;
pub mod term;
pub mod toolkits;
pub mod workspace;
