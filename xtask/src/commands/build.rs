//! `cargo xtask build`: cross-builds every firmware image package for the
//! selected boards and profiles and prints each image's path
//! (`<target_dir>/images/<board>/<profile>/<package>/<bin>`).

use anyhow::Result;

use crate::boards::{BoardArgs, Boards};
use crate::cargo::{self, Profiles};
use crate::workspace::Workspace;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub boards: BoardArgs,
    /// `debug`, `release`, `all`, or several separated by commas.
    #[arg(long, value_name = "PROFILE", default_value = "release")]
    pub profile: Profiles,
}

pub fn run(args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    let boards = Boards::load(&ws)?;
    let selected = boards.select(&args.boards)?;
    for image in cargo::build_images(&ws, &selected, &args.profile.0)? {
        println!("{}", image.elf.display());
    }
    Ok(())
}
