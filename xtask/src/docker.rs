//! `cargo xtask docker [--cuda]`: builds the CI image from
//! `ci-docker/Dockerfile` (or `Dockerfile.cuda`) with the workspace as the
//! build context, when a Docker engine answers; otherwise says that none is
//! available and how to build the image elsewhere.

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::workspace::Workspace;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Build the GPU image (`ci-docker/Dockerfile.cuda`, CUDA 13.0 devel base).
    #[arg(long)]
    pub cuda: bool,
    /// Image tag; defaults to `embedded-xtask-ci` (`:cuda` with `--cuda`).
    #[arg(long)]
    pub tag: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    let dockerfile = ws.root.join("ci-docker").join(if args.cuda {
        "Dockerfile.cuda"
    } else {
        "Dockerfile"
    });
    if !dockerfile.is_file() {
        bail!("{} is missing", dockerfile.display());
    }
    let tag = args.tag.unwrap_or_else(|| {
        if args.cuda {
            "embedded-xtask-ci:cuda".into()
        } else {
            "embedded-xtask-ci:latest".into()
        }
    });
    let rel = dockerfile.strip_prefix(&ws.root).unwrap_or(&dockerfile);
    let by_hand = format!("docker build -f {} -t {tag} .", rel.display());
    let docker = which::which("docker").with_context(|| {
        format!("no Docker engine: the docker CLI is not installed; on a machine with Docker run `{by_hand}`")
    })?;
    // `docker info` exits non-zero when the CLI cannot reach a daemon.
    let engine = Command::new(&docker)
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .output()
        .context("cannot run `docker info`")?;
    if !engine.status.success() {
        let why = String::from_utf8_lossy(&engine.stderr);
        bail!(
            "no Docker engine is available (the docker CLI is installed, but `docker info` reached no daemon: {}); \
             nothing was built. On a machine with a Docker engine run `cargo xtask docker{}` or `{by_hand}`",
            why.trim().lines().last().unwrap_or("no answer"),
            if args.cuda { " --cuda" } else { "" }
        );
    }
    println!(
        "docker engine {}; $ {by_hand}",
        String::from_utf8_lossy(&engine.stdout).trim()
    );
    let status = Command::new(&docker)
        .env("DOCKER_BUILDKIT", "1")
        .args(["build", "-f"])
        .arg(&dockerfile)
        .args(["-t", &tag])
        .arg(&ws.root)
        .status()
        .context("cannot run `docker build`")?;
    if !status.success() {
        bail!("`{by_hand}` failed with {status}");
    }
    println!("built image {tag}");
    Ok(())
}
