//! `cargo xtask release`: reproducible, verifiable firmware release archives.
//!
//! A release directory holds one `<name>-<version>-<target>.tar.gz` per target
//! and profile, a copy of each image's Intel HEX from it
//! (`<name>-<version>-<target>-<image>.hex`), `sbom.cdx.json` (CycloneDX),
//! optionally `RELEASE_NOTES.md`, `dist-manifest.json`, `SHA256SUMS` (the
//! `sha256sum -c` format) and optionally `SHA256SUMS.minisig`. The same commit gives byte-identical files
//! (except the signature) on any machine and from any checkout path.
//! `--verify DIR` re-checks such a directory; `--reproducible` proves the
//! claim by building twice.

mod archive;
mod config;
mod flash;
mod intel_hex;
mod links;
mod manifest;
mod notes;
mod package;
mod reproducible;
mod sbom;
mod sign;
mod staging;
mod verify;

use std::path::PathBuf;

use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output directory (default: `<target dir>/dist`): a new or empty
    /// folder, or a previous release, which is replaced as a whole; any
    /// other folder is refused.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Check the release in DIR instead of building one.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["out", "sign", "notes", "previous", "tag"])]
    pub verify: Option<PathBuf>,
    /// With --verify: minisign public key that must have signed SHA256SUMS.
    #[arg(long, value_name = "KEY", requires = "verify")]
    pub pubkey: Option<PathBuf>,
    /// Sign SHA256SUMS into SHA256SUMS.minisig with this minisign secret key
    /// (its password, if any, from the MINISIGN_PASSWORD variable).
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
    /// Write RELEASE_NOTES.md from the conventional commits since the
    /// previous `v*` tag and a table of image sizes.
    #[arg(long)]
    pub notes: bool,
    /// With --notes: a previous release directory; the size table shows
    /// deltas against its dist-manifest.json.
    #[arg(long, value_name = "DIR", requires = "notes")]
    pub previous: Option<PathBuf>,
    /// Tagged release: TAG (default: the `v*` tag on HEAD) must point at
    /// HEAD and equal `v<workspace version>`.
    #[arg(long, value_name = "TAG", num_args = 0..=1)]
    pub tag: Option<Option<String>>,
    /// Build the release of HEAD twice, at two checkout paths (this clean
    /// checkout and a fresh clone, or two clones when the checkout has
    /// uncommitted changes), and require byte-identical SHA256SUMS.
    #[arg(long, conflicts_with_all = ["out", "verify", "sign", "notes", "tag"])]
    pub reproducible: bool,
}

pub fn run(args: Args) -> Result<()> {
    match &args.verify {
        Some(dir) => verify::run(dir, args.pubkey.as_deref()),
        None if args.reproducible => reproducible::run(),
        None => package::run(&args),
    }
}
