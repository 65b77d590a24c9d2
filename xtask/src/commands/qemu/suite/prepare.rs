//! The suite as `cargo xtask bench qemu` runs it: every image of
//! `qemu/tests.toml` built (release), with its expectation.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use super::super::report::CaseId;
use super::images;
use super::select::Case;
use crate::boards::{Board, Boards};
use crate::cargo::{self, Image, Profile};
use crate::qemu::manifest::{Manifest, Test};
use crate::qemu::{DEFAULT_TIMEOUT, Expectation};
use crate::workspace::Workspace;

/// The suite's images and timeouts, built.
pub struct Prepared {
    pub manifest: Manifest,
    /// Every workspace image (the harness fixtures included).
    pub images: Vec<Image>,
    /// The ELF of every test on every board it runs on, where it has one.
    elfs: BTreeMap<CaseId, PathBuf>,
}

/// Loads `qemu/tests.toml` and builds every workspace image and every
/// image it names (release).
///
/// Errors: the manifest is invalid or a build fails.
pub fn prepare(ws: &Workspace, boards: &Boards) -> Result<Prepared> {
    let manifest = Manifest::load(&ws.qemu_dir().join("tests.toml"), boards)?;
    let all: Vec<&Board> = boards.all().iter().collect();
    let images = cargo::build_images(ws, &all, &[Profile::Release])?;
    let cases: Vec<Case<'_>> = manifest
        .tests
        .iter()
        .filter(|t| t.skip.is_none())
        .flat_map(|test| {
            boards
                .all()
                .iter()
                .filter(|b| test.runs_on(b))
                .map(move |board| Case {
                    test,
                    board,
                    id: CaseId {
                        board: board.name.clone(),
                        test: test.name.clone(),
                    },
                    timeout: test.timeout.unwrap_or(DEFAULT_TIMEOUT),
                    skip: None,
                })
        })
        .collect();
    let built = images::build(ws, boards, &manifest, &cases, Profile::Release)?;
    let elfs = cases
        .iter()
        .filter_map(|c| Some((c.id.clone(), built.elf(&c.id).ok()?.to_owned())))
        .collect();
    Ok(Prepared {
        manifest,
        images,
        elfs,
    })
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
                let id = CaseId {
                    board: board.name.clone(),
                    test: test.name.clone(),
                };
                let Some(elf) = self.elfs.get(&id) else {
                    continue;
                };
                if let Ok(expectation) = test.expectation(self.manifest.dir(), board) {
                    out.push(Runnable {
                        id: id.to_string(),
                        board,
                        elf: elf.clone(),
                        expectation,
                        test,
                    });
                }
            }
        }
        out
    }
}
