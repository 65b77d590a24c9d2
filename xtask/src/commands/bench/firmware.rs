//! `cargo xtask bench firmware`: the kernel's measured goals.
//!
//! - Flash and RAM per release image, as `cargo xtask size-check` accounts
//!   them (PT_LOAD program headers), in process.
//! - Instructions per context switch on each board, printed by the
//!   `switch_bench` image run through the QEMU harness under the board's
//!   `-icount shift=N` (RISC-V: from `minstret`; Cortex-M3: from SysTick
//!   virtual time, converted here at 2^N ns an instruction; see the image
//!   and the kernel's ports).
//! - RAM per task: its control block and its stack.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::boards::{Board, Boards};
use crate::cargo::{self, Image, Profile};
use crate::elf::{self, Elf};
use crate::qemu;
use crate::qemu::stack::TaskStack;
use crate::workspace::Workspace;

/// The image that measures the switch, in the `fw-tests` package.
const BENCH_IMAGE: &str = "switch_bench";
/// Harness fixtures are not product images; they are left out of the table.
const FIXTURES: &str = "fw-fixtures";
/// Per-image flash goal in bytes, per target triple.
const FLASH_GOALS: [(&str, u64); 2] = [
    ("thumbv7m-none-eabi", 8 * 1024),
    ("riscv32imac-unknown-none-elf", 10 * 1024),
];
/// Instructions per context switch we aim for.
const SWITCH_GOAL: u64 = 100;
/// Wall-clock limit for one bench run (it takes well under a second).
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run() -> Result<()> {
    let ws = Workspace::load()?;
    let boards = Boards::load(&ws)?;
    let all: Vec<&Board> = boards.all().iter().collect();
    let images = cargo::build_images(&ws, &all, &[Profile::Release])?;
    footprint_table(&boards, &images)?;
    println!();
    switch_table(&all, &images)
}

/// Flash and RAM per product image, with the flash goal of its triple.
///
/// Errors: an image cannot be read or accounted.
fn footprint_table(boards: &Boards, images: &[Image]) -> Result<()> {
    println!("firmware footprint (release, bytes, as `cargo xtask size-check` counts them)");
    println!(
        "{:<16} {:<13} {:>7} {:>7} {:>9}",
        "image", "board", "flash", "RAM", "flash goal"
    );
    for image in images.iter().filter(|i| i.package() != FIXTURES) {
        let (flash, ram) = footprint(boards, image)?;
        let goal = FLASH_GOALS
            .iter()
            .find(|(t, _)| *t == image.target)
            .map(|(_, g)| *g);
        let verdict = match goal {
            Some(g) if flash <= g => format!("<= {g} ok"),
            Some(g) => format!("> {g} OVER"),
            None => "-".into(),
        };
        println!(
            "{:<16} {:<13} {:>7} {:>7} {:>9}",
            image.bin(),
            image.id.board,
            flash,
            ram,
            verdict
        );
    }
    Ok(())
}

/// Flash and RAM bytes of `image` on its board.
///
/// Errors: the ELF cannot be read, parsed or accounted.
fn footprint(boards: &Boards, image: &Image) -> Result<(u64, u64)> {
    let board = boards
        .get(&image.id.board)
        .with_context(|| format!("no board `{}`", image.id.board))?;
    let data = std::fs::read(&image.elf)
        .with_context(|| format!("cannot read {}", image.elf.display()))?;
    let usage = Elf::parse(&data)
        .and_then(|e| elf::account(&e, board.memory_map()))
        .map_err(|e| anyhow!("{}: {e}", image.elf.display()))?;
    Ok((usage.flash_bytes, usage.ram_bytes))
}

/// Instructions per context switch, per board, from `switch_bench`.
///
/// Errors: the image is missing, fails, or prints no figures.
fn switch_table(boards: &[&Board], images: &[Image]) -> Result<()> {
    println!(
        "context switch ({BENCH_IMAGE} under each board's QEMU -icount shift; goal <= {SWITCH_GOAL} instructions)"
    );
    println!(
        "{:<13} {:>10} {:>12} {:>10} {:>11}  counter",
        "board", "per switch", "yield+switch", "TCB bytes", "stack used"
    );
    for board in boards {
        let Some(image) = images
            .iter()
            .find(|i| i.bin() == BENCH_IMAGE && i.id.board == board.name)
        else {
            bail!("no `{BENCH_IMAGE}` image was built for {}", board.name);
        };
        let (transcript, stack) = run_image(&image.elf, board)?;
        let figures = SwitchFigures::parse(&transcript, &stack, board.ns_per_instruction())
            .with_context(|| {
                format!(
                    "{BENCH_IMAGE} on {}: unexpected transcript:\n{transcript}",
                    board.name
                )
            })?;
        let counter = if figures.from_virtual_time {
            format!(
                "SysTick virtual time / {} ns (shift {})",
                board.ns_per_instruction(),
                board.icount_shift
            )
        } else {
            "minstret".to_string()
        };
        println!(
            "{:<13} {:>10} {:>12} {:>10} {:>11}  {counter}",
            board.name,
            figures.per_switch,
            figures.per_yield,
            figures.tcb_bytes,
            format!("{}/{}", figures.stack_used, figures.stack_size),
        );
    }
    println!(
        "RAM per task = TCB + its declared stack (switch_bench's tasks: stack used / declared, bytes)"
    );
    Ok(())
}

/// Runs `elf` on `board` through the QEMU harness, returning the
/// firmware's console output and its tasks' stack report.
///
/// Errors: QEMU cannot start, or the image does not exit 0.
fn run_image(elf: &Path, board: &Board) -> Result<(String, Vec<TaskStack>)> {
    let outcome = passing_run(elf, board)?;
    Ok((outcome.console_text().join("\n"), outcome.stack))
}

/// One run of `elf` on `board` through the QEMU harness, within 30 s.
///
/// Errors: QEMU cannot start, or the image does not exit 0 (with its
/// console).
pub(crate) fn passing_run(elf: &Path, board: &Board) -> Result<qemu::RunOutcome> {
    let outcome = qemu::run_elf(board, elf, RUN_TIMEOUT)?;
    if outcome.exit_code() != Some(0) {
        bail!(
            "{} on {} did not pass ({:?}):\n{}",
            elf.display(),
            board.name,
            outcome.end,
            outcome.console_text().join("\n")
        );
    }
    Ok(outcome)
}

/// Figures printed by the `switch_bench` image, in instructions, and its
/// stack report.
#[derive(Debug, PartialEq, Eq)]
struct SwitchFigures {
    per_switch: u64,
    per_yield: u64,
    /// Converted from virtual nanoseconds (the image's unit `ns`).
    from_virtual_time: bool,
    tcb_bytes: u64,
    /// Most stack bytes used by a task of the bench, of `stack_size`.
    stack_used: u64,
    stack_size: u64,
}

impl SwitchFigures {
    /// Reads the figures; a count in `ns` of virtual time is turned into
    /// instructions at `ns_per_instruction` (2^shift under `-icount`).
    fn parse(transcript: &str, stack: &[TaskStack], ns_per_instruction: u64) -> Result<Self> {
        let line = |key: &str| -> Result<&str> {
            transcript
                .lines()
                .find_map(|l| l.trim_end().strip_prefix(key))
                .with_context(|| format!("no line `{key}N`"))
        };
        let counted = |key: &str| -> Result<(u64, bool)> {
            let rest = line(key)?;
            let (n, unit) = rest
                .split_once(' ')
                .with_context(|| format!("`{key}{rest}` has no unit"))?;
            let n: u64 = n
                .parse()
                .with_context(|| format!("`{key}` is not followed by a number"))?;
            match unit {
                "instructions" => Ok((n, false)),
                "ns" => Ok((n / ns_per_instruction.max(1), true)),
                _ => bail!("`{key}{rest}`: unit `{unit}` is neither instructions nor ns"),
            }
        };
        let number = |key: &str| -> Result<u64> {
            line(key)?
                .trim()
                .parse()
                .with_context(|| format!("`{key}` is not followed by a number"))
        };
        // The bench's own tasks, not the idle task's smaller stack.
        let tasks = stack.iter().filter(|t| t.task != "idle");
        let Some(stack_size) = tasks.clone().map(|t| t.size_bytes).max() else {
            bail!("no stack report (`@stack <task> <peak> <size>` lines)");
        };
        let (per_switch, from_virtual_time) = counted("per switch: ")?;
        Ok(Self {
            per_switch,
            per_yield: counted("per yield with switch: ")?.0,
            from_virtual_time,
            tcb_bytes: number("tcb bytes: ")?,
            stack_used: tasks.map(|t| t.peak_bytes).max().unwrap_or(0),
            stack_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_switch_bench_transcript() {
        let t = "switch_bench: 2000 yields between two tasks\n\
                 per yield with switch: 155 instructions\r\n\
                 per yield without switch: 31 instructions\n\
                 per switch: 124 instructions\n\
                 tcb bytes: 48\n\
                 PASS switch_bench\n";
        let task = |task: &str, peak_bytes, size_bytes| TaskStack {
            task: task.into(),
            peak_bytes,
            size_bytes,
        };
        let stack = [
            task("bench", 184, 1024),
            task("ping", 104, 1024),
            task("idle", 136, 200),
        ];
        let want = SwitchFigures {
            per_switch: 124,
            per_yield: 155,
            from_virtual_time: false,
            tcb_bytes: 48,
            stack_used: 184,
            stack_size: 1024,
        };
        assert_eq!(SwitchFigures::parse(t, &stack, 16).unwrap(), want);
        // Cortex-M3 under shift 4: virtual ns, 16 per instruction.
        let ns = t
            .replace("155 instructions", "2480 ns")
            .replace("124 instructions", "1984 ns");
        assert_eq!(
            SwitchFigures::parse(&ns, &stack, 16).unwrap(),
            SwitchFigures {
                from_virtual_time: true,
                ..want
            }
        );
    }

    #[test]
    fn a_missing_figure_is_an_error() {
        let stack = [TaskStack {
            task: "a".into(),
            peak_bytes: 1,
            size_bytes: 2,
        }];
        let err = SwitchFigures::parse("tcb bytes: 48\n", &stack, 1).unwrap_err();
        assert!(err.to_string().contains("per switch"), "{err}");
        let err = SwitchFigures::parse("per switch: 1 instructions\n", &[], 1).unwrap_err();
        assert!(err.to_string().contains("no stack report"), "{err}");
    }
}
