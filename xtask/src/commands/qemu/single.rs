//! `cargo xtask qemu --elf PATH`: one ELF, its console to stdout as it
//! arrives, then one verdict line. Also the cargo runner of both firmware
//! targets.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use super::Args;
use crate::boards::{Board, Boards, Selector};
use crate::elf::Elf;
use crate::qemu::{self, End, Expectation, RunSpec, Verdict, expect};

pub fn run(args: &Args, boards: &Boards, elf: &Path) -> Result<()> {
    if !args.runner_args.is_empty() {
        eprintln!(
            "warning: ignoring arguments after the ELF ({}): firmware has no command line",
            args.runner_args.join(" ")
        );
    }
    let board = board_for(boards, args.boards.target.as_ref(), elf)?;
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

/// The board to run `path` on, checked before QEMU starts: the one
/// `selector` names, which must run the ELF's `e_machine`, else the one
/// whose memory map holds the ELF (see [`Boards::board_for_elf`]). As
/// `size-check --elf` does, through the one ELF reader.
///
/// Errors: an unreadable file, one that is not an Arm or RISC-V ELF, a
/// board of another architecture, or no single fitting board.
fn board_for<'a>(
    boards: &'a Boards,
    selector: Option<&Selector>,
    path: &Path,
) -> Result<&'a Board> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let elf =
        Elf::parse(&bytes).map_err(|e| anyhow!("{}: {e}; nothing was run", path.display()))?;
    match selector {
        Some(sel) => boards.board_for_elf_named(sel, &elf),
        None => boards.board_for_elf(&elf),
    }
    .map_err(|e| anyhow!("{}: {e:#}; nothing was run", path.display()))
}
