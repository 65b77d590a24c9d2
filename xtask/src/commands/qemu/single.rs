//! `cargo xtask qemu --elf PATH`: one ELF, judged like a manifest test.
//! Stdout carries exactly the guest's console bytes as they arrive (the
//! decoded text for defmt), so `cargo run` through the runner gives
//! byte-exact output; QEMU's stderr, the verdict and every diagnostic go to
//! stderr. Also the cargo runner of both firmware targets.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use regex::bytes::Regex;

use super::Args;
use super::shown::{LINE_BYTES, bounded_diff, clip, write_diff};
use crate::boards::qemu_version::Installed;
use crate::boards::{Board, BoardArgs, Boards};
use crate::elf::Elf;
use crate::qemu::console::{Console, FailMarkers, LogFormat, Match};
use crate::qemu::expect::Output;
use crate::qemu::manifest::read_transcript;
use crate::qemu::{self, DefmtDecode, End, Expectation, RunSpec, Verdict, defmt, expect};
use crate::workspace::Workspace;

/// What `--elf` checks besides the exit code; each needs `--elf`.
#[derive(clap::Args, Debug, Default)]
pub struct Options {
    /// With --elf: the console must equal this transcript file.
    #[arg(
        long,
        value_name = "FILE",
        requires = "elf",
        conflicts_with = "expect_regex"
    )]
    pub expected: Option<PathBuf>,
    /// With --elf: a console line must match RE, after the line the
    /// previous one matched (repeatable).
    #[arg(long, value_name = "RE", requires = "elf", allow_hyphen_values = true)]
    pub expect_regex: Vec<String>,
    /// With --elf: the expected semihosting exit code [default: 0].
    #[arg(long, value_name = "N", requires = "elf")]
    pub exit_code: Option<u8>,
    /// With --elf: an extra QEMU argument, after the board's (repeatable).
    #[arg(long, value_name = "ARG", requires = "elf", allow_hyphen_values = true)]
    pub qemu_arg: Vec<String>,
    /// With --elf: how `--expected` is compared [default: lines].
    #[arg(long = "match", value_enum, value_name = "HOW", requires = "elf")]
    pub matching: Option<Match>,
    /// With --elf: which streams are compared and printed [default: both].
    #[arg(long, value_enum, requires = "elf")]
    pub console: Option<Console>,
    /// With --elf: how the console is read [default: auto].
    #[arg(long, value_enum, value_name = "FORMAT", requires = "elf")]
    pub log_format: Option<LogFormat>,
    /// With --elf: a guest line matching RE fails the run (repeatable;
    /// replaces the board's markers and the defaults).
    #[arg(long, value_name = "RE", requires = "elf", allow_hyphen_values = true)]
    pub fail_regex: Vec<String>,
}

pub fn run(args: &Args, ws: &Workspace, boards: &Boards, elf: &Path) -> Result<()> {
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
    let options = &args.single;
    let expectation = expectation(options, board)?;
    let tool = defmt::decoder_for(ws, elf, options.log_format.unwrap_or_default())?;
    let timeout = args.timeout(None)?;
    let mut watch = expectation.watcher();
    let label = format!("{}/{}", board.name, elf.display());
    let outcome = qemu::run(RunSpec {
        board,
        elf,
        extra_args: &options.qemu_arg,
        timeout,
        defmt: tool.as_deref().map(|tool| DefmtDecode {
            tool,
            streams: expectation.console.defmt_streams(),
        }),
        watch: &mut watch,
        echo: Some(expectation.console),
        label: &label,
    })?;
    let took = outcome.wall.as_secs_f64();
    let judgement = expectation.judge(&outcome);
    match judgement.verdict {
        Verdict::Passed => {
            eprintln!(
                "verdict: passed on {} in {took:.3}s (exit code {})",
                board.name, expectation.exit_code
            );
            Ok(())
        }
        Verdict::Failed(reason) => {
            eprintln!("verdict: failed on {}: {reason} ({took:.3}s)", board.name);
            if outcome.end == End::TimedOut {
                eprintln!(
                    "QEMU ended at the deadline: {} accounted, {took:.3}s wall, of which {:.3}s waiting for a CPU",
                    expect::secs(timeout),
                    outcome.starved.as_secs_f64()
                );
            }
            eprintln!("last lines of output:");
            for line in outcome.tail(10) {
                eprintln!("    {}", clip(&line, LINE_BYTES));
            }
            if let Some(mismatch) = &judgement.mismatch {
                let path = write_diff(&ws.reports_dir(), &board.name, &diff_name(elf), mismatch)?;
                eprintln!("expected vs actual:");
                for line in bounded_diff(mismatch, &path) {
                    eprintln!("    {line}");
                }
            }
            bail!("{}: {reason}", elf.display())
        }
    }
}

/// The diff file's name for `elf`: `elf-<file name>`, apart from the
/// suite's `<test>.diff` files.
fn diff_name(elf: &Path) -> String {
    let file = elf.file_name().unwrap_or(elf.as_os_str());
    format!("elf-{}", file.to_string_lossy())
}

/// The expectation the options describe on `board`.
///
/// Errors: the transcript file is missing, a directory, unreadable or (with
/// `--match lines`) not UTF-8, or a regex is invalid.
fn expectation(options: &Options, board: &Board) -> Result<Expectation> {
    let output = match &options.expected {
        Some(path) => Output::Transcript(
            read_transcript(path, options.matching.unwrap_or_default())
                .map_err(|why| anyhow!("--expected: {} {why}", path.display()))?,
        ),
        None if !options.expect_regex.is_empty() => Output::Ordered(
            options
                .expect_regex
                .iter()
                .map(|re| Regex::new(re).with_context(|| format!("--expect-regex `{re}`")))
                .collect::<Result<_>>()?,
        ),
        None => Output::Any,
    };
    let fail = if options.fail_regex.is_empty() {
        board
            .fail_markers
            .clone()
            .unwrap_or_else(FailMarkers::defaults)
    } else {
        FailMarkers::compile(&options.fail_regex).map_err(|e| anyhow!("--fail-regex: {e}"))?
    };
    Ok(Expectation {
        exit_code: options.exit_code.map_or(0, i32::from),
        output,
        matching: options.matching.unwrap_or_default(),
        console: options.console.unwrap_or_default(),
        fail,
    })
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
