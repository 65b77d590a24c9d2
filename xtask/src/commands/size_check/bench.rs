//! `cargo xtask bench size`: builds the release images and times the
//! in-process accounting of each (parse and [`elf::account`], and with
//! [`Elf::symbols`]), as the mean over repeated runs. Goal: ≤ 5 ms per
//! firmware image.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::workspace_targets;
use crate::boards::{BoardArgs, Boards};
use crate::elf::{self, Elf};
use crate::workspace::Workspace;

const GOAL: Duration = Duration::from_millis(5);

pub fn run() -> Result<()> {
    let ws = Workspace::load()?;
    let boards = Boards::load(&ws)?;
    let targets = workspace_targets(&ws, &boards, &BoardArgs::default())?;
    println!(
        "{:40} {:>9} {:>14} {:>16}  goal ≤ {} ms",
        "image",
        "ELF B",
        "account µs",
        "+symbols µs",
        GOAL.as_millis()
    );
    let mut worst = Duration::ZERO;
    for t in &targets {
        let map = t.board.memory_map();
        let account = time_per_run(|| {
            let e = Elf::parse(&t.data)?;
            elf::account(&e, map).map(|u| u.flash_bytes)
        })
        .with_context(|| format!("{}", t.elf.display()))?;
        let with_symbols = time_per_run(|| {
            let e = Elf::parse(&t.data)?;
            let u = elf::account(&e, map)?;
            Ok(u.flash_bytes + e.symbols(map)?.len() as u64)
        })
        .with_context(|| format!("{}", t.elf.display()))?;
        worst = worst.max(with_symbols);
        println!(
            "{:40} {:>9} {:>14.1} {:>16.1}  {}",
            t.image.to_string(),
            t.data.len(),
            account.as_secs_f64() * 1e6,
            with_symbols.as_secs_f64() * 1e6,
            if with_symbols <= GOAL { "ok" } else { "OVER" }
        );
    }
    println!(
        "{} images, slowest {:.1} µs per ELF (goal ≤ {} ms)",
        targets.len(),
        worst.as_secs_f64() * 1e6,
        GOAL.as_millis()
    );
    Ok(())
}

/// Mean wall time of `f` over at least 20 runs and about 200 ms.
fn time_per_run(mut f: impl FnMut() -> Result<u64, elf::Error>) -> Result<Duration> {
    std::hint::black_box(f()?);
    let start = Instant::now();
    let mut runs = 0u32;
    while runs < 20 || start.elapsed() < Duration::from_millis(200) {
        std::hint::black_box(f()?);
        runs += 1;
    }
    Ok(start.elapsed() / runs)
}
