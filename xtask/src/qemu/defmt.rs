//! defmt log streams: whether an image logs with defmt, and the decoder
//! that turns its frames into text.
//!
//! The decoder is the workspace's `xtask-defmt` (package `xtask-defmt`,
//! `xtask/defmt-decode`; its CLI contract is in that crate's docs). It is
//! kept out of xtask's own dependency tree, so the first run that needs it
//! builds it with `cargo build -p xtask-defmt`, in the target directory and
//! profile xtask itself was built with (so the dependencies they share are
//! reused), and every run starts it as a child process per defmt stream.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use cargo_metadata::Message;
use xshell::cmd;

use super::console::LogFormat;
use crate::cmd::{cargo, shell};
use crate::elf::Elf;
use crate::workspace::Workspace;

/// The package and binary of the decoder.
const PACKAGE: &str = "xtask-defmt";

/// The section defmt's linker script (`defmt.x`) puts the format strings
/// in; an ELF without one does not log with defmt.
pub const SECTION: &str = ".defmt";

/// Whether the ELF at `path` has a [`SECTION`].
///
/// Errors: the file cannot be read or is not an ELF the harness runs.
pub fn has_defmt_section(path: &Path) -> Result<bool> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let elf = Elf::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(elf.has_section(SECTION))
}

/// The decoder to run for `elf` under `format`: `None` for text.
/// `Auto` means defmt exactly when the ELF has a [`SECTION`]; the decoder
/// is built then, and asked whether it can use the ELF's table.
///
/// Errors: `Defmt` for an ELF without a table; the decoder does not build;
/// the table cannot be used (e.g. a defmt wire format version the decoder
/// does not know), with the decoder's message.
pub fn decoder_for(ws: &Workspace, elf: &Path, format: LogFormat) -> Result<Option<PathBuf>> {
    let wanted = match format {
        LogFormat::Text => false,
        LogFormat::Auto => has_defmt_section(elf)?,
        LogFormat::Defmt => true,
    };
    if !wanted {
        return Ok(None);
    }
    let tool = decoder(ws)?;
    if !check(&tool, elf)? {
        bail!(
            "{}: log_format is defmt, but the ELF has no {SECTION} section (link it with `-Tdefmt.x`, or read it as text)",
            elf.display()
        );
    }
    Ok(Some(tool))
}

/// The `xtask-defmt` executable, built on first use (once per process).
///
/// Errors: cargo fails; its diagnostics are in the message.
pub fn decoder(ws: &Workspace) -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build(ws).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn build(ws: &Workspace) -> Result<PathBuf> {
    let sh = shell(&ws.root)?;
    let cargo = cargo();
    // The profile of this xtask binary: its build already holds the
    // dependencies the two share.
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    let started = Instant::now();
    let out = cmd!(
        sh,
        "{cargo} build --package {PACKAGE} --bin {PACKAGE} --profile {profile} --message-format=json-render-diagnostics"
    )
    .quiet()
    .ignore_status()
    .output()
    .context("cannot run cargo to build the defmt decoder")?;
    if !out.status.success() {
        bail!(
            "building the defmt decoder (`cargo build -p {PACKAGE}`) failed:\n{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    let artifacts: Vec<_> = Message::parse_stream(out.stdout.as_slice())
        .filter_map(|m| match m {
            Ok(Message::CompilerArtifact(a)) => Some(a),
            _ => None,
        })
        .collect();
    let compiled = artifacts.iter().filter(|a| !a.fresh).count();
    if compiled > 0 {
        eprintln!(
            "built the defmt decoder {PACKAGE} ({compiled} crates) in {:.1}s; later runs reuse it",
            started.elapsed().as_secs_f64()
        );
    }
    artifacts
        .into_iter()
        .filter(|a| a.target.name == PACKAGE)
        .find_map(|a| a.executable)
        .map(|exe| exe.into_std_path_buf())
        .with_context(|| format!("cargo built no `{PACKAGE}` executable"))
}

/// `xtask-defmt --check ELF`: `true` for a usable table, `false` for none.
///
/// Errors: the decoder cannot run, or rejects the table (its message).
pub fn check(tool: &Path, elf: &Path) -> Result<bool> {
    let sh = shell(Path::new("."))?;
    let out = cmd!(sh, "{tool} --check {elf}")
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("cannot run {}", tool.display()))?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(3) => Ok(false),
        _ => bail!("{}", String::from_utf8_lossy(&out.stderr).trim()),
    }
}

/// A running decoder: the raw stream goes to its stdin, text comes from its
/// stdout, a line per malformed frame from its stderr. Killed and reaped on
/// drop.
pub struct Decoder(Child);

impl Decoder {
    /// Starts `tool ELF`.
    ///
    /// Errors: it cannot be started.
    pub fn spawn(tool: &Path, elf: &Path) -> Result<Self> {
        Command::new(tool)
            .arg(elf)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map(Self)
            .with_context(|| format!("cannot start the defmt decoder {}", tool.display()))
    }

    /// Its stdin, stdout and stderr (once).
    pub fn pipes(&mut self) -> Result<(ChildStdin, ChildStdout, ChildStderr)> {
        let c = &mut self.0;
        match (c.stdin.take(), c.stdout.take(), c.stderr.take()) {
            (Some(i), Some(o), Some(e)) => Ok((i, o, e)),
            _ => bail!("the defmt decoder's pipes were taken"),
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // At end-of-file it has exited already; otherwise the run is over.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
