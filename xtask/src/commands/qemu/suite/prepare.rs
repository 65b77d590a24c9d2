//! The suite as `cargo xtask bench qemu` runs it: every image of
//! `qemu/tests.toml` built (release), with its expectation.

use std::path::PathBuf;

use anyhow::Result;

use crate::boards::{Board, Boards};
use crate::cargo::{self, Image, Profile};
use crate::qemu::Expectation;
use crate::qemu::manifest::{Manifest, Test};
use crate::workspace::Workspace;

/// The suite's images and timeouts, built.
pub struct Prepared {
    pub manifest: Manifest,
    pub images: Vec<Image>,
}

/// Loads `qemu/tests.toml` and builds every image it names (release).
///
/// Errors: the manifest is invalid or a build fails.
pub fn prepare(ws: &Workspace, boards: &Boards) -> Result<Prepared> {
    let manifest = Manifest::load(&ws.qemu_dir().join("tests.toml"), boards)?;
    let all: Vec<&Board> = boards.all().iter().collect();
    let images = cargo::build_images(ws, &all, &[Profile::Release])?;
    Ok(Prepared { manifest, images })
}

/// A test on a board, ready to run.
pub struct Runnable<'a> {
    pub id: String,
    pub board: &'a Board,
    pub elf: PathBuf,
    pub expectation: Expectation,
    pub test: &'a Test,
}

impl Prepared {
    /// Every test on every board it runs on, except skipped ones and those
    /// whose image or transcript is missing.
    pub fn runnable<'a>(&'a self, boards: &'a Boards) -> Vec<Runnable<'a>> {
        let mut out = Vec::new();
        for test in self.manifest.tests.iter().filter(|t| t.skip.is_none()) {
            for board in boards.all().iter().filter(|b| test.runs_on(b)) {
                let Some(image) = self
                    .images
                    .iter()
                    .find(|i| i.is(&board.name, &test.package, &test.bin))
                else {
                    continue;
                };
                if let Ok(expectation) = test.expectation(self.manifest.dir(), board) {
                    out.push(Runnable {
                        id: format!("{}/{}", board.name, test.name),
                        board,
                        elf: image.elf.clone(),
                        expectation,
                        test,
                    });
                }
            }
        }
        out
    }
}
