//! The ELF of every selected case: each recipe built once per board and
//! profile, only for the boards its cases select (an Arm-only package is
//! never built for RISC-V), and prebuilt ELFs taken where the manifest
//! points.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::super::report::CaseId;
use super::select::Case;
use crate::boards::{Board, Boards};
use crate::cargo::{self, Catalog, Executable, Profile, Project, Request};
use crate::image::ImageId;
use crate::qemu::manifest::{self, Manifest, Source};
use crate::workspace::Workspace;

/// Each case's ELF and image name, or why it has none. Skipped cases have
/// no entry.
pub struct Images(BTreeMap<CaseId, Result<(PathBuf, ImageId), String>>);

impl Images {
    /// The ELF of case `id`, or why it has none.
    pub fn elf(&self, id: &CaseId) -> Result<&Path, String> {
        self.image(id).map(|(elf, _)| elf)
    }

    /// The ELF of case `id` and the image's name (`<board>/<package>/<bin>`
    /// for a workspace package, as budgets name it; `<board>/<file>` for
    /// any other source), or why it has none.
    pub fn image(&self, id: &CaseId) -> Result<(&Path, &ImageId), String> {
        match self.0.get(id) {
            Some(Ok((path, image))) if path.is_file() => Ok((path, image)),
            Some(Ok((path, _))) => Err(format!("ELF missing: {} does not exist", path.display())),
            Some(Err(reason)) => Err(reason.clone()),
            None => Err(format!("ELF missing: no image for {id}")),
        }
    }
}

/// The name of `elf` on `board`, and the project and executable it was
/// built from, if it was.
fn image_id(board: &str, elf: &Path, built: Option<(&Project, &Executable)>) -> ImageId {
    match built {
        Some((Project::Workspace(package), executable)) => {
            ImageId::built(board, package, executable.name())
        }
        _ => ImageId::file(
            board,
            &elf.file_name().unwrap_or_default().to_string_lossy(),
        ),
    }
}

/// Builds what the cases need (with `profile` unless a test sets its own)
/// and resolves every case's ELF. A test whose package lacks its bin or
/// example gets that as its reason; the other cases still run.
///
/// Errors: a package cannot be found or read, or a build fails; then no
/// test runs.
pub fn build(
    ws: &Workspace,
    boards: &Boards,
    manifest: &Manifest,
    cases: &[Case<'_>],
    profile: Profile,
) -> Result<Images> {
    let mut catalog = Catalog::new(ws);
    let mut elfs = BTreeMap::new();
    let mut wanted: Vec<(CaseId, Request)> = Vec::new();
    for case in cases.iter().filter(|c| c.test.skip.is_none()) {
        let (recipe, executable, own_profile) = match &case.test.source {
            Source::Elf(template) => {
                let path = manifest::path_on(manifest.dir(), template, case.board);
                let named = case.test.image.as_ref().map(|t| {
                    t.replace("{board}", &case.board.name)
                        .parse::<ImageId>()
                        .map(|id| (path.clone(), id))
                });
                let image = named
                    .unwrap_or_else(|| Ok((path.clone(), image_id(&case.board.name, &path, None))));
                elfs.insert(case.id.clone(), image);
                continue;
            }
            Source::Build {
                recipe,
                executable,
                profile,
            } => (recipe, executable, profile),
        };
        if let Some(reason) = catalog.missing(recipe, executable)? {
            elfs.insert(case.id.clone(), Err(format!("ELF missing: {reason}")));
            continue;
        }
        let request = Request {
            board: case.board.name.clone(),
            profile: own_profile.unwrap_or(profile),
            recipe: recipe.clone(),
            executable: executable.clone(),
        };
        wanted.push((case.id.clone(), request));
    }
    let requests: BTreeSet<Request> = wanted.iter().map(|(_, r)| r.clone()).collect();
    let all: Vec<&Board> = boards.all().iter().collect();
    let built = cargo::build(&mut catalog, &all, &requests)?;
    for (id, request) in wanted {
        let elf = built
            .get(&request)
            .map(|elf| {
                let built = Some((&request.recipe.project, &request.executable));
                (elf.clone(), image_id(&request.board, elf, built))
            })
            .ok_or_else(|| format!("ELF missing: cargo built no {}", request.executable));
        elfs.insert(id, elf);
    }
    Ok(Images(elfs))
}
