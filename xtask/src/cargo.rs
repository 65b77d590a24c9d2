//! Firmware builds through cargo (`$CARGO`, else `cargo`), per board and
//! profile, as the interfaces between xtask and the firmware fix them:
//!
//! - a workspace package that depends on the `board` facade is built for
//!   board B with `--features board/B`, when the facade declares a feature of
//!   that name (packages without that dependency get no feature);
//! - every invocation carries `--remap-path-prefix` flags, so no checkout
//!   path lands in an image and releases are reproducible;
//! - each built executable is copied to
//!   `<target_dir>/images/<board>/<profile>/<package>/<bin>`, a path no other
//!   image shares even when boards share a triple; packages whose binaries
//!   share a name are built in separate invocations, so cargo's own output
//!   file is never overwritten by the other package.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};
use cargo_metadata::{DependencyKind, Message, Package};
use serde::{Deserialize, Serialize};
use xshell::cmd;

use crate::boards::Board;
use crate::cmd::{cargo, shell};
use crate::fault;
use crate::image::ImageId;
use crate::workspace::{Workspace, temp_beside};

/// The name of the facade crate whose features choose the board.
pub const BOARD_FACADE: &str = "board";

/// A firmware build profile.
#[derive(
    clap::ValueEnum,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// cargo's `dev` profile.
    Debug,
    Release,
    /// `[profile.coverage]` of the workspace: the release code with DWARF
    /// line tables (see [`remap_path_config`]), so that QEMU's logs map to
    /// source lines (`cargo xtask qemu --coverage`). Not part of `all`.
    Coverage,
}

impl Profile {
    /// Every profile, in build order.
    pub const ALL: [Profile; 2] = [Profile::Debug, Profile::Release];

    /// The cargo profile name passed to `--profile`.
    pub fn cargo_name(self) -> &'static str {
        match self {
            Self::Debug => "dev",
            Self::Release => "release",
            Self::Coverage => "coverage",
        }
    }

    /// `debug` or `release`: the command-line and report name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Release => "release",
            Self::Coverage => "coverage",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of profiles on the command line: `all`, or profiles separated by
/// commas (`debug,release`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profiles(pub Vec<Profile>);

impl FromStr for Profiles {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "all" {
            return Ok(Self(Profile::ALL.to_vec()));
        }
        let mut out = Vec::new();
        for word in s.split(',') {
            let p = <Profile as clap::ValueEnum>::from_str(word.trim(), false).map_err(|_| {
                format!("unknown profile `{word}`; valid: debug, release, coverage, all")
            })?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(Self(out))
    }
}

/// One built firmware ELF.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: ImageId,
    /// The target triple it was built for.
    pub target: String,
    pub profile: Profile,
    /// `<target_dir>/images/<board>/<profile>/<package>/<bin>`.
    pub elf: PathBuf,
}

impl Image {
    /// The package that built it.
    pub fn package(&self) -> &str {
        self.id.package.as_deref().unwrap_or_default()
    }

    /// The binary target's name.
    pub fn bin(&self) -> &str {
        &self.id.bin
    }

    /// Whether this is `package`'s binary `bin` for `board`.
    pub fn is(&self, board: &str, package: &str, bin: &str) -> bool {
        self.id.board == board && self.package() == package && self.id.bin == bin
    }
}

/// One cargo invocation: the packages it selects and the board feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub packages: Vec<String>,
    /// `board/<board>` when the packages depend on the facade.
    pub feature: Option<String>,
}

impl Invocation {
    /// `--package P …` and `--features F`.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for p in &self.packages {
            args.extend(["--package".to_string(), p.clone()]);
        }
        if let Some(f) = &self.feature {
            args.extend(["--features".to_string(), f.clone()]);
        }
        args
    }
}

/// The `board` facade package of the workspace, if there is one.
fn facade(ws: &Workspace) -> Option<&Package> {
    ws.metadata
        .workspace_packages()
        .into_iter()
        .find(|p| p.name.as_str() == BOARD_FACADE)
}

/// The `--features` value that selects `board` for `package`: `board/<name>`
/// when `package` is the facade or depends on it and the facade declares a
/// feature named like the board.
pub fn board_feature(ws: &Workspace, board: &Board, package: &Package) -> Option<String> {
    if !facade(ws)?.features.contains_key(&board.name) {
        return None;
    }
    let depends = package.name.as_str() == BOARD_FACADE
        || package
            .dependencies
            .iter()
            .any(|d| d.name == BOARD_FACADE && d.kind == DependencyKind::Normal);
    depends.then(|| format!("{BOARD_FACADE}/{}", board.name))
}

/// `board/<name>` for each of `boards` whose feature the facade declares:
/// the features that resolve the dependency graph of every board at once.
pub fn facade_features(ws: &Workspace, boards: &[&Board]) -> Vec<String> {
    let Some(facade) = facade(ws) else {
        return Vec::new();
    };
    boards
        .iter()
        .filter(|b| facade.features.contains_key(&b.name))
        .map(|b| format!("{BOARD_FACADE}/{}", b.name))
        .collect()
}

/// Splits `packages` into as few invocations as possible for `board`: one
/// per board feature, and with `split_bins`, never two packages with a
/// binary of the same name in one invocation.
pub fn invocations(
    ws: &Workspace,
    board: &Board,
    packages: &[&Package],
    split_bins: bool,
) -> Vec<Invocation> {
    let mut groups: Vec<(Invocation, BTreeSet<String>)> = Vec::new();
    for p in packages {
        let feature = board_feature(ws, board, p);
        let bins: BTreeSet<String> = if split_bins {
            p.targets
                .iter()
                .filter(|t| t.is_bin())
                .map(|t| t.name.clone())
                .collect()
        } else {
            BTreeSet::new()
        };
        let fits = |(inv, taken): &&mut (Invocation, BTreeSet<String>)| {
            inv.feature == feature && taken.is_disjoint(&bins)
        };
        match groups.iter_mut().find(|g| fits(g)) {
            Some((inv, taken)) => {
                inv.packages.push(p.name.to_string());
                taken.extend(bins);
            }
            None => groups.push((
                Invocation {
                    packages: vec![p.name.to_string()],
                    feature,
                },
                bins,
            )),
        }
    }
    groups.into_iter().map(|(inv, _)| inv).collect()
}

/// A `cargo --config` value that appends `--remap-path-prefix` flags to
/// `target.<triple>.rustflags` (cargo joins config arrays, so the
/// `-Tlink.x` from `.cargo/config.toml` stays): the workspace root becomes
/// `.`, and a target directory outside it becomes `target`. Later flags win
/// in rustc, so the more specific target directory comes last. Debug info
/// (`DW_AT_comp_dir`, file names) and panic locations then hold no host path.
///
/// For [`Profile::Coverage`] it also appends `-C debuginfo=line-tables-only
/// -C strip=none`: DWARF line tables given as flags, unlike a profile's
/// `debug` setting, stay out of cargo's `-C metadata`, so symbol hashes,
/// the linker's layout and every byte of code stay those of the release
/// build.
pub fn remap_path_config(ws: &Workspace, triple: &str, profile: Profile) -> String {
    let mut flags = vec![format!("--remap-path-prefix={}=.", ws.root.display())];
    if !ws.target_dir.starts_with(&ws.root) {
        flags.push(format!(
            "--remap-path-prefix={}=target",
            ws.target_dir.display()
        ));
    }
    if profile == Profile::Coverage {
        flags.extend(["-Cdebuginfo=line-tables-only".into(), "-Cstrip=none".into()]);
    }
    let list = toml::Value::Array(flags.into_iter().map(toml::Value::String).collect());
    format!("target.{triple}.rustflags={list}")
}

/// `<target_dir>/images/<board>/<profile>/<package>/<bin>`.
pub fn image_path(ws: &Workspace, id: &ImageId, profile: Profile) -> PathBuf {
    ws.target_dir
        .join("images")
        .join(&id.board)
        .join(profile.name())
        .join(id.package.as_deref().unwrap_or("elf"))
        .join(&id.bin)
}

/// Builds every firmware image package for each board and profile, and
/// returns the images sorted by board, profile, package and binary.
///
/// Errors: no image package, cargo fails to start, a build fails (cargo's
/// diagnostics are already on stderr), or an image cannot be copied.
pub fn build_images(ws: &Workspace, boards: &[&Board], profiles: &[Profile]) -> Result<Vec<Image>> {
    let packages = ws.firmware_image_packages();
    if packages.is_empty() {
        bail!(
            "no firmware image package under {}",
            ws.root.join("firmware").display()
        );
    }
    let mut images = Vec::new();
    for board in boards {
        for &profile in profiles {
            let mut built = Vec::new();
            for inv in invocations(ws, board, &packages, true) {
                built.extend(build(ws, board, profile, &inv)?);
            }
            built.sort_by(|a: &Image, b| a.id.cmp(&b.id));
            images.extend(built);
        }
    }
    Ok(images)
}

/// One `cargo build --bins` and the copies of what it built.
fn build(ws: &Workspace, board: &Board, profile: Profile, inv: &Invocation) -> Result<Vec<Image>> {
    let sh = shell(&ws.root)?;
    let (cargo, target, cargo_profile) = (cargo(), &board.target, profile.cargo_name());
    let remap = remap_path_config(ws, target, profile);
    let args = inv.args();
    let json = cmd!(
        sh,
        "{cargo} build --message-format=json-render-diagnostics --bins --target {target} --profile {cargo_profile} --config {remap} {args...}"
    )
    .quiet()
    .read()
    .map_err(|e| anyhow!("cargo build for {} ({profile}) failed: {e}", board.name))?;
    let mut images = Vec::new();
    for message in Message::parse_stream(json.as_bytes()) {
        let Message::CompilerArtifact(artifact) = message.context("reading cargo's JSON output")?
        else {
            continue;
        };
        let Some(exe) = artifact.executable else {
            continue;
        };
        let package = ws
            .metadata
            .packages
            .iter()
            .find(|p| p.id == artifact.package_id)
            .map(|p| p.name.to_string())
            .with_context(|| format!("cargo built {exe} for an unknown package"))?;
        let id = ImageId::built(&board.name, &package, &artifact.target.name);
        let elf = image_path(ws, &id, profile);
        copy_atomic(exe.as_std_path(), &elf)?;
        images.push(Image {
            id,
            target: target.clone(),
            profile,
            elf,
        });
    }
    Ok(images)
}

/// Builds binary `bin` of host package `package` (a workspace member that
/// is not a default member, such as `xtask-coverage`) in cargo's `dev`
/// profile and returns the executable's path. Cargo's fingerprints make a
/// second call cheap.
///
/// Errors: cargo fails to start, the build fails (its diagnostics are on
/// stderr), or cargo reports no such executable.
pub fn build_host_tool(ws: &Workspace, package: &str, bin: &str) -> Result<PathBuf> {
    let sh = shell(&ws.root)?;
    let cargo = cargo();
    let json = cmd!(
        sh,
        "{cargo} build --message-format=json-render-diagnostics --package {package} --bin {bin}"
    )
    .quiet()
    .read()
    .map_err(|e| anyhow!("cargo build of `{package}` failed: {e}"))?;
    for message in Message::parse_stream(json.as_bytes()) {
        if let Message::CompilerArtifact(artifact) =
            message.context("reading cargo's JSON output")?
            && artifact.target.name == bin
            && let Some(exe) = artifact.executable
        {
            return Ok(exe.into_std_path_buf());
        }
    }
    bail!("cargo built no executable `{bin}` for package `{package}`")
}

/// Copies `from` to `to` through a uniquely named temporary file in `to`'s
/// directory, so a reader never sees a partial image and concurrent builds
/// never share a temporary name. The copy keeps `from`'s permissions.
fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let tmp = temp_beside(to)?;
    std::fs::copy(from, tmp.path())
        .with_context(|| format!("cannot copy {} to {}", from.display(), tmp.path().display()))?;
    fault::point("image-copy", to);
    tmp.persist(to)
        .map_err(|e| anyhow::Error::new(e.error))
        .with_context(|| format!("cannot write {}", to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boards::Boards;

    fn workspace() -> (Workspace, Boards) {
        let ws = Workspace::load().expect("workspace");
        let boards = Boards::load(&ws).expect("boards");
        (ws, boards)
    }

    #[test]
    fn packages_sharing_a_bin_name_are_built_apart() {
        let (ws, boards) = workspace();
        let board = &boards.all()[0];
        let packages = ws.firmware_image_packages();
        let fixtures = packages
            .iter()
            .find(|p| p.name.as_str() == "fw-fixtures")
            .expect("fw-fixtures");
        let mut twin = (*fixtures).clone();
        twin.name = cargo_metadata::PackageName::new("fw-twin".to_string());
        let mut with_twin = packages.clone();
        with_twin.push(&twin);
        let split = invocations(&ws, board, &with_twin, true);
        assert_eq!(
            split.len(),
            invocations(&ws, board, &packages, true).len() + 1
        );
        assert!(
            split
                .iter()
                .all(|i| !(i.packages.contains(&"fw-fixtures".to_string())
                    && i.packages.contains(&"fw-twin".to_string()))),
            "{split:?}"
        );
        // clippy writes no executables, so nothing collides there.
        assert_eq!(
            invocations(&ws, board, &with_twin, false).len(),
            invocations(&ws, board, &packages, false).len()
        );
    }

    #[test]
    fn the_board_feature_goes_to_packages_that_depend_on_the_facade() {
        let (ws, boards) = workspace();
        let board = &boards.all()[0];
        let mut metadata = ws.metadata.clone();
        let facade = metadata
            .packages
            .iter_mut()
            .find(|p| p.name.as_str() == BOARD_FACADE)
            .expect("the board facade");
        let declared = facade.features.contains_key(&board.name);
        facade.features.insert(board.name.clone(), Vec::new());
        let with_feature = Workspace {
            root: ws.root.clone(),
            target_dir: ws.target_dir.clone(),
            metadata,
        };
        let package = |name: &str| {
            with_feature
                .metadata
                .packages
                .iter()
                .find(|p| p.name.as_str() == name)
                .expect(name)
        };
        let want = Some(format!("board/{}", board.name));
        assert_eq!(
            board_feature(&with_feature, board, package("fw-tests")),
            want
        );
        assert_eq!(board_feature(&with_feature, board, package("board")), want);
        assert_eq!(board_feature(&with_feature, board, package("kernel")), None);
        if !declared {
            // Before the facade declares board features, none is passed.
            let tests = ws.firmware_image_packages();
            assert!(tests.iter().all(|p| board_feature(&ws, board, p).is_none()));
        }
    }

    #[test]
    fn images_have_one_path_per_board_profile_package_and_bin() {
        let (ws, _) = workspace();
        let id = ImageId::built("sifive_e", "fw-tests", "sched");
        let path = image_path(&ws, &id, Profile::Debug);
        assert!(
            path.ends_with("images/sifive_e/debug/fw-tests/sched"),
            "{}",
            path.display()
        );
    }

    #[test]
    fn profiles_parse_all_and_lists() {
        assert_eq!("all".parse(), Ok(Profiles(Profile::ALL.to_vec())));
        assert_eq!("release".parse(), Ok(Profiles(vec![Profile::Release])));
        assert_eq!(
            "debug,release,debug".parse(),
            Ok(Profiles(vec![Profile::Debug, Profile::Release]))
        );
        assert!("fast".parse::<Profiles>().is_err());
    }
}
