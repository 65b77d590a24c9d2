//! `cargo xtask docker [--cuda]`: builds the CI image from
//! `ci-docker/Dockerfile` (or `Dockerfile.cuda`) with the workspace as the
//! build context, when a Docker engine answers; otherwise says that none is
//! available and how to build the image elsewhere.

use anyhow::{Context, Result, bail};
use xshell::cmd;

use crate::cmd::{capture, shell};
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
    let sh = shell(&ws.root)?;
    // `docker info` exits non-zero when the CLI cannot reach a daemon.
    let format = "{{.ServerVersion}}";
    let version = capture(cmd!(sh, "{docker} info --format {format}")).map_err(|e| {
        anyhow::anyhow!(
            "no Docker engine is available (the docker CLI is installed, but `docker info` reached no daemon: {}); \
             nothing was built. On a machine with a Docker engine run `cargo xtask docker{}` or `{by_hand}`",
            e.to_string().trim().lines().last().unwrap_or("no answer"),
            if args.cuda { " --cuda" } else { "" }
        )
    })?;
    println!("docker engine {version}; $ {by_hand}");
    let root = &ws.root;
    cmd!(sh, "{docker} build -f {dockerfile} -t {tag} {root}")
        .env("DOCKER_BUILDKIT", "1")
        .quiet()
        .run()
        .with_context(|| format!("`{by_hand}` failed"))?;
    println!("built image {tag}");
    Ok(())
}
