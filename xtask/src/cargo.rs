//! Firmware builds through cargo (`$CARGO`, else `cargo`), per board and
//! profile, as the interfaces between xtask and the firmware fix them:
//!
//! - what to build is a [`Request`]: an executable (bin or example) of a
//!   [`Recipe`] (a workspace package, or the root package of a cargo project
//!   outside the workspace, with its features) for one board and profile;
//! - a workspace package that depends on the `board` facade is built for
//!   board B with `--features board/B`, when the facade declares a feature of
//!   that name (other packages, and projects outside the workspace, get no
//!   board feature);
//! - every invocation carries `--remap-path-prefix` flags, so no checkout
//!   path lands in an image and releases are reproducible;
//! - each invocation builds one package, and each built executable is copied
//!   to its own path under `<target_dir>/images/` ([`image_path`]), so no
//!   image overwrites another: not across boards that share a triple, nor
//!   across packages, profiles, features or projects with a target of the
//!   same name.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};
use cargo_metadata::{DependencyKind, Message, MetadataCommand, Package, Target};
use serde::{Deserialize, Serialize};
use xshell::cmd;

use crate::boards::Board;
use crate::checksums::sha256_hex;
use crate::cmd::{cargo, shell};
use crate::image::ImageId;
use crate::workspace::{Workspace, copy_atomic};

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
/// per board feature (what clippy checks; it writes no executables).
pub fn invocations(ws: &Workspace, board: &Board, packages: &[&Package]) -> Vec<Invocation> {
    let mut groups: Vec<Invocation> = Vec::new();
    for p in packages {
        let feature = board_feature(ws, board, p);
        match groups.iter_mut().find(|inv| inv.feature == feature) {
            Some(inv) => inv.packages.push(p.name.to_string()),
            None => groups.push(Invocation {
                packages: vec![p.name.to_string()],
                feature,
            }),
        }
    }
    groups
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

/// Where a firmware package comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Project {
    /// A member of this workspace, by package name.
    Workspace(String),
    /// The root package of a cargo project outside the workspace: the
    /// absolute path of its `Cargo.toml`. It is built from its own directory,
    /// so that its `.cargo/config.toml` applies, into
    /// `<target_dir>/external/<package>.<hash>/`.
    External(PathBuf),
}

/// An executable target of a package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Executable {
    Bin(String),
    Example(String),
}

impl Executable {
    /// The target's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Bin(n) | Self::Example(n) => n,
        }
    }

    /// `bin` or `example`: cargo's target kind and the flag that selects it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Bin(_) => "bin",
            Self::Example(_) => "example",
        }
    }

    /// The executable that `target` is, when it is a bin or an example.
    fn of_target(target: &Target) -> Option<Self> {
        if target.is_bin() {
            Some(Self::Bin(target.name.clone()))
        } else if target.is_example() {
            Some(Self::Example(target.name.clone()))
        } else {
            None
        }
    }
}

impl fmt::Display for Executable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.kind(), self.name())
    }
}

/// A package and the cargo features it is built with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Recipe {
    pub project: Project,
    /// Features to enable, sorted and without duplicates; a workspace
    /// package also gets its board feature.
    pub features: Vec<String>,
    pub no_default_features: bool,
}

impl Recipe {
    /// A workspace package with its default features.
    pub fn workspace(package: &str) -> Self {
        Self {
            project: Project::Workspace(package.to_owned()),
            features: Vec::new(),
            no_default_features: false,
        }
    }

    /// Whether the package is the workspace's, with default features only.
    fn is_plain(&self) -> bool {
        matches!(self.project, Project::Workspace(_))
            && self.features.is_empty()
            && !self.no_default_features
    }

    /// 8 hex digits of the SHA-256 of the project and its features.
    fn hash(&self) -> String {
        short_hash(&format!(
            "{}\0{}\0{}",
            self.project.key(),
            self.features.join(","),
            self.no_default_features
        ))
    }
}

impl Project {
    /// `workspace:<package>` or `external:<Cargo.toml path>`.
    fn key(&self) -> String {
        match self {
            Self::Workspace(name) => format!("workspace:{name}"),
            Self::External(manifest) => format!("external:{}", manifest.display()),
        }
    }
}

/// The first 8 hex digits of the SHA-256 of `key`.
fn short_hash(key: &str) -> String {
    sha256_hex(key.as_bytes())[..8].to_owned()
}

/// One image to build: an executable of a recipe for a board and profile.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Request {
    /// The board's name in `qemu/boards.toml`.
    pub board: String,
    pub profile: Profile,
    pub recipe: Recipe,
    pub executable: Executable,
}

/// The image path of `executable` of `package` (the recipe's package) for
/// `board` and `profile`:
/// `<target_dir>/images/<board>/<profile>/<crate>/<bin>`, or
/// `…/<crate>/examples/<example>` (cargo forbids a bin named `examples`).
/// `<crate>` is the package name for a workspace package with its default
/// features, and `<package>.<hash>` for any other recipe, `<hash>` being 8
/// hex digits of the SHA-256 of the project and features; package names
/// hold no `.`, so two recipes never share a folder.
pub fn image_path(
    ws: &Workspace,
    board: &str,
    profile: Profile,
    recipe: &Recipe,
    package: &str,
    executable: &Executable,
) -> PathBuf {
    let krate = if recipe.is_plain() {
        package.to_owned()
    } else {
        format!("{package}.{}", recipe.hash())
    };
    let dir = ws
        .target_dir
        .join("images")
        .join(board)
        .join(profile.name())
        .join(krate);
    match executable {
        Executable::Bin(name) => dir.join(name),
        Executable::Example(name) => dir.join("examples").join(name),
    }
}

/// The packages that recipes name: the workspace's, from its metadata, and
/// the root package of each project outside it, from
/// `cargo metadata --no-deps --manifest-path` (once per project).
pub struct Catalog<'ws> {
    ws: &'ws Workspace,
    external: BTreeMap<PathBuf, Package>,
}

impl<'ws> Catalog<'ws> {
    pub fn new(ws: &'ws Workspace) -> Self {
        Self {
            ws,
            external: BTreeMap::new(),
        }
    }

    /// The package `project` names.
    ///
    /// Errors: no workspace package of that name (the message lists the
    /// firmware packages), `cargo metadata` fails for a project outside the
    /// workspace, or its `Cargo.toml` has no `[package]` (a virtual
    /// workspace manifest).
    pub fn package(&mut self, project: &Project) -> Result<&Package> {
        let manifest = match project {
            Project::Workspace(name) => return self.workspace_package(name),
            Project::External(manifest) => manifest,
        };
        if !self.external.contains_key(manifest) {
            let metadata = MetadataCommand::new()
                .manifest_path(manifest)
                .no_deps()
                .exec()
                .with_context(|| format!("`cargo metadata` failed for {}", manifest.display()))?;
            let root = metadata.root_package().cloned().with_context(|| {
                format!(
                    "{} has no [package]: point `manifest_path` at the Cargo.toml of the package to build",
                    manifest.display()
                )
            })?;
            self.external.insert(manifest.clone(), root);
        }
        Ok(&self.external[manifest])
    }

    fn workspace_package(&self, name: &str) -> Result<&'ws Package> {
        let packages = self.ws.metadata.workspace_packages();
        if let Some(p) = packages.iter().find(|p| p.name.as_str() == name) {
            return Ok(p);
        }
        let firmware: Vec<&str> = self
            .ws
            .firmware_packages()
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        bail!(
            "no workspace package `{name}` (firmware packages: {}); for a cargo project outside the workspace, use `manifest_path`",
            firmware.join(", ")
        )
    }

    /// Why the recipe's package cannot build `executable`, if it cannot: it
    /// has no such target (the reason lists the ones it has).
    ///
    /// Errors: as [`Catalog::package`].
    pub fn missing(&mut self, recipe: &Recipe, executable: &Executable) -> Result<Option<String>> {
        let package = self.package(&recipe.project)?;
        let same_kind: Vec<&str> = package
            .targets
            .iter()
            .filter(|t| Executable::of_target(t).is_some_and(|e| e.kind() == executable.kind()))
            .map(|t| t.name.as_str())
            .collect();
        if same_kind.contains(&executable.name()) {
            return Ok(None);
        }
        Ok(Some(format!(
            "package `{}` has no {executable} (its {}s: {})",
            package.name,
            executable.kind(),
            if same_kind.is_empty() {
                "none".to_owned()
            } else {
                same_kind.join(", ")
            }
        )))
    }
}

/// Builds `requests`, one `cargo build` per board, profile and recipe for
/// all the executables wanted from it, and copies each executable to its
/// [`image_path`]. Returns every request's image path.
///
/// Errors: a request names a board missing from `boards`, a package cannot
/// be found ([`Catalog::package`]), cargo fails to start or a build fails
/// (cargo's diagnostics are already on stderr), cargo builds no file for a
/// requested executable, or an image cannot be copied.
pub fn build(
    catalog: &mut Catalog<'_>,
    boards: &[&Board],
    requests: &BTreeSet<Request>,
) -> Result<BTreeMap<Request, PathBuf>> {
    let mut groups: BTreeMap<(&str, Profile, &Recipe), Vec<&Executable>> = BTreeMap::new();
    for r in requests {
        groups
            .entry((r.board.as_str(), r.profile, &r.recipe))
            .or_default()
            .push(&r.executable);
    }
    let mut built = BTreeMap::new();
    for ((board, profile, recipe), executables) in groups {
        let board = boards
            .iter()
            .find(|b| b.name == board)
            .with_context(|| format!("no board `{board}` to build for"))?;
        for (executable, elf) in catalog.cargo_build(board, profile, recipe, &executables)? {
            let request = Request {
                board: board.name.clone(),
                profile,
                recipe: recipe.clone(),
                executable,
            };
            built.insert(request, elf);
        }
    }
    Ok(built)
}

impl Catalog<'_> {
    /// One `cargo build` of `executables` of the recipe's package, and the
    /// copies of what it built.
    fn cargo_build(
        &mut self,
        board: &Board,
        profile: Profile,
        recipe: &Recipe,
        executables: &[&Executable],
    ) -> Result<Vec<(Executable, PathBuf)>> {
        let ws = self.ws;
        let package = self.package(&recipe.project)?.clone();
        let (dir, mut args) = self.location(recipe, &package)?;
        let mut features = recipe.features.clone();
        if matches!(recipe.project, Project::Workspace(_)) {
            features.extend(board_feature(ws, board, &package));
        }
        if !features.is_empty() {
            args.extend(["--features".into(), features.join(",").into()]);
        }
        if recipe.no_default_features {
            args.push("--no-default-features".into());
        }
        for e in executables {
            args.extend([format!("--{}", e.kind()).into(), e.name().into()]);
        }
        let sh = shell(&dir)?;
        let (cargo, target, cargo_profile) = (cargo(), &board.target, profile.cargo_name());
        let remap = remap_path_config(ws, target, profile);
        // Held until the images are copied: see [`build_lock`].
        let _lock = build_lock(ws)?;
        let color = crate::term::cargo_color();
        let json = cmd!(
            sh,
            "{cargo} build --color {color} --message-format=json-render-diagnostics --target {target} --profile {cargo_profile} --config {remap} {args...}"
        )
        .quiet()
        .read()
        .map_err(|e| anyhow!("cargo build of `{}` for {} ({profile}) failed: {e}", package.name, board.name))?;
        let mut out = Vec::new();
        for message in Message::parse_stream(json.as_bytes()) {
            let Message::CompilerArtifact(artifact) =
                message.context("reading cargo's JSON output")?
            else {
                continue;
            };
            let (Some(exe), Some(executable)) =
                (artifact.executable, Executable::of_target(&artifact.target))
            else {
                continue;
            };
            if artifact.package_id != package.id || !executables.contains(&&executable) {
                continue;
            }
            let elf = image_path(ws, &board.name, profile, recipe, &package.name, &executable);
            copy_atomic(exe.as_std_path(), &elf)?;
            out.push((executable, elf));
        }
        if let Some(lost) = executables
            .iter()
            .find(|e| !out.iter().any(|(b, _)| b == **e))
        {
            bail!(
                "cargo build of `{}` for {} ({profile}) produced no file for {lost}",
                package.name,
                board.name
            );
        }
        Ok(out)
    }

    /// The directory cargo runs in and the arguments that select the
    /// package: `--package` in the workspace root, or `--manifest-path` and
    /// `--target-dir <target_dir>/external/<package>.<hash>` in the
    /// project's own directory.
    fn location(&self, recipe: &Recipe, package: &Package) -> Result<(PathBuf, Vec<OsString>)> {
        match &recipe.project {
            Project::Workspace(name) => {
                Ok((self.ws.root.clone(), vec!["--package".into(), name.into()]))
            }
            Project::External(manifest) => {
                let dir = manifest
                    .parent()
                    .with_context(|| format!("{} has no directory", manifest.display()))?;
                let target_dir = self.ws.target_dir.join("external").join(format!(
                    "{}.{}",
                    package.name,
                    short_hash(&recipe.project.key())
                ));
                Ok((
                    dir.to_owned(),
                    vec![
                        "--manifest-path".into(),
                        manifest.into(),
                        "--target-dir".into(),
                        target_dir.into(),
                    ],
                ))
            }
        }
    }
}

/// The exclusive lock of `<target_dir>/.xtask-build.lock`, which one
/// `cargo build` and the copies of what it built hold together. Cargo
/// puts the binaries of every package at one path,
/// `<target>/<profile>/<bin>`, so without it a concurrent `cargo xtask`
/// building another package's same-named binary could replace that file
/// between the build and the copy, and a test would run the wrong image.
///
/// Errors: the file cannot be created or locked.
fn build_lock(ws: &Workspace) -> Result<std::fs::File> {
    std::fs::create_dir_all(&ws.target_dir)
        .with_context(|| format!("cannot create {}", ws.target_dir.display()))?;
    let path = ws.target_dir.join(".xtask-build.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(file)
}

/// Builds every binary of every firmware image package for each board and
/// profile, and returns the images sorted by board, profile, package and
/// binary.
///
/// Errors: no image package, or as [`build`].
pub fn build_images(ws: &Workspace, boards: &[&Board], profiles: &[Profile]) -> Result<Vec<Image>> {
    let packages = ws.firmware_image_packages();
    if packages.is_empty() {
        bail!(
            "no firmware image package under {}",
            ws.root.join("firmware").display()
        );
    }
    let mut requests = BTreeSet::new();
    for board in boards {
        for &profile in profiles {
            for p in &packages {
                for t in p.targets.iter().filter(|t| t.is_bin()) {
                    requests.insert(Request {
                        board: board.name.clone(),
                        profile,
                        recipe: Recipe::workspace(&p.name),
                        executable: Executable::Bin(t.name.clone()),
                    });
                }
            }
        }
    }
    let built = build(&mut Catalog::new(ws), boards, &requests)?;
    let mut images = Vec::new();
    for (r, elf) in built {
        let (Project::Workspace(package), Some(board)) =
            (&r.recipe.project, boards.iter().find(|b| b.name == r.board))
        else {
            continue;
        };
        images.push(Image {
            id: ImageId::built(&r.board, package, r.executable.name()),
            target: board.target.clone(),
            profile: r.profile,
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
    let color = crate::term::cargo_color();
    let json = cmd!(
        sh,
        "{cargo} build --color {color} --message-format=json-render-diagnostics --package {package} --bin {bin}"
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
    fn images_have_one_path_per_board_profile_recipe_and_target() {
        let (ws, _) = workspace();
        let plain = Recipe::workspace("fw-tests");
        let bin = Executable::Bin("sched".into());
        let path = image_path(&ws, "sifive_e", Profile::Debug, &plain, "fw-tests", &bin);
        assert!(
            path.ends_with("images/sifive_e/debug/fw-tests/sched"),
            "{}",
            path.display()
        );
        let featured = Recipe {
            features: vec!["extra".into()],
            ..plain.clone()
        };
        let bare = Recipe {
            no_default_features: true,
            ..plain.clone()
        };
        let external = Recipe {
            project: Project::External(ws.root.join("elsewhere/fw-tests/Cargo.toml")),
            ..plain.clone()
        };
        let example = Executable::Example("sched".into());
        let mut paths = BTreeSet::new();
        for board in ["lm3s6965evb", "sifive_e"] {
            for profile in Profile::ALL {
                for recipe in [&plain, &featured, &bare, &external] {
                    for exe in [&bin, &example] {
                        let p = image_path(&ws, board, profile, recipe, "fw-tests", exe);
                        assert!(p.starts_with(ws.target_dir.join("images")));
                        assert!(paths.insert(p.clone()), "{} twice", p.display());
                    }
                }
            }
        }
        let ex = image_path(
            &ws,
            "sifive_e",
            Profile::Release,
            &plain,
            "fw-tests",
            &example,
        );
        assert!(ex.ends_with("fw-tests/examples/sched"), "{}", ex.display());
        let f = image_path(
            &ws,
            "sifive_e",
            Profile::Release,
            &featured,
            "fw-tests",
            &bin,
        );
        let dir = f.parent().unwrap().file_name().unwrap().to_string_lossy();
        assert!(
            dir.starts_with("fw-tests.") && dir.len() == "fw-tests.".len() + 8,
            "{dir}"
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
