//! `cargo xtask qemu --elf PATH`: one ELF, its console to stdout as it
//! arrives, then one verdict line. Also the cargo runner of both firmware
//! targets.

use std::path::Path;

use anyhow::{Context, Result, bail};

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
        bail!("{old}");
    }
    let timeout = args.timeout(None);
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

/// The board to run the ELF on (see [`Boards::board_for_elf`]), checked
/// before QEMU starts. A file that is no ELF runs only on a board named
/// alone (QEMU loads it as a raw image).
///
/// Errors: unreadable file; a damaged ELF without a board named; no board
/// of the selection whose memory map holds every `PT_LOAD` segment.
fn board_for<'a>(boards: &'a Boards, selection: &BoardArgs, path: &Path) -> Result<&'a Board> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let elf = match Elf::parse(&bytes) {
        Ok(elf) => elf,
        Err(e) => match boards.select(selection)?.as_slice() {
            [one] if !selection.is_empty() => return Ok(one),
            _ => bail!(
                "{}: {e}; name its board with --board to run it anyway",
                path.display()
            ),
        },
    };
    boards
        .board_for_elf(selection, &elf)
        .with_context(|| format!("{}: not run", path.display()))
}
