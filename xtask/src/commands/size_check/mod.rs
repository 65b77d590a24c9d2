//! `cargo xtask size-check`: flash and RAM usage of every release firmware
//! image (or of given ELFs) against budgets and a baseline.
//!
//! The accounting rules are [`crate::elf`]'s; budgets are in `budget.rs`, the
//! baseline format in `baseline.rs`, the failure messages in `check.rs`, and
//! the report for one image in `image.rs`. A run fails (exit 1) when an image
//! is over an absolute limit, grew past the growth threshold, or is in the
//! baseline but missing from the build.

mod baseline;
pub mod bench;
pub mod budget;
mod check;
mod image;
mod report;
mod stack;
mod symbols;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::boards::{Board, BoardArgs, Boards, Selector};
use crate::cargo::{self, Profile};
use crate::elf::{self, Elf, Usage};
use crate::image::ImageId;
use crate::workspace::{self, Workspace};
use baseline::{Record, Records};
use budget::{Amount, Budgets};
use report::ImageReport;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Check this ELF instead of building the workspace's release images
    /// (repeatable). Works on any Arm or RISC-V ELF.
    #[arg(long = "elf", value_name = "PATH")]
    pub elf: Vec<PathBuf>,
    #[command(flatten)]
    pub boards: BoardArgs,
    /// Print one JSON object per ELF (JSON Lines) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Flash limit for every image, replacing the budgets file: bytes, KiB, MiB or % of flash (at most 100 %).
    #[arg(long, value_name = "BYTES", value_parser = parse_limit)]
    pub flash_limit: Option<Amount>,
    /// RAM limit for every image, replacing the budgets file: bytes, KiB, MiB or % of RAM (at most 100 %).
    #[arg(long, value_name = "BYTES", value_parser = parse_limit)]
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
    /// Budgets file, which must exist [default: qemu/budgets.toml].
    #[arg(long, value_name = "FILE")]
    pub budgets: Option<PathBuf>,
    /// Baseline file, which must exist and list images [default:
    /// qemu/size-baseline.json; with `--elf`, a baseline applies only when
    /// given].
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// The suite report (`cargo xtask qemu --json`) whose stack peaks are
    /// shown, for the ELFs it ran byte for byte [default:
    /// <target_dir>/reports/qemu.json].
    #[arg(long, value_name = "FILE")]
    pub qemu_report: Option<PathBuf>,
    /// Check the absolute budgets only, with no baseline: no growth check
    /// and no check for images missing from the build.
    #[arg(long, conflicts_with_all = ["baseline", "compare_to", "update_baseline"])]
    pub no_baseline: bool,
    /// Instead of checking sizes, fuzz the ELF reader for SECS seconds
    /// (default 600; needs nightly and cargo-fuzz), as `cargo xtask ci fuzz`.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "600",
          conflicts_with_all = ["elf", "update_baseline", "compare_to", "json", "symbols"])]
    pub fuzz: Option<u64>,
}

fn parse_amount(text: &str) -> Result<Amount, String> {
    Amount::parse(text).map_err(|e| e.to_string())
}

fn parse_limit(text: &str) -> Result<Amount, String> {
    Amount::parse_limit(text).map_err(|e| e.to_string())
}

/// One ELF to check.
pub struct Target {
    pub image: ImageId,
    pub board: Board,
    /// The profile a workspace image was built in; `None` for `--elf`.
    pub profile: Option<Profile>,
    pub elf: PathBuf,
    pub data: Vec<u8>,
}

impl Target {
    /// The parsed ELF.
    ///
    /// Errors: the ELF is damaged; the message names the file.
    pub fn parse(&self) -> Result<Elf<'_>> {
        Elf::parse(&self.data).map_err(|e| anyhow!("{}: {e}", self.elf.display()))
    }

    /// Flash and RAM on the target's board.
    ///
    /// Errors: see [`Target::parse`] and [`elf::account`].
    pub fn account(&self) -> Result<Usage> {
        elf::account(&self.parse()?, self.board.memory_map())
            .map_err(|e| anyhow!("{}: {e}", self.elf.display()))
    }
}

/// Where base sizes come from.
pub struct Base {
    pub label: String,
    pub records: Records,
    /// Whether images missing from the build fail the run (a full baseline
    /// compared with a full build).
    pub complete: bool,
}

pub fn run(args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    if let Some(seconds) = args.fuzz {
        return crate::fuzz::run_all(&ws, seconds);
    }
    let boards = Boards::load(&ws)?;
    let budgets_path = args
        .budgets
        .clone()
        .unwrap_or_else(|| ws.qemu_dir().join("budgets.toml"));
    let budgets = Budgets::load(&budgets_path)?;
    let workspace_mode = args.elf.is_empty();
    if let Some(path) = &args.markdown {
        workspace::check_output("--markdown", path)?;
    }
    if args.update_baseline && !workspace_mode && args.baseline.is_none() {
        bail!(
            "--update-baseline with --elf needs --baseline FILE: qemu/size-baseline.json records the workspace's own images"
        );
    }
    let elf_targets = args
        .elf
        .iter()
        .map(|p| elf_target(&boards, args.boards.target.as_ref(), p))
        .collect::<Result<Vec<_>>>()?;
    let baseline_path = args
        .baseline
        .clone()
        .unwrap_or_else(|| ws.qemu_dir().join("size-baseline.json"));
    // Before the build, so that a bad baseline costs no build.
    let base = load_base(&ws, &boards, &args, &elf_targets, &baseline_path)?;
    let targets = if workspace_mode {
        workspace_targets(&ws, &boards, &args.boards.selector())?
    } else {
        elf_targets
    };
    check_budget_globs(&ws, &boards, &args, &budgets_path, &budgets, &targets)?;
    let usages = targets
        .iter()
        .map(Target::account)
        .collect::<Result<Vec<_>>>()?;
    let suite_report = args
        .qemu_report
        .clone()
        .unwrap_or_else(|| ws.reports_dir().join("qemu.json"));
    let peaks = stack::Source::load(&suite_report, &relative(&ws, &suite_report));
    if args.update_baseline {
        let measured = Measured {
            targets: &targets,
            usages: &usages,
            peaks: &peaks,
        };
        update_baseline(&ws, &measured, workspace_mode, &baseline_path)?;
    }
    let reports = targets
        .iter()
        .zip(&usages)
        .map(|tu| image::report(&args, &budgets, base.as_ref(), tu, &peaks))
        .collect::<Result<Vec<_>>>()?;
    let missing = missing(&boards, &args, base.as_ref(), &targets)?;
    write_reports(&ws, &args, workspace_mode, (&reports, &missing), &peaks)?;
    fail_on(&args, base.as_ref(), &reports, &missing)
}

/// Fails when an entry of the budgets file matches no image this command
/// could check, so a typo cannot switch a budget off: in workspace mode,
/// any image built now or buildable for another board; with `--elf` and
/// `--budgets`, the given files on any board. (With `--elf` alone, the
/// workspace's budgets name workspace images, so they are not checked.)
///
/// Errors: list the unmatched entries and name the file.
fn check_budget_globs(
    ws: &Workspace,
    boards: &Boards,
    args: &Args,
    path: &Path,
    budgets: &Budgets,
    targets: &[Target],
) -> Result<()> {
    let mut names: Vec<String> = targets.iter().map(|t| t.image.to_string()).collect();
    if args.elf.is_empty() {
        let built: Vec<&str> = targets.iter().map(|t| t.board.name.as_str()).collect();
        for board in boards
            .all()
            .iter()
            .filter(|b| !built.contains(&b.name.as_str()))
        {
            for p in ws.firmware_image_packages() {
                for t in p.targets.iter().filter(|t| t.is_bin()) {
                    names.push(ImageId::built(&board.name, &p.name, &t.name).to_string());
                }
            }
        }
    } else if args.budgets.is_some() {
        for t in targets {
            for board in boards.all() {
                names.push(ImageId::file(&board.name, &t.image.bin).to_string());
            }
        }
    } else {
        return Ok(());
    }
    let unmatched = budgets.unmatched(&names);
    if unmatched.is_empty() {
        return Ok(());
    }
    bail!(
        "{}: budget {} match{} no image, so {} would check nothing; image names are \
         `<board>/<package>/<bin>` (e.g. `{}`), or `<board>/<file>` for --elf",
        path.display(),
        unmatched
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", "),
        if unmatched.len() == 1 { "es" } else { "" },
        if unmatched.len() == 1 { "it" } else { "they" },
        names
            .first()
            .map_or("lm3s6965evb/fw-tests/sched", String::as_str)
    )
}

/// Baseline images of the selected boards that this build did not produce,
/// when the baseline is complete.
fn missing(
    boards: &Boards,
    args: &Args,
    base: Option<&Base>,
    targets: &[Target],
) -> Result<Vec<String>> {
    let Some(b) = base.filter(|b| b.complete) else {
        return Ok(Vec::new());
    };
    let selected: Vec<&str> = boards
        .select(&args.boards.selector())?
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    Ok(b.records
        .values()
        .filter(|r| selected.contains(&r.image.board.as_str()))
        .filter(|r| !targets.iter().any(|t| t.image == r.image))
        .map(|r| check::missing(r, &b.label))
        .collect())
}

/// The table or JSON lines on stdout, the Markdown report, and in
/// workspace mode `<target_dir>/reports/size.json`.
fn write_reports(
    ws: &Workspace,
    args: &Args,
    workspace_mode: bool,
    (reports, missing): (&[ImageReport], &[String]),
    peaks: &stack::Source,
) -> Result<()> {
    if args.json {
        for r in reports {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        print!("{}", report::table(reports));
        print!("{}", report::symbol_tables(reports));
    }
    let markdown = args
        .markdown
        .clone()
        .or_else(|| workspace_mode.then(|| ws.reports_dir().join("size.md")));
    if let Some(path) = markdown {
        workspace::write_atomic(
            &path,
            report::markdown(reports, missing, &peaks.label).as_bytes(),
        )?;
        eprintln!("size-check: Markdown report in {}", path.display());
    }
    if workspace_mode {
        let path = ws.reports_dir().join("size.json");
        let doc = serde_json::json!({ "images": reports, "missing": missing });
        workspace::write_atomic(&path, serde_json::to_string_pretty(&doc)?.as_bytes())?;
        eprintln!("size-check: JSON report in {}", path.display());
    }
    Ok(())
}

/// One line per failure, and how to accept an intended change.
fn fail_on(
    args: &Args,
    base: Option<&Base>,
    reports: &[ImageReport],
    missing: &[String],
) -> Result<()> {
    let failures = report::all_failures(reports, missing);
    if failures.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = failures.iter().map(|f| format!("  {f}")).collect();
    let hint = match base {
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
    )
}

/// Builds the release images of the selected boards.
///
/// Errors: the selector is unknown, the build fails, or an image is unreadable.
pub fn workspace_targets(
    ws: &Workspace,
    boards: &Boards,
    selector: &Selector,
) -> Result<Vec<Target>> {
    let selected = boards.select(selector)?;
    let images = cargo::build_images(ws, &selected, &[Profile::Release])?;
    let mut targets = Vec::new();
    for image in images {
        let board = boards
            .get(&image.id.board)
            .with_context(|| format!("board `{}` vanished", image.id.board))?
            .clone();
        let data = std::fs::read(&image.elf)
            .with_context(|| format!("cannot read {}", image.elf.display()))?;
        targets.push(Target {
            image: image.id,
            board,
            profile: Some(image.profile),
            elf: image.elf,
            data,
        });
    }
    Ok(targets)
}

/// Reads an ELF given with `--elf` and picks its board: the one named by
/// `--target`/`--board`, else the one whose memory map holds it.
///
/// Errors: unreadable or damaged ELF, a selector naming several boards or a
/// board of another architecture, or no board that fits.
fn elf_target(boards: &Boards, selector: Option<&Selector>, path: &Path) -> Result<Target> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let elf = Elf::parse(&data).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let board = match selector {
        Some(sel) => boards.board_for_elf_named(sel, &elf),
        None => boards.board_for_elf(&elf),
    }
    .map_err(|e| anyhow!("{}: {e:#}", path.display()))?
    .clone();
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok(Target {
        image: ImageId::file(&board.name, &file),
        board,
        profile: None,
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

/// The base sizes: `--compare-to` (a report, baseline or older ELF), else
/// the baseline file in workspace mode or when given; none with
/// `--no-baseline` or `--update-baseline` (moving the baseline is
/// deliberate: only absolute budgets apply then). `targets` are the `--elf`
/// images (none in workspace mode, where nothing is built yet).
///
/// Errors: a file cannot be read or parsed, lists no image or an image of
/// a board that `qemu/boards.toml` lacks, or the baseline is missing
/// (except for `--update-baseline`, which records it).
fn load_base(
    ws: &Workspace,
    boards: &Boards,
    args: &Args,
    targets: &[Target],
    baseline_path: &Path,
) -> Result<Option<Base>> {
    let workspace_mode = args.elf.is_empty();
    let base = if let Some(path) = &args.compare_to {
        compare_base(path, targets, workspace_mode)?
    } else if args.no_baseline
        || args.update_baseline
        || (!workspace_mode && args.baseline.is_none())
    {
        return Ok(None);
    } else if !baseline_path.exists() {
        bail!(
            "size baseline {} does not exist, so no growth could be checked; record one with \
             `cargo xtask size-check --update-baseline`, or pass --no-baseline",
            baseline_path.display()
        );
    } else {
        Base {
            label: relative(ws, baseline_path),
            records: baseline::load(baseline_path)?,
            complete: workspace_mode,
        }
    };
    if let Some(r) = base
        .records
        .values()
        .find(|r| boards.get(&r.image.board).is_none())
    {
        let valid: Vec<&str> = boards.all().iter().map(|b| b.name.as_str()).collect();
        bail!(
            "{}: image `{}` is for board `{}`, which qemu/boards.toml does not have (boards: {}); \
             run `cargo xtask size-check --update-baseline` after removing a board",
            base.label,
            r.image,
            r.image.board,
            valid.join(", ")
        );
    }
    Ok(Some(base))
}

/// `--compare-to FILE`: an older ELF of the one `--elf`, or a saved report.
fn compare_base(path: &Path, targets: &[Target], workspace_mode: bool) -> Result<Base> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !data.starts_with(b"\x7fELF") {
        return Ok(Base {
            label: path.display().to_string(),
            records: baseline::load(path)?,
            complete: workspace_mode,
        });
    }
    let [target] = targets else {
        bail!("--compare-to an ELF needs exactly one --elf to compare it with");
    };
    let usage = Elf::parse(&data)
        .and_then(|e| elf::account(&e, target.board.memory_map()))
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let record = Record {
        image: target.image.clone(),
        flash_bytes: usage.flash_bytes,
        ram_bytes: usage.ram_bytes,
        elf: Some(path.to_path_buf()),
        stack: Vec::new(),
    };
    Ok(Base {
        label: path.display().to_string(),
        records: Records::from([(record.image.clone(), record)]),
        complete: false,
    })
}

/// What this run measured: the images, their sizes, and the suite report
/// their stack peaks come from.
struct Measured<'a> {
    targets: &'a [Target],
    usages: &'a [Usage],
    peaks: &'a stack::Source,
}

/// Rewrites the baseline with the measured sizes and stack peaks and prints
/// the diff. In workspace mode the records of the built boards are replaced;
/// with `--elf` the given images are added or updated. An image whose peaks
/// the suite report did not measure on this very ELF is recorded without
/// peaks, and named.
///
/// Errors: the baseline cannot be read, parsed or written.
fn update_baseline(
    ws: &Workspace,
    measured: &Measured<'_>,
    workspace_mode: bool,
    path: &Path,
) -> Result<()> {
    let Measured {
        targets,
        usages,
        peaks,
    } = measured;
    let old_text = if path.exists() {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    } else {
        String::new()
    };
    let mut records = if old_text.is_empty() {
        Records::new()
    } else {
        baseline::read(path)?
    };
    if workspace_mode {
        let built: Vec<&str> = targets.iter().map(|t| t.board.name.as_str()).collect();
        records.retain(|image, _| !built.contains(&image.board.as_str()));
    }
    let mut unmeasured = Vec::new();
    for (t, u) in targets.iter().zip(usages.iter()) {
        let stack = match peaks.peaks(&crate::image::digest(&t.data)) {
            stack::Peaks::Measured(tasks) => tasks,
            stack::Peaks::NotMeasured => {
                unmeasured.push(t.image.to_string());
                Vec::new()
            }
        };
        records.insert(
            t.image.clone(),
            Record {
                image: t.image.clone(),
                flash_bytes: u.flash_bytes,
                ram_bytes: u.ram_bytes,
                elf: None,
                stack,
            },
        );
    }
    if !unmeasured.is_empty() {
        eprintln!(
            "size-check: {} image(s) recorded without stack peaks, as {} ran no such ELF: {}",
            unmeasured.len(),
            peaks.label,
            unmeasured.join(", ")
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
