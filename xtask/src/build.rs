//! `cargo xtask build`: cross-builds every firmware image package for the
//! selected boards and profiles. ELF paths come from cargo's JSON messages,
//! not from a guessed `target/` layout.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use cargo_metadata::Message;

use crate::boards::{Board, Boards};
use crate::workspace::Workspace;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `arm`, `riscv`, `all`, a target triple or a board name.
    #[arg(long, default_value = "all")]
    pub target: String,
    /// `debug`, `release` or `all`.
    #[arg(long, default_value = "release")]
    pub profile: ProfileSel,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileSel {
    Debug,
    Release,
    All,
}

impl ProfileSel {
    pub fn profiles(self) -> &'static [Profile] {
        match self {
            Self::Debug => &[Profile::Debug],
            Self::Release => &[Profile::Release],
            Self::All => &[Profile::Debug, Profile::Release],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    /// The cargo profile name passed to `--profile`.
    pub fn cargo_name(self) -> &'static str {
        match self {
            Self::Debug => "dev",
            Self::Release => "release",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Release => "release",
        }
    }
}

/// One built firmware ELF.
#[derive(Debug, Clone)]
pub struct Image {
    /// The binary target's name, e.g. `sched`.
    pub name: String,
    pub package: String,
    pub board: String,
    pub target: String,
    pub profile: Profile,
    pub elf: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    let boards = Boards::load(&ws)?;
    let selected = boards.select(&args.target)?;
    for image in build_images(&ws, &selected, args.profile.profiles())? {
        println!("{}", image.elf.display());
    }
    Ok(())
}

/// Builds every firmware image package for each board and profile, one
/// `cargo build` per (target, profile).
///
/// Errors: cargo fails to start or the build fails (cargo's diagnostics are
/// already on stderr).
pub fn build_images(ws: &Workspace, boards: &[&Board], profiles: &[Profile]) -> Result<Vec<Image>> {
    let packages: Vec<String> = ws
        .firmware_image_packages()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    if packages.is_empty() {
        bail!(
            "no firmware image package under {}",
            ws.root.join("firmware").display()
        );
    }
    let mut images = Vec::new();
    for board in boards {
        for &profile in profiles {
            images.extend(cargo_build(ws, board, profile, &packages)?);
        }
    }
    Ok(images)
}

fn cargo_build(
    ws: &Workspace,
    board: &Board,
    profile: Profile,
    packages: &[String],
) -> Result<Vec<Image>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&ws.root)
        .args([
            "build",
            "--message-format=json-render-diagnostics",
            "--bins",
        ])
        .args(["--target", &board.target, "--profile", profile.cargo_name()])
        // No checkout path in the images, so release archives are reproducible.
        .args([
            "--config",
            &crate::release::remap_path_config(ws, &board.target),
        ]);
    for p in packages {
        cmd.args(["--package", p]);
    }
    if let Some(feature) = board_feature(ws, packages, board) {
        cmd.args(["--features", &feature]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo")?;
    let stdout = child.stdout.take().context("cargo stdout")?;
    let mut images = Vec::new();
    for message in Message::parse_stream(BufReader::new(stdout)) {
        if let Message::CompilerArtifact(artifact) =
            message.context("reading cargo's JSON output")?
            && let Some(exe) = artifact.executable
        {
            images.push(Image {
                name: artifact.target.name.to_string(),
                package: artifact.package_id.repr.clone(),
                board: board.name.clone(),
                target: board.target.clone(),
                profile,
                elf: exe.into_std_path_buf(),
            });
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!(
            "cargo build for {} ({}) failed with {status}",
            board.target,
            profile.name()
        );
    }
    // The package id is opaque; map it back to the package name.
    for image in &mut images {
        if let Some(p) = ws
            .metadata
            .packages
            .iter()
            .find(|p| p.id.repr == image.package)
        {
            image.package = p.name.to_string();
        }
    }
    images.sort_by(|a, b| (&a.package, &a.name).cmp(&(&b.package, &b.name)));
    Ok(images)
}

/// `board/<board name>` when one of `packages` depends on the `board`
/// facade crate, which selects the board by a feature named like its table
/// in `qemu/boards.toml`; cargo enables it in each of them that does.
pub fn board_feature(ws: &Workspace, packages: &[String], board: &Board) -> Option<String> {
    ws.metadata
        .workspace_packages()
        .iter()
        .filter(|p| packages.iter().any(|name| p.name.as_str() == name))
        .any(|p| p.dependencies.iter().any(|d| d.name == "board"))
        .then(|| format!("board/{}", board.name))
}
