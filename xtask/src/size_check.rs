//! `cargo xtask size-check`: flash and RAM usage of every release firmware
//! image (or of given ELFs) against budgets and a baseline.
//!
//! Accounting rules are in `size/elf.rs`; budgets in `size/budget.rs`; the
//! baseline format in `size/baseline.rs`; the failure messages in
//! `size/check.rs`. A run fails (exit 1) when an image is over an absolute
//! limit, grew past the growth threshold, or is in the baseline but missing
//! from the build.

#[path = "size/mod.rs"]
pub(crate) mod size;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::boards::{Board, Boards};
use crate::build::{self, Profile};
use crate::workspace::{self, Workspace};
use size::baseline::{self, Record, Records};
use size::budget::{Amount, Budgets};
use size::elf::{self, Machine, MemoryMap, Region, Span, Usage};
use size::report::{self, Deltas, ImageReport, RegionReport, Sections, SegmentReport};
use size::{check, symbols};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Check this ELF instead of building the workspace's release images
    /// (repeatable). Works on any Arm or RISC-V ELF.
    #[arg(long = "elf", value_name = "PATH")]
    pub elf: Vec<PathBuf>,
    /// Boards to build (`arm`, `riscv`, `all`, a triple or a board name), or
    /// with `--elf` the board whose memory map applies (default: from the
    /// ELF's e_machine).
    #[arg(long, visible_alias = "board", value_name = "BOARD")]
    pub target: Option<String>,
    /// Print one JSON object per ELF (JSON Lines) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Flash limit for every image, replacing the budgets file: bytes, KiB, MiB or % of flash.
    #[arg(long, value_name = "BYTES", value_parser = parse_amount)]
    pub flash_limit: Option<Amount>,
    /// RAM limit for every image, replacing the budgets file: bytes, KiB, MiB or % of RAM.
    #[arg(long, value_name = "BYTES", value_parser = parse_amount)]
    pub ram_limit: Option<Amount>,
    /// Growth allowed over the baseline, e.g. `1%` or `256` (bytes), replacing the budgets file.
    #[arg(long, value_name = "AMOUNT", value_parser = parse_amount)]
    pub max_growth: Option<Amount>,
    /// Rewrite the baseline with this run's sizes and print the diff applied.
    #[arg(long, conflicts_with = "compare_to")]
    pub update_baseline: bool,
    /// Compare against this saved report or baseline (JSON), or against an
    /// older build of the one `--elf` (an ELF), instead of the baseline.
    #[arg(long, value_name = "FILE")]
    pub compare_to: Option<PathBuf>,
    /// Write the pull-request Markdown report here (default without
    /// `--elf`: `<target_dir>/reports/size.md`).
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// List the top N symbols by size (default 20), grouped by crate.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "20")]
    pub symbols: Option<usize>,
    /// Budgets file [default: qemu/budgets.toml].
    #[arg(long, value_name = "FILE")]
    pub budgets: Option<PathBuf>,
    /// Baseline file [default: qemu/size-baseline.json; with `--elf`, only
    /// when given].
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Instead of checking sizes, fuzz the ELF accounting for SECS seconds
    /// (default 600; needs nightly and cargo-fuzz).
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "600",
          conflicts_with_all = ["elf", "update_baseline", "compare_to", "json", "symbols"])]
    pub fuzz: Option<u64>,
}

fn parse_amount(text: &str) -> Result<Amount, String> {
    Amount::parse(text).map_err(|e| e.to_string())
}

/// How many symbol deltas the Markdown report lists per image.
const TOP_SYMBOL_DELTAS: usize = 10;

/// One ELF to check.
struct Target {
    image: String,
    board: Board,
    elf: PathBuf,
    data: Vec<u8>,
}

impl Target {
    fn map(&self) -> MemoryMap {
        memory_map(&self.board)
    }
}

fn memory_map(board: &Board) -> MemoryMap {
    let span = |r: crate::boards::Region| Span {
        origin: r.origin,
        length: r.length,
    };
    MemoryMap {
        flash: span(board.memory.flash),
        ram: span(board.memory.ram),
    }
}

/// Where base sizes come from.
struct Base {
    label: String,
    records: Records,
    /// Whether images missing from the build fail the run (a full baseline
    /// compared with a full build).
    complete: bool,
}

pub fn run(args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    if let Some(seconds) = args.fuzz {
        return size::fuzz::run(&ws.root, seconds);
    }
    let boards = Boards::load(&ws)?;
    let budgets_path = args
        .budgets
        .clone()
        .unwrap_or_else(|| ws.qemu_dir().join("budgets.toml"));
    let budgets = Budgets::load(&budgets_path)?;
    let workspace_mode = args.elf.is_empty();
    if args.update_baseline && !workspace_mode && args.baseline.is_none() {
        bail!(
            "--update-baseline with --elf needs --baseline FILE: qemu/size-baseline.json records the workspace's own images"
        );
    }
    let selector = args.target.as_deref().unwrap_or("all");
    let targets = if workspace_mode {
        workspace_targets(&ws, &boards, selector)?
    } else {
        args.elf
            .iter()
            .map(|p| elf_target(&boards, args.target.as_deref(), p))
            .collect::<Result<Vec<_>>>()?
    };
    let mut usages = Vec::new();
    for t in &targets {
        let usage =
            elf::account(&t.data, &t.map()).map_err(|e| anyhow!("{}: {e}", t.elf.display()))?;
        usages.push(usage);
    }

    let baseline_path = args
        .baseline
        .clone()
        .unwrap_or_else(|| ws.qemu_dir().join("size-baseline.json"));
    let mut base = load_base(&ws, &args, &targets, workspace_mode, &baseline_path)?;
    if args.update_baseline {
        update_baseline(&ws, &targets, &usages, workspace_mode, &baseline_path)?;
        // Moving the baseline is deliberate: only absolute budgets apply.
        base = None;
    }

    let mut reports = Vec::new();
    for (t, usage) in targets.iter().zip(&usages) {
        reports.push(image_report(&args, &budgets, base.as_ref(), t, usage)?);
    }
    let missing = match &base {
        Some(b) if b.complete => {
            let selected: Vec<&str> = boards
                .select(selector)?
                .iter()
                .map(|b| b.name.as_str())
                .collect();
            b.records
                .values()
                .filter(|r| {
                    selected
                        .iter()
                        .any(|s| r.image.split('/').next() == Some(*s))
                })
                .filter(|r| !targets.iter().any(|t| t.image == r.image))
                .map(|r| check::missing(r, &b.label))
                .collect()
        }
        _ => Vec::new(),
    };

    if args.json {
        for r in &reports {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        print!("{}", report::table(&reports));
        print!("{}", report::symbol_tables(&reports));
    }
    let markdown = args
        .markdown
        .clone()
        .or_else(|| workspace_mode.then(|| ws.reports_dir().join("size.md")));
    if let Some(path) = markdown {
        workspace::write_atomic(&path, report::markdown(&reports, &missing).as_bytes())?;
        eprintln!("size-check: Markdown report in {}", path.display());
    }
    if workspace_mode {
        let path = ws.reports_dir().join("size.json");
        let doc = serde_json::json!({ "images": &reports, "missing": &missing });
        workspace::write_atomic(&path, serde_json::to_string_pretty(&doc)?.as_bytes())?;
        eprintln!("size-check: JSON report in {}", path.display());
    }

    let failures: Vec<&String> = reports
        .iter()
        .flat_map(|r| &r.failures)
        .chain(&missing)
        .collect();
    if !failures.is_empty() {
        let lines: Vec<String> = failures.iter().map(|f| format!("  {f}")).collect();
        let hint = match &base {
            Some(b) if args.compare_to.is_none() => format!(
                "\nIf a growth or removal is intended, run `cargo xtask size-check --update-baseline` and commit {}.",
                b.label
            ),
            _ => String::new(),
        };
        bail!(
            "{} size check(s) failed:\n{}{hint}",
            failures.len(),
            lines.join("\n")
        );
    }
    Ok(())
}

/// Builds the release images of the selected boards.
fn workspace_targets(ws: &Workspace, boards: &Boards, selector: &str) -> Result<Vec<Target>> {
    let selected = boards.select(selector)?;
    let images = build::build_images(ws, &selected, &[Profile::Release])?;
    let mut targets = Vec::new();
    for image in images {
        let board = boards
            .all()
            .iter()
            .find(|b| b.name == image.board)
            .with_context(|| format!("board `{}` vanished", image.board))?
            .clone();
        let data = std::fs::read(&image.elf)
            .with_context(|| format!("cannot read {}", image.elf.display()))?;
        targets.push(Target {
            image: format!("{}/{}/{}", image.board, image.package, image.name),
            board,
            elf: image.elf,
            data,
        });
    }
    Ok(targets)
}

fn machine_of_target(triple: &str) -> Option<Machine> {
    if triple.starts_with("thumb") || triple.starts_with("arm") {
        Some(Machine::Arm)
    } else if triple.starts_with("riscv32") {
        Some(Machine::RiscV)
    } else {
        None
    }
}

/// Reads an ELF given with `--elf` and picks its board: the one named by
/// `--target`/`--board`, else the only board whose target matches the ELF's
/// `e_machine`.
fn elf_target(boards: &Boards, selector: Option<&str>, path: &Path) -> Result<Target> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let machine = elf::machine(&data).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let board = match selector {
        Some(sel) => {
            let found = boards.select(sel)?;
            let [board] = found.as_slice() else {
                bail!(
                    "--target `{sel}` selects {} boards; name one board for --elf",
                    found.len()
                );
            };
            if machine_of_target(&board.target) != Some(machine) {
                bail!(
                    "{}: the ELF is {} but board `{}` is {}",
                    path.display(),
                    machine.name(),
                    board.name,
                    board.target
                );
            }
            (*board).clone()
        }
        None => {
            let found: Vec<&Board> = boards
                .all()
                .iter()
                .filter(|b| machine_of_target(&b.target) == Some(machine))
                .collect();
            match found.as_slice() {
                [board] => (*board).clone(),
                [] => bail!(
                    "{}: no board in qemu/boards.toml runs {} images",
                    path.display(),
                    machine.name()
                ),
                many => bail!(
                    "{}: several boards run {} images ({}); pick one with --board",
                    path.display(),
                    machine.name(),
                    many.iter()
                        .map(|b| b.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    };
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok(Target {
        image: format!("{}/{file}", board.name),
        board,
        elf: path.to_path_buf(),
        data,
    })
}

fn relative(ws: &Workspace, path: &Path) -> String {
    path.strip_prefix(&ws.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn load_base(
    ws: &Workspace,
    args: &Args,
    targets: &[Target],
    workspace_mode: bool,
    baseline_path: &Path,
) -> Result<Option<Base>> {
    if let Some(path) = &args.compare_to {
        let data =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        if data.starts_with(b"\x7fELF") {
            let [target] = targets else {
                bail!("--compare-to an ELF needs exactly one --elf to compare it with");
            };
            let usage = elf::account(&data, &target.map())
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            let record = Record {
                image: target.image.clone(),
                flash_bytes: usage.flash_bytes,
                ram_bytes: usage.ram_bytes,
                elf: Some(path.clone()),
            };
            return Ok(Some(Base {
                label: path.display().to_string(),
                records: Records::from([(record.image.clone(), record)]),
                complete: false,
            }));
        }
        return Ok(Some(Base {
            label: path.display().to_string(),
            records: baseline::load(path)?,
            complete: workspace_mode,
        }));
    }
    if !workspace_mode && args.baseline.is_none() {
        return Ok(None);
    }
    if !baseline_path.exists() {
        if !args.update_baseline {
            eprintln!(
                "size-check: no baseline at {}; run `cargo xtask size-check --update-baseline` to record one",
                baseline_path.display()
            );
        }
        return Ok(None);
    }
    Ok(Some(Base {
        label: relative(ws, baseline_path),
        records: baseline::load(baseline_path)?,
        complete: workspace_mode,
    }))
}

/// Rewrites the baseline with the measured sizes and prints the diff. In
/// workspace mode the records of the built boards are replaced; with `--elf`
/// the given images are added or updated.
fn update_baseline(
    ws: &Workspace,
    targets: &[Target],
    usages: &[Usage],
    workspace_mode: bool,
    path: &Path,
) -> Result<()> {
    let old_text = if path.exists() {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    } else {
        String::new()
    };
    let mut records = if old_text.is_empty() {
        Records::new()
    } else {
        baseline::load(path)?
    };
    if workspace_mode {
        let built: Vec<&str> = targets.iter().map(|t| t.board.name.as_str()).collect();
        records.retain(|image, _| !built.iter().any(|b| image.split('/').next() == Some(*b)));
    }
    for (t, u) in targets.iter().zip(usages) {
        records.insert(
            t.image.clone(),
            Record {
                image: t.image.clone(),
                flash_bytes: u.flash_bytes,
                ram_bytes: u.ram_bytes,
                elf: None,
            },
        );
    }
    let new_text = baseline::render(&records)?;
    let label = relative(ws, path);
    if new_text == old_text {
        eprintln!("size-check: baseline {label} is up to date");
        return Ok(());
    }
    let diff = similar::TextDiff::from_lines(&old_text, &new_text);
    eprint!(
        "size-check: updated baseline {label}:\n{}",
        diff.unified_diff()
            .header(&format!("a/{label}"), &format!("b/{label}"))
    );
    workspace::write_atomic(path, new_text.as_bytes())
}

fn image_report(
    args: &Args,
    budgets: &Budgets,
    base: Option<&Base>,
    t: &Target,
    usage: &Usage,
) -> Result<ImageReport> {
    let record = base.and_then(|b| b.records.get(&t.image));
    let map = t.map();
    let mut failures = Vec::new();
    let mut regions = BTreeMap::new();
    for (region, span, used, cli, base_bytes) in [
        (
            Region::Flash,
            map.flash,
            usage.flash_bytes,
            args.flash_limit,
            record.map(|r| r.flash_bytes),
        ),
        (
            Region::Ram,
            map.ram,
            usage.ram_bytes,
            args.ram_limit,
            record.map(|r| r.ram_bytes),
        ),
    ] {
        let name = region.name();
        let limits = budgets.limits(&t.image, name, span.length, base_bytes.unwrap_or(0));
        let (mut limit, mut source) = match cli {
            Some(a) => (a.bytes_of(span.length), format!("--{name}-limit {a}")),
            None => limits
                .limit
                .unwrap_or((span.length, format!("{name} region of {}", t.board.name))),
        };
        if span.length < limit {
            (limit, source) = (span.length, format!("{name} region of {}", t.board.name));
        }
        failures.extend(check::over_limit(&t.image, name, used, limit, &source));
        if let (Some(b), Some(base_bytes), Some(threshold)) =
            (base, base_bytes, args.max_growth.or(limits.max_growth))
        {
            failures.extend(check::over_growth(
                &t.image, name, used, base_bytes, threshold, &b.label,
            ));
        }
        regions.insert(
            name,
            RegionReport {
                origin: span.origin,
                length: span.length,
                used,
                limit,
                limit_source: source,
                base: base_bytes,
            },
        );
    }

    let want_symbols = args.symbols.is_some();
    let base_elf = record.and_then(|r| r.elf.as_ref()).filter(|p| p.is_file());
    let named_now = if want_symbols || base_elf.is_some() {
        let list = elf::symbols(&t.data, &map).map_err(|e| anyhow!("{}: {e}", t.elf.display()))?;
        Some(symbols::named(&list))
    } else {
        None
    };
    let symbol_deltas = match (base_elf, &named_now) {
        (Some(path), Some(now)) => {
            let data =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let list = elf::symbols(&data, &map).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            let top = args.symbols.unwrap_or(TOP_SYMBOL_DELTAS);
            Some(symbols::deltas(&symbols::named(&list), now, top))
        }
        _ => None,
    };
    let deltas = match (base, record) {
        (Some(b), Some(r)) => Some(Deltas {
            baseline: b.label.clone(),
            flash_bytes: usage.flash_bytes as i64 - r.flash_bytes as i64,
            ram_bytes: usage.ram_bytes as i64 - r.ram_bytes as i64,
            symbols: symbol_deltas,
        }),
        _ => None,
    };
    Ok(ImageReport {
        image: t.image.clone(),
        board: t.board.name.clone(),
        elf: t.elf.display().to_string(),
        machine: usage.machine.name(),
        flash_bytes: usage.flash_bytes,
        ram_bytes: usage.ram_bytes,
        regions,
        sections: Sections::of(usage),
        segments: SegmentReport::of(usage),
        deltas,
        symbols: args.symbols.and_then(|n| {
            named_now.map(|mut v| {
                v.truncate(n);
                v
            })
        }),
        failures,
    })
}

/// `cargo xtask bench size`: builds the release images and times the
/// in-process accounting of each (`elf::account`, and with `elf::symbols`),
/// as the mean over repeated runs. Goal: ≤ 5 ms per firmware image.
pub fn bench() -> Result<()> {
    const GOAL: Duration = Duration::from_millis(5);
    let ws = Workspace::load()?;
    let boards = Boards::load(&ws)?;
    let targets = workspace_targets(&ws, &boards, "all")?;
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
        let map = t.map();
        let account = time_per_run(|| elf::account(&t.data, &map).map(|u| u.flash_bytes))
            .with_context(|| format!("{}", t.elf.display()))?;
        let with_symbols = time_per_run(|| {
            let u = elf::account(&t.data, &map)?;
            Ok(u.flash_bytes + elf::symbols(&t.data, &map)?.len() as u64)
        })
        .with_context(|| format!("{}", t.elf.display()))?;
        worst = worst.max(with_symbols);
        println!(
            "{:40} {:>9} {:>14.1} {:>16.1}  {}",
            t.image,
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
