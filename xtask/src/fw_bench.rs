//! `cargo xtask bench firmware`: the kernel's measured goals.
//!
//! - Flash and RAM per release image, as `cargo xtask size-check --json`
//!   accounts them (PT_LOAD program headers).
//! - Instructions per context switch on each board, printed by the
//!   `switch_bench` image run through the QEMU harness under `-icount
//!   shift=0` (RISC-V: from `minstret`; Cortex-M3: from SysTick virtual
//!   time, one instruction per virtual nanosecond; see the image and the
//!   kernel's ports).
//! - RAM per task: its control block and its stack.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::boards::{Board, Boards};
use crate::build::{self, Profile};
use crate::qemu;
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
    let images = build::build_images(&ws, &all, &[Profile::Release])?;

    let products: Vec<_> = images.iter().filter(|i| i.package != FIXTURES).collect();
    let sizes = footprints(products.iter().map(|i| i.elf.as_path()))?;
    println!("firmware footprint (release, bytes, as `cargo xtask size-check` counts them)");
    println!(
        "{:<16} {:<13} {:>7} {:>7} {:>9}",
        "image", "board", "flash", "RAM", "flash goal"
    );
    for image in &products {
        let Some(&(flash, ram)) = sizes.get(&image.elf) else {
            bail!("size-check reported nothing for {}", image.elf.display());
        };
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

/// Flash and RAM bytes per ELF, from `cargo xtask size-check --json
/// --elf …` (one JSON object per line with `elf`, `flash_bytes` and
/// `ram_bytes`).
///
/// Errors: size-check cannot run or prints no usable JSON.
fn footprints<'a>(elfs: impl Iterator<Item = &'a Path>) -> Result<BTreeMap<PathBuf, (u64, u64)>> {
    let xtask = std::env::current_exe().context("cannot locate the xtask binary")?;
    let mut cmd = Command::new(xtask);
    cmd.args(["size-check", "--json"]);
    for elf in elfs {
        cmd.arg("--elf").arg(elf);
    }
    let out = cmd
        .output()
        .context("cannot run `cargo xtask size-check`")?;
    let sizes = parse_size_json(&String::from_utf8_lossy(&out.stdout))?;
    if sizes.is_empty() {
        bail!(
            "`cargo xtask size-check --json` printed no sizes ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(sizes)
}

fn parse_size_json(text: &str) -> Result<BTreeMap<PathBuf, (u64, u64)>> {
    let mut sizes = BTreeMap::new();
    for line in text.lines().filter(|l| l.trim_start().starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(line).context("size-check printed a line that is not JSON")?;
        let field = |k: &str| {
            v.get(k)
                .with_context(|| format!("size-check JSON has no `{k}`"))
        };
        let elf = field("elf")?.as_str().context("`elf` is not a string")?;
        let flash = field("flash_bytes")?
            .as_u64()
            .context("`flash_bytes` is not an integer")?;
        let ram = field("ram_bytes")?
            .as_u64()
            .context("`ram_bytes` is not an integer")?;
        sizes.insert(PathBuf::from(elf), (flash, ram));
    }
    Ok(sizes)
}

/// Runs `elf` on `board` through the QEMU harness, returning the
/// firmware's console output.
///
/// Errors: QEMU cannot start, or the image does not exit 0.
fn run_image(elf: &Path, board: &Board) -> Result<String> {
    let outcome = qemu::run_elf(board, elf, RUN_TIMEOUT)?;
    let console = outcome.console.join("\n");
    if outcome.exit_code() != Some(0) {
        bail!(
            "{} on {} did not pass ({:?}):\n{console}",
            elf.display(),
            board.name,
            outcome.end
        );
    }
    Ok(console)
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
    fn reads_sizes_from_size_check_json_lines() {
        let text = concat!(
            r#"{"image":"sifive_e/sched","elf":"t/rv/sched","flash_bytes":7424,"ram_bytes":4756}"#,
            "\n",
            r#"{"image":"lm3s6965evb/sched","elf":"t/arm/sched","flash_bytes":6280,"ram_bytes":4680}"#,
            "\n",
        );
        let sizes = parse_size_json(text).unwrap();
        assert_eq!(sizes[Path::new("t/rv/sched")], (7424, 4756));
        assert_eq!(sizes[Path::new("t/arm/sched")], (6280, 4680));
        let err = parse_size_json(r#"{"elf":"x","flash_bytes":1}"#).unwrap_err();
        assert!(err.to_string().contains("ram_bytes"), "{err}");
    }
}
