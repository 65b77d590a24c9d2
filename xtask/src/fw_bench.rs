//! `cargo xtask bench firmware`: the kernel's measured goals.
//!
//! - Flash and RAM per release image, from the ELF's PT_LOAD program
//!   headers (ELF gABI): flash is the file-backed bytes (`p_filesz`, so
//!   `.data`'s flash copy counts), RAM the memory size (`p_memsz`) of the
//!   segments whose VMA lies in the board's RAM region.
//! - Instructions per context switch on each board, printed by the
//!   `switch_bench` image run under QEMU `-icount shift=0` (RISC-V: from
//!   `minstret`; Cortex-M3: from SysTick virtual time, one instruction per
//!   virtual nanosecond; see the image and the kernel's ports).
//! - RAM per task: its control block and its stack.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use goblin::elf::{Elf, program_header::PT_LOAD};

use crate::boards::{Board, Boards, Region};
use crate::build::{self, Image, Profile};
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

pub fn run() -> Result<()> {
    let ws = Workspace::load()?;
    let boards = Boards::load(&ws)?;
    let all: Vec<&Board> = boards.all().iter().collect();
    let images = build::build_images(&ws, &all, &[Profile::Release])?;

    println!(
        "firmware footprint (release; bytes; flash = PT_LOAD file bytes, RAM = PT_LOAD memory in RAM)"
    );
    println!(
        "{:<16} {:<13} {:>7} {:>7} {:>9}",
        "image", "board", "flash", "RAM", "flash goal"
    );
    for image in images.iter().filter(|i| i.package != FIXTURES) {
        let board = board_of(&all, image)?;
        let (flash, ram) = footprint(&image.elf, &board.memory.ram)?;
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
            image.name, image.board, flash, ram, verdict
        );
    }

    println!();
    println!(
        "context switch ({BENCH_IMAGE} under QEMU -icount shift=0; goal <= {SWITCH_GOAL} instructions)"
    );
    println!(
        "{:<13} {:>10} {:>12} {:>10} {:>11}  counter",
        "board", "per switch", "yield+switch", "TCB bytes", "stack used"
    );
    for board in &all {
        let Some(image) = images
            .iter()
            .find(|i| i.name == BENCH_IMAGE && i.board == board.name)
        else {
            bail!("no `{BENCH_IMAGE}` image was built for {}", board.name);
        };
        let transcript = run_image(&image.elf, board)?;
        let figures = SwitchFigures::parse(&transcript).with_context(|| {
            format!(
                "{BENCH_IMAGE} on {}: unexpected transcript:\n{transcript}",
                board.name
            )
        })?;
        let counter = if board.target.starts_with("riscv") {
            "minstret"
        } else {
            "SysTick virtual time"
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

fn board_of<'a>(boards: &[&'a Board], image: &Image) -> Result<&'a Board> {
    boards
        .iter()
        .copied()
        .find(|b| b.name == image.board)
        .with_context(|| format!("no board `{}` in qemu/boards.toml", image.board))
}

/// Flash and RAM bytes of the ELF at `path` (see the module docs).
///
/// Errors: the file cannot be read or is not an ELF.
fn footprint(path: &Path, ram: &Region) -> Result<(u64, u64)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let elf =
        Elf::parse(&bytes).with_context(|| format!("{} is not a valid ELF", path.display()))?;
    let loads = elf.program_headers.iter().filter(|p| p.p_type == PT_LOAD);
    let (mut flash, mut ram_bytes) = (0, 0);
    for p in loads {
        flash += p.p_filesz;
        if ram.contains(p.p_vaddr, p.p_memsz) {
            ram_bytes += p.p_memsz;
        }
    }
    Ok((flash, ram_bytes))
}

/// Runs `elf` on `board` through the QEMU harness (`cargo xtask qemu
/// --elf`), returning the firmware's console output.
///
/// Errors: the harness cannot start, or the image does not pass.
fn run_image(elf: &Path, board: &Board) -> Result<String> {
    let xtask = std::env::current_exe().context("cannot locate the xtask binary")?;
    let out = Command::new(xtask)
        .arg("qemu")
        .arg("--elf")
        .arg(elf)
        .args(["--target", &board.alias])
        .output()
        .context("cannot run `cargo xtask qemu --elf`")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "`cargo xtask qemu --elf {} --target {}` failed ({}):\n{stdout}{}",
            elf.display(),
            board.alias,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

/// Figures printed by the `switch_bench` image.
#[derive(Debug, PartialEq, Eq)]
struct SwitchFigures {
    per_switch: u64,
    per_yield: u64,
    tcb_bytes: u64,
    /// Most stack bytes used by a task of the bench, of `stack_size`.
    stack_used: u64,
    stack_size: u64,
}

impl SwitchFigures {
    fn parse(transcript: &str) -> Result<Self> {
        let number = |key: &str| -> Result<u64> {
            transcript
                .lines()
                .find_map(|l| l.trim_end().strip_prefix(key))
                .with_context(|| format!("no line `{key}N`"))?
                .trim()
                .parse()
                .with_context(|| format!("`{key}` is not followed by a number"))
        };
        let (mut stack_used, mut stack_size) = (0, 0);
        for line in transcript.lines() {
            // `stack <task>: used <n> of <size> bytes`
            let Some(rest) = line.strip_prefix("stack ") else {
                continue;
            };
            let words: Vec<&str> = rest.split_whitespace().collect();
            if let [_, "used", used, "of", size, "bytes"] = words[..] {
                stack_used = stack_used.max(used.parse()?);
                stack_size = size.parse()?;
            }
        }
        if stack_size == 0 {
            bail!("no `stack <task>: used N of M bytes` line");
        }
        Ok(Self {
            per_switch: number("instructions per switch: ")?,
            per_yield: number("instructions per yield with switch: ")?,
            tcb_bytes: number("tcb bytes: ")?,
            stack_used,
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
                 instructions per yield with switch: 155\r\n\
                 instructions per yield without switch: 31\n\
                 instructions per switch: 124\n\
                 tcb bytes: 48\n\
                 stack bench: used 184 of 1024 bytes\n\
                 stack ping: used 104 of 1024 bytes\n\
                 PASS switch_bench\n";
        assert_eq!(
            SwitchFigures::parse(t).unwrap(),
            SwitchFigures {
                per_switch: 124,
                per_yield: 155,
                tcb_bytes: 48,
                stack_used: 184,
                stack_size: 1024
            }
        );
    }

    #[test]
    fn a_missing_figure_is_an_error() {
        let err = SwitchFigures::parse("stack a: used 1 of 2 bytes\n").unwrap_err();
        assert!(err.to_string().contains("instructions per switch"), "{err}");
    }

    #[test]
    fn footprint_of_a_file_that_is_not_elf_names_it() {
        let dir = std::env::temp_dir().join(format!("fw-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("not-an-elf");
        std::fs::write(&path, b"plain text").unwrap();
        let ram = Region {
            origin: 0x2000_0000,
            length: 0x1000,
        };
        let err = format!("{:#}", footprint(&path, &ram).unwrap_err());
        assert!(err.contains("not-an-elf"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
