//! `cargo xtask ci gh-release`: publishes the release archives in
//! `<target_dir>/dist` as a GitHub release of the pushed tag, through the
//! GitHub CLI (`gh`, present on hosted runners), so the workflow needs no
//! third-party publishing action.

use anyhow::{Context, Result, bail};
use xshell::cmd;

use crate::cmd::shell;
use crate::workspace::Workspace;

/// Creates the release for `$GITHUB_REF_NAME` with every file in the dist
/// directory as an asset. `--verify-tag` refuses to create a missing tag.
///
/// Errors: no tag in the environment, an empty dist directory, no `gh`, or
/// `gh` fails (for example without `GH_TOKEN`).
pub fn gh_release(ws: &Workspace) -> Result<()> {
    let tag = std::env::var("GITHUB_REF_NAME")
        .ok()
        .filter(|t| t.starts_with('v'))
        .context("GITHUB_REF_NAME is not a `v*` tag: gh-release runs in the release workflow")?;
    let dist = ws.target_dir.join("dist");
    let mut assets: Vec<String> = std::fs::read_dir(&dist)
        .with_context(|| {
            format!(
                "cannot list {} (run `cargo xtask release --tag`)",
                dist.display()
            )
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assets.sort();
    if assets.is_empty() {
        bail!("{} holds no release assets", dist.display());
    }
    let gh = which::which("gh").context("the GitHub CLI `gh` is not installed")?;
    println!(
        "$ gh release create {tag} --verify-tag {}",
        assets.join(" ")
    );
    let sh = shell(&ws.root)?;
    cmd!(
        sh,
        "{gh} release create {tag} --verify-tag --title {tag} {assets...}"
    )
    .quiet()
    .run()
    .with_context(|| format!("`gh release create {tag}` failed"))
}
