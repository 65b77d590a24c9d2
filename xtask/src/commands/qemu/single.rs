//! `cargo xtask qemu --elf PATH`: one ELF, its console to stdout as it
//! arrives, then one verdict line. Also the cargo runner of both firmware
//! targets.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use super::Args;
use crate::boards::qemu_version::Installed;
use crate::boards::{Board, BoardArgs, Boards};
use crate::elf::Elf;
use crate::qemu::{self, End, Expectation, RunSpec, Verdict, expect};

pub fn run(args: &Args, boards: &Boards, elf: &Path) -> Result<()> {
    if !args.runner_args.is_empty() {
        eprintln!(
            "warning: ignoring arguments after the ELF ({}): firmware has no command line",
            args.runner_args.join(" ")
        );
    }
    let board = board_for(boards, &args.boards, elf)?;
    if let Some(old) = Installed::read(&[board]).too_old(&[board]).first() {
        bail!("{old}; nothing was run");
    }
    let timeout = args.timeout(None)?;
    let expectation = Expectation::exit_zero();
    let mut watch = expectation.watcher();
    let label = format!("{}/{}", board.name, elf.display());
    let outcome = qemu::run(RunSpec {
        board,
        elf,
        extra_args: &[],
        timeout,
        watch: &mut watch,
        echo: true,
        label: &label,
    })?;
    let took = outcome.wall.as_secs_f64();
    match expectation.judge(&outcome).verdict {
        Verdict::Passed => {
            println!(
                "verdict: passed on {} in {took:.3}s (exit code 0)",
                board.name
            );
            Ok(())
        }
        Verdict::Failed(reason) => {
            println!("verdict: failed on {}: {reason} ({took:.3}s)", board.name);
            if outcome.end == End::TimedOut {
                println!(
                    "QEMU ended at the deadline: {} accounted, {took:.3}s wall, of which {:.3}s waiting for a CPU; last lines of output:",
                    expect::secs(timeout),
                    outcome.starved.as_secs_f64()
                );
                for line in outcome.tail(10) {
                    println!("    {line}");
                }
            }
            bail!("{}: {reason}", elf.display())
        }
    }
}

/// The board to run `path` on (see [`Boards::board_for_elf`]), checked
/// before QEMU starts, through the one ELF reader that `size-check --elf`
/// uses.
///
/// Errors: an unreadable file, one that is not an Arm or RISC-V ELF, a
/// named board of another architecture, or no board of the selection whose
/// memory map holds every `PT_LOAD` segment.
fn board_for<'a>(boards: &'a Boards, selection: &BoardArgs, path: &Path) -> Result<&'a Board> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let elf =
        Elf::parse(&bytes).map_err(|e| anyhow!("{}: {e}; nothing was run", path.display()))?;
    boards
        .board_for_elf(selection, &elf)
        .map_err(|e| anyhow!("{}: {e:#}; nothing was run", path.display()))
}
