//! The test manifest, `qemu/tests.toml`: which images run on which boards and
//! what each must print and exit with. Parsed with `deny_unknown_fields`;
//! every error names the file, line and column.
//!
//! Each test takes its image from exactly one source: `package` (a
//! workspace package), `manifest_path` (the `Cargo.toml` of a cargo project
//! outside the workspace), both built by cargo with `bin` or `example`,
//! `features`, `no_default_features` and `profile`; or `elf`, a prebuilt
//! ELF. Paths are relative to the manifest's directory, or absolute.
//!
//! The verdict fields (`match`, `console`, `fail_regex`, `log_format`) can
//! also be set for every test in a `[defaults]` table; a test's own value
//! wins.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use regex::bytes::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::console::{Console, FailMarkers, LogFormat, Match};
use super::expect::{Expectation, Output};
use crate::boards::{Board, BoardArgs, Boards};
use crate::cargo::{Executable, Profile, Project, Recipe};
use crate::elf::Elf;
use crate::image::ImageId;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    test: Vec<Entry>,
}

/// `[defaults]`: verdict fields for every test that does not set its own.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Defaults {
    #[serde(rename = "match")]
    matching: Option<Match>,
    console: Option<Console>,
    fail_regex: Option<Spanned<Vec<String>>>,
    log_format: Option<LogFormat>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Spanned<String>,
    package: Option<Spanned<String>>,
    manifest_path: Option<Spanned<String>>,
    elf: Option<Spanned<String>>,
    image: Option<Spanned<String>>,
    bin: Option<Spanned<String>>,
    example: Option<Spanned<String>>,
    features: Option<Spanned<Vec<String>>>,
    no_default_features: Option<Spanned<bool>>,
    profile: Option<Spanned<Profile>>,
    boards: Option<Spanned<Vec<String>>>,
    expected: Option<String>,
    expect_regex: Option<Spanned<Vec<String>>>,
    exit_code: Option<Spanned<i64>>,
    timeout: Option<Spanned<f64>>,
    #[serde(default)]
    qemu_args: Vec<String>,
    skip: Option<String>,
    #[serde(rename = "match")]
    matching: Option<Match>,
    console: Option<Console>,
    fail_regex: Option<Spanned<Vec<String>>>,
    log_format: Option<LogFormat>,
}

/// How a test's console is read and judged, manifest defaults applied.
#[derive(Debug, Clone, Default)]
pub struct VerdictSpec {
    pub matching: Match,
    pub console: Console,
    /// The test's or the manifest's `fail_regex`; `None` leaves the
    /// board's, then [`FailMarkers::defaults`].
    pub fail_regex: Option<FailMarkers>,
    pub log_format: LogFormat,
}

/// What a test's console must show, before `{board}` is substituted.
#[derive(Debug, Clone)]
pub enum OutputSpec {
    /// Transcript file, relative to the manifest's directory; `{board}` is
    /// replaced by the board name.
    Expected(String),
    /// Ordered regexes.
    Regex(Vec<Regex>),
}

/// Where a test's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Built by cargo: `package` or `manifest_path`, with `bin` (default:
    /// the test's name) or `example`, `features` and `no_default_features`.
    Build {
        recipe: Recipe,
        executable: Executable,
        /// `profile`; `None`: the suite's `--profile`.
        profile: Option<Profile>,
    },
    /// `elf`: a prebuilt ELF, relative to the manifest's directory or
    /// absolute; `{board}` is replaced by the board name.
    Elf(String),
}

/// One `[[test]]` entry.
#[derive(Debug, Clone)]
pub struct Test {
    pub name: String,
    pub source: Source,
    /// Board names; `None` means every board. An `elf` without `boards`
    /// gets the board `--elf` would pick for it.
    pub boards: Option<Vec<String>>,
    pub output: OutputSpec,
    /// Expected semihosting exit code, 0..=255.
    pub exit_code: i32,
    pub timeout: Option<Duration>,
    /// Extra QEMU arguments, after the board's.
    pub qemu_args: Vec<String>,
    /// Quarantine: the test is reported `skipped` with this reason.
    pub skip: Option<String>,
    /// For an `elf`: the image's name as budgets and reports give it,
    /// `{board}/<package>/<bin>` (`{board}` is replaced by the board name),
    /// which a bundle keeps from the build. `None`: `<board>/<file name>`.
    pub image: Option<String>,
    pub verdict: VerdictSpec,
}

#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    /// The manifest's directory, absolute: what its paths are relative to.
    dir: PathBuf,
    pub tests: Vec<Test>,
}

impl Manifest {
    /// Reads and validates `path` against `boards`.
    ///
    /// Errors: unreadable file; TOML syntax, unknown or mistyped fields,
    /// duplicate names, unknown boards, bad regexes, an empty
    /// `expect_regex`, `exit_code` outside 0..=255, `timeout` outside 1 ms
    /// to 24 h, neither/both of `expected` and `expect_regex`, not exactly
    /// one source, build fields on an `elf`, a `manifest_path` that is no
    /// `Cargo.toml`, or an `elf` without `boards` that cannot be read or
    /// fits no single board, each with line and column.
    pub fn load(path: &Path, boards: &Boards) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read test manifest {}", path.display()))?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = std::path::absolute(parent)
            .with_context(|| format!("cannot resolve {}", parent.display()))?;
        let tests = parse(&text, &dir, boards)
            .with_context(|| format!("invalid test manifest {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            dir,
            tests,
        })
    }

    /// The directory `expected` and `elf` paths are relative to (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Test {
    /// Whether the test runs on `board`.
    pub fn runs_on(&self, board: &Board) -> bool {
        self.boards.as_ref().is_none_or(|b| b.contains(&board.name))
    }

    /// The expectation on `board`, reading the transcript file. The
    /// failure markers are the test's `fail_regex`, else the manifest's,
    /// else the board's, else [`FailMarkers::defaults`].
    ///
    /// Errors: the transcript file is missing, a directory, unreadable, or
    /// (with `match = "lines"`) not UTF-8.
    pub fn expectation(&self, dir: &Path, board: &Board) -> Result<Expectation> {
        let output = match &self.output {
            OutputSpec::Regex(r) => Output::Ordered(r.clone()),
            OutputSpec::Expected(file) => {
                let path = path_on(dir, file, board);
                let bytes = read_transcript(&path, self.verdict.matching).map_err(|why| {
                    anyhow::anyhow!(
                        "expected transcript {} of test `{}` {why}",
                        path.display(),
                        self.name
                    )
                })?;
                Output::Transcript(bytes)
            }
        };
        let v = &self.verdict;
        Ok(Expectation {
            exit_code: self.exit_code,
            output,
            matching: v.matching,
            console: v.console,
            fail: v
                .fail_regex
                .clone()
                .or_else(|| board.fail_markers.clone())
                .unwrap_or_else(FailMarkers::defaults),
        })
    }
}

/// A path of the manifest (`expected`, `elf`) on `board`: `template` with
/// `{board}` replaced, relative to the manifest's directory `dir` unless
/// absolute.
pub fn path_on(dir: &Path, template: &str, board: &Board) -> PathBuf {
    dir.join(template.replace("{board}", &board.name))
}

/// A transcript file's bytes, or what is wrong with it, as the end of a
/// sentence: missing, a directory, unreadable, or, for a line-matched
/// transcript, not UTF-8 (with the offset of the first bad byte). An exact
/// transcript may hold any bytes, as the guest may print them.
pub fn read_transcript(path: &Path, matching: Match) -> std::result::Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "is missing".to_owned(),
        std::io::ErrorKind::IsADirectory => "is a directory, not a file".to_owned(),
        _ if path.is_dir() => "is a directory, not a file".to_owned(),
        _ => format!("cannot be read: {e}"),
    })?;
    if matching == Match::Lines
        && let Err(e) = std::str::from_utf8(&bytes)
    {
        return Err(format!(
            "is not UTF-8 text (invalid byte at offset {}); `match = \"exact\"` compares any bytes",
            e.valid_up_to()
        ));
    }
    Ok(bytes)
}

fn parse(text: &str, dir: &Path, boards: &Boards) -> Result<Vec<Test>> {
    let file: File = toml::from_str(text)?;
    let at = Locator(text);
    let d = file.defaults;
    let default_markers = fail_markers(&at, "[defaults]", d.fail_regex)?;
    let mut tests: Vec<Test> = Vec::new();
    for mut e in file.test {
        let name = e.name.get_ref().clone();
        let here = at.at(e.name.span());
        if name.is_empty() || name.contains(['/', ' ']) {
            bail!("{here}: test name `{name}` must be non-empty, without `/` or spaces");
        }
        if tests.iter().any(|t| t.name == name) {
            bail!("{here}: test `{name}` is defined twice");
        }
        if let Some(b) = &e.boards {
            check_boards(&at, &name, b, boards)?;
        }
        let source = source(&at, &here, &name, &mut e, dir)?;
        let image = image_name(&at, &name, &source, e.image.take())?;
        let boards = match (&source, e.boards) {
            (_, Some(b)) => Some(b.into_inner()),
            (Source::Elf(template), None) => {
                let span = e.elf.as_ref().map_or(e.name.span(), |s| s.span());
                Some(vec![elf_board(&at.at(span), &name, dir, template, boards)?])
            }
            (Source::Build { .. }, None) => None,
        };
        let output = output_spec(&at, &here, &name, e.expected, e.expect_regex)?;
        let verdict = VerdictSpec {
            matching: e.matching.or(d.matching).unwrap_or_default(),
            console: e.console.or(d.console).unwrap_or_default(),
            fail_regex: fail_markers(&at, &format!("test `{name}`"), e.fail_regex)?
                .or_else(|| default_markers.clone()),
            log_format: e.log_format.or(d.log_format).unwrap_or_default(),
        };
        tests.push(Test {
            exit_code: exit_code(&at, &name, e.exit_code)?,
            timeout: timeout(&at, &name, e.timeout)?,
            name,
            source,
            boards,
            output,
            qemu_args: e.qemu_args,
            skip: e.skip,
            image,
            verdict,
        });
    }
    Ok(tests)
}

/// The entry's one source, with its build fields.
fn source(at: &Locator<'_>, here: &str, name: &str, e: &mut Entry, dir: &Path) -> Result<Source> {
    let given: Vec<(&str, Range<usize>)> = [
        ("package", &e.package),
        ("manifest_path", &e.manifest_path),
        ("elf", &e.elf),
    ]
    .into_iter()
    .filter_map(|(field, v)| v.as_ref().map(|v| (field, v.span())))
    .collect();
    match given.as_slice() {
        [] => bail!("{here}: test `{name}`: set one of `package`, `manifest_path` or `elf`"),
        [_] => {}
        [(first, _), (second, span), ..] => bail!(
            "{}: test `{name}`: `{second}` and `{first}` are both set; a test has exactly one of `package`, `manifest_path` and `elf`",
            at.at(span.clone())
        ),
    }
    if let Some(elf) = &e.elf {
        reject_build_fields(at, name, e)?;
        return Ok(Source::Elf(elf.get_ref().clone()));
    }
    let project = match (e.package.take(), e.manifest_path.take()) {
        (Some(p), _) => {
            if p.get_ref().is_empty() {
                bail!("{}: test `{name}`: `package` is empty", at.at(p.span()));
            }
            Project::Workspace(p.into_inner())
        }
        (None, Some(m)) => Project::External(cargo_toml(at, name, &m, dir)?),
        (None, None) => bail!("{here}: test `{name}`: set `package` or `manifest_path`"),
    };
    let executable = match (e.bin.take(), e.example.take()) {
        (Some(_), Some(ex)) => bail!(
            "{}: test `{name}`: set either `bin` or `example`, not both",
            at.at(ex.span())
        ),
        (_, Some(ex)) => Executable::Example(ex.into_inner()),
        (bin, None) => Executable::Bin(bin.map_or_else(|| name.to_owned(), Spanned::into_inner)),
    };
    let mut features = e
        .features
        .take()
        .map(Spanned::into_inner)
        .unwrap_or_default();
    features.sort();
    features.dedup();
    Ok(Source::Build {
        recipe: Recipe {
            project,
            features,
            no_default_features: e
                .no_default_features
                .take()
                .is_some_and(Spanned::into_inner),
        },
        executable,
        profile: e.profile.take().map(Spanned::into_inner),
    })
}

/// `image`, which only an `elf` takes: a built image is named after its
/// package and bin.
fn image_name(
    at: &Locator<'_>,
    name: &str,
    source: &Source,
    image: Option<Spanned<String>>,
) -> Result<Option<String>> {
    let Some(image) = image else {
        return Ok(None);
    };
    let here = at.at(image.span());
    if !matches!(source, Source::Elf(_)) {
        bail!(
            "{here}: test `{name}`: `image` names a prebuilt `elf`; a built image is named `<board>/<package>/<bin>` already"
        );
    }
    let template = image.into_inner();
    if !template.starts_with("{board}/") {
        bail!("{here}: test `{name}`: `image = \"{template}\"` must start with `{{board}}/`");
    }
    template
        .replace("{board}", "board")
        .parse::<ImageId>()
        .map_err(|e| anyhow::anyhow!("{here}: test `{name}`: {e}"))?;
    Ok(Some(template))
}

/// An `elf` is built already: fields that tell cargo how to build are errors.
fn reject_build_fields(at: &Locator<'_>, name: &str, e: &Entry) -> Result<()> {
    let build_fields = [
        ("bin", e.bin.as_ref().map(Spanned::span)),
        ("example", e.example.as_ref().map(Spanned::span)),
        ("features", e.features.as_ref().map(Spanned::span)),
        (
            "no_default_features",
            e.no_default_features.as_ref().map(Spanned::span),
        ),
        ("profile", e.profile.as_ref().map(Spanned::span)),
    ];
    match build_fields.into_iter().find_map(|(f, s)| Some((f, s?))) {
        Some((field, span)) => bail!(
            "{}: test `{name}`: `{field}` tells cargo how to build; an `elf` is already built",
            at.at(span)
        ),
        None => Ok(()),
    }
}

/// `manifest_path`, resolved against `dir`: an existing `Cargo.toml`, as
/// its canonical path. A project's build directory is named after that
/// path (see `cargo::Project::External`), so `../x/Cargo.toml` from
/// `qemu/` and `x/Cargo.toml` from the root share one build.
///
/// Errors: the path names no `Cargo.toml`, none exists there, or it cannot
/// be resolved.
fn cargo_toml(at: &Locator<'_>, name: &str, m: &Spanned<String>, dir: &Path) -> Result<PathBuf> {
    let path = dir.join(m.get_ref());
    let here = at.at(m.span());
    if path.file_name().is_none_or(|f| f != "Cargo.toml") {
        bail!("{here}: test `{name}`: `manifest_path` must name a project's Cargo.toml");
    }
    if !path.is_file() {
        bail!(
            "{here}: test `{name}`: manifest_path {} does not exist",
            path.display()
        );
    }
    dunce::canonicalize(&path).with_context(|| {
        format!(
            "{here}: test `{name}`: cannot resolve manifest_path {}",
            path.display()
        )
    })
}

/// The board an `elf` without `boards` runs on: the one `--elf` picks.
fn elf_board(
    here: &str,
    name: &str,
    dir: &Path,
    template: &str,
    boards: &Boards,
) -> Result<String> {
    if template.contains("{board}") {
        bail!("{here}: test `{name}`: an `elf` with {{board}} in its path needs `boards`");
    }
    let path = dir.join(template);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("{here}: test `{name}`: cannot read elf {}", path.display()))?;
    let elf = Elf::parse(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{here}: test `{name}`: {}: {e}; set `boards`",
            path.display()
        )
    })?;
    let board = boards
        .board_for_elf(&BoardArgs::named(&[]), &elf)
        .with_context(|| {
            format!(
                "{here}: test `{name}`: {} fits no single board; set `boards`",
                path.display()
            )
        })?;
    Ok(board.name.clone())
}

/// Turns byte spans of the manifest into `line L, column C`.
struct Locator<'a>(&'a str);

impl Locator<'_> {
    fn at(&self, span: Range<usize>) -> String {
        let before = &self.0[..span.start.min(self.0.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        format!("line {line}, column {column}")
    }
}

fn check_boards(
    at: &Locator<'_>,
    name: &str,
    b: &Spanned<Vec<String>>,
    boards: &Boards,
) -> Result<()> {
    for n in b.get_ref() {
        if boards.get(n).is_none() {
            let valid: Vec<&str> = boards.all().iter().map(|b| b.name.as_str()).collect();
            bail!(
                "{}: test `{name}`: unknown board `{n}`; valid boards: {}",
                at.at(b.span()),
                valid.join(", ")
            );
        }
    }
    Ok(())
}

fn output_spec(
    at: &Locator<'_>,
    here: &str,
    name: &str,
    expected: Option<String>,
    expect_regex: Option<Spanned<Vec<String>>>,
) -> Result<OutputSpec> {
    match (expected, expect_regex) {
        (Some(file), None) => Ok(OutputSpec::Expected(file)),
        (None, Some(res)) => {
            let span = res.span();
            if res.get_ref().is_empty() {
                bail!(
                    "{}: test `{name}`: expect_regex = [] would accept any output; list at least one regex",
                    at.at(span)
                );
            }
            let mut compiled = Vec::new();
            for (i, r) in res.into_inner().iter().enumerate() {
                compiled.push(Regex::new(r).with_context(|| {
                    format!(
                        "{}: test `{name}`: expect_regex[{i}] is not a valid regex",
                        at.at(span.clone())
                    )
                })?);
            }
            Ok(OutputSpec::Regex(compiled))
        }
        (Some(_), Some(_)) => {
            bail!("{here}: test `{name}`: set either `expected` or `expect_regex`, not both")
        }
        (None, None) => bail!("{here}: test `{name}`: set `expected` or `expect_regex`"),
    }
}

fn fail_markers(
    at: &Locator<'_>,
    whose: &str,
    patterns: Option<Spanned<Vec<String>>>,
) -> Result<Option<FailMarkers>> {
    let Some(p) = patterns else {
        return Ok(None);
    };
    FailMarkers::compile(p.get_ref())
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{}: {whose}: {e}", at.at(p.span())))
}

fn exit_code(at: &Locator<'_>, name: &str, code: Option<Spanned<i64>>) -> Result<i32> {
    let Some(c) = code else {
        return Ok(0);
    };
    match i32::try_from(*c.get_ref()) {
        Ok(v @ 0..=255) => Ok(v),
        _ => bail!(
            "{}: test `{name}`: exit_code must be 0..=255 (QEMU's exit status has 8 bits)",
            at.at(c.span())
        ),
    }
}

fn timeout(
    at: &Locator<'_>,
    name: &str,
    timeout: Option<Spanned<f64>>,
) -> Result<Option<Duration>> {
    let Some(t) = timeout else {
        return Ok(None);
    };
    super::deadline::timeout_from_secs(*t.get_ref())
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{}: test `{name}`: timeout = {e}", at.at(t.span())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boards() -> Boards {
        Boards::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu/boards.toml"))
            .expect("qemu/boards.toml parses")
    }

    fn dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu")
    }

    fn ok(text: &str) -> Vec<Test> {
        parse(text, &dir(), &boards()).unwrap()
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse(text, &dir(), &boards()).unwrap_err())
    }

    #[test]
    fn parses_full_entry_and_defaults() {
        let tests = ok(r#"
[[test]]
name = "sched"
package = "fw-tests"
expected = "expected/{board}/sched.txt"

[[test]]
name = "overflow"
package = "fw-tests"
bin = "stack_overflow"
boards = ["lm3s6965evb"]
expect_regex = ["^\\*\\*\\* STACK OVERFLOW"]
exit_code = 103
timeout = 2.5
qemu_args = ["-d", "guest_errors"]
skip = "quarantined"
"#);
        assert_eq!(tests.len(), 2);
        let built = |package: &str, bin: &str| Source::Build {
            recipe: Recipe::workspace(package),
            executable: Executable::Bin(bin.into()),
            profile: None,
        };
        assert_eq!(tests[0].source, built("fw-tests", "sched"));
        assert_eq!(tests[0].exit_code, 0);
        assert!(tests[0].boards.is_none() && tests[0].timeout.is_none());
        let t = &tests[1];
        assert_eq!(t.source, built("fw-tests", "stack_overflow"));
        assert_eq!(
            (t.exit_code, t.timeout),
            (103, Some(Duration::from_millis(2500)))
        );
        assert_eq!(t.skip.as_deref(), Some("quarantined"));
        assert!(matches!(&t.output, OutputSpec::Regex(r) if r.len() == 1));
    }

    #[test]
    fn only_an_elf_takes_an_image_name() {
        let elf = "[[test]]\nname = \"t\"\nelf = \"t.elf\"\nboards = [\"sifive_e\"]\nexpect_regex = [\"^PASS\"]\n";
        let named = ok(&format!("{elf}image = \"{{board}}/fw-tests/sched\"\n"));
        assert_eq!(named[0].image.as_deref(), Some("{board}/fw-tests/sched"));
        assert!(ok(elf)[0].image.is_none());
        let e = err(&format!("{elf}image = \"fw-tests/sched\"\n"));
        assert!(
            e.contains("line 6") && e.contains("must start with `{board}/`"),
            "{e}"
        );
        let e = err(&format!("{elf}image = \"{{board}}/a/b/c\"\n"));
        assert!(e.contains("is not <board>/<package>/<bin>"), "{e}");
        let built = "[[test]]\nname = \"t\"\npackage = \"fw-tests\"\nexpect_regex = [\"^PASS\"]\nimage = \"{board}/x/y\"\n";
        let e = err(built);
        assert!(e.contains("`image` names a prebuilt `elf`"), "{e}");
    }

    #[test]
    fn parses_every_source() {
        let tests = ok(r#"
[[test]]
name = "ex"
package = "fw-fixtures"
example = "demo"
features = ["b", "a", "b"]
no_default_features = true
profile = "debug"
expect_regex = ["^PASS"]

[[test]]
name = "outside"
manifest_path = "../firmware/external/hello-cortex-m/Cargo.toml"
boards = ["lm3s6965evb"]
expect_regex = ["^hello"]

[[test]]
name = "prebuilt"
elf = "elf/{board}/prebuilt.elf"
boards = ["sifive_e"]
expect_regex = ["^PASS"]
"#);
        assert_eq!(
            tests[0].source,
            Source::Build {
                recipe: Recipe {
                    project: Project::Workspace("fw-fixtures".into()),
                    features: vec!["a".into(), "b".into()],
                    no_default_features: true,
                },
                executable: Executable::Example("demo".into()),
                profile: Some(Profile::Debug),
            }
        );
        let Source::Build {
            recipe, executable, ..
        } = &tests[1].source
        else {
            panic!("{:?}", tests[1].source);
        };
        let Project::External(manifest) = &recipe.project else {
            panic!("{recipe:?}");
        };
        assert!(
            manifest.is_absolute() && manifest.is_file(),
            "{}",
            manifest.display()
        );
        assert_eq!(executable, &Executable::Bin("outside".into()));
        assert_eq!(
            tests[2].source,
            Source::Elf("elf/{board}/prebuilt.elf".into())
        );
        let board = boards().get("sifive_e").cloned().unwrap();
        assert_eq!(
            path_on(&dir(), "elf/{board}/prebuilt.elf", &board),
            dir().join("elf/sifive_e/prebuilt.elf")
        );
    }

    #[test]
    fn source_errors_name_line_and_column() {
        let head = "[[test]]\nname = \"a\"\nexpect_regex = [\"x\"]\n";
        let cases = [
            (
                "",
                "line 2",
                "set one of `package`, `manifest_path` or `elf`",
            ),
            (
                "package = \"p\"\nelf = \"x.elf\"\n",
                "line 5",
                "exactly one of",
            ),
            (
                "elf = \"x.elf\"\nboards = [\"sifive_e\"]\nbin = \"b\"\n",
                "line 6",
                "`bin` tells cargo",
            ),
            (
                "elf = \"x.elf\"\nboards = [\"sifive_e\"]\nprofile = \"debug\"\n",
                "line 6",
                "`profile`",
            ),
            (
                "package = \"p\"\nbin = \"b\"\nexample = \"e\"\n",
                "line 6",
                "either `bin` or `example`",
            ),
            ("package = \"p\"\nprofile = \"fast\"\n", "line 5", "fast"),
            ("manifest_path = \"tests.toml\"\n", "line 4", "Cargo.toml"),
            (
                "manifest_path = \"nowhere/Cargo.toml\"\n",
                "line 4",
                "does not exist",
            ),
            ("elf = \"elf/{board}/a.elf\"\n", "line 4", "needs `boards`"),
            ("elf = \"no-such.elf\"\n", "line 4", "cannot read elf"),
        ];
        for (fields, line, needle) in cases {
            let e = err(&format!("{head}{fields}"));
            assert!(e.contains(line) && e.contains(needle), "{fields:?}: {e}");
        }
    }

    #[test]
    fn typo_names_line_and_column() {
        let e = err("[[test]]\nname = \"a\"\npackage = \"p\"\nexpected = \"x\"\nexit_cod = 3\n");
        assert!(e.contains("line 5") && e.contains("exit_cod"), "{e}");
    }

    #[test]
    fn semantic_errors_name_line() {
        let two = "[[test]]\nname = \"a\"\npackage = \"p\"\nexpected = \"x\"\n";
        let e = err(&format!("{two}{two}"));
        assert!(e.contains("line 6") && e.contains("twice"), "{e}");
        let e =
            err("[[test]]\nname = \"a\"\npackage = \"p\"\nexpected = \"x\"\nboards = [\"mps2\"]\n");
        assert!(
            e.contains("line 5") && e.contains("mps2") && e.contains("sifive_e"),
            "{e}"
        );
        let e = err("[[test]]\nname = \"a\"\npackage = \"p\"\nexpected = \"x\"\nexit_code = 256\n");
        assert!(e.contains("line 5") && e.contains("0..=255"), "{e}");
        let e = err("[[test]]\nname = \"a\"\npackage = \"p\"\nexpect_regex = [\"(\"]\n");
        assert!(e.contains("line 4") && e.contains("expect_regex[0]"), "{e}");
        let e = err("[[test]]\nname = \"a\"\npackage = \"p\"\n");
        assert!(e.contains("line 2") && e.contains("expect_regex"), "{e}");
        let e = err("[[test]]\nname = \"a\"\npackage = \"p\"\nexpected = \"x\"\ntimeout = 0\n");
        assert!(e.contains("line 5") && e.contains("positive"), "{e}");
    }

    #[test]
    fn verdict_fields_take_the_manifest_defaults() {
        let tests = parse(
            r#"
[defaults]
match = "exact"
fail_regex = ["^BOOM"]

[[test]]
name = "a"
package = "p"
expected = "x"

[[test]]
name = "b"
package = "p"
expected = "x"
match = "lines"
console = "semihosting"
log_format = "defmt"
fail_regex = []
"#,
            &dir(),
            &boards(),
        )
        .unwrap();
        let (a, b) = (&tests[0].verdict, &tests[1].verdict);
        assert_eq!(
            (a.matching, a.console, a.log_format),
            (Match::Exact, Console::Both, LogFormat::Auto)
        );
        assert_eq!(a.fail_regex.as_ref().map(|m| m.0.len()), Some(1));
        assert_eq!(
            (b.matching, b.console, b.log_format),
            (Match::Lines, Console::Semihosting, LogFormat::Defmt)
        );
        assert_eq!(b.fail_regex.as_ref().map(|m| m.0.len()), Some(0));
        let plain = parse(
            "[[test]]\nname = \"c\"\npackage = \"p\"\nexpected = \"x\"\n",
            &dir(),
            &boards(),
        );
        let c = &plain.unwrap()[0].verdict;
        assert_eq!((c.matching, c.console), (Match::Lines, Console::Both));
        assert!(c.fail_regex.is_none());
    }

    #[test]
    fn markers_fall_back_to_the_board_then_the_defaults() {
        let boards = Boards::parse(
            r#"
[board.a]
target = "thumbv7m-none-eabi"
default = true
qemu = "qemu-system-arm"
args = []
icount_shift = 4
fail_regex = ["^Guru Meditation"]
memory = { flash = { origin = 0, length = 1 }, ram = { origin = 1, length = 1 } }

[board.b]
target = "riscv32imac-unknown-none-elf"
default = true
qemu = "qemu-system-riscv32"
args = []
icount_shift = 3
memory = { flash = { origin = 0, length = 1 }, ram = { origin = 1, length = 1 } }
"#,
        )
        .unwrap();
        let entry = "[[test]]\nname = \"t\"\npackage = \"p\"\nexpect_regex = [\"x\"]\n";
        let tests = parse(entry, &dir(), &boards).unwrap();
        let markers = |board: &str| {
            let e = tests[0]
                .expectation(Path::new("."), boards.get(board).unwrap())
                .unwrap();
            e.fail.0.iter().map(|r| r.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(markers("a"), ["^Guru Meditation"]);
        assert_eq!(markers("b"), crate::qemu::console::DEFAULT_FAIL_REGEX);
        let own = parse(
            &format!("{entry}fail_regex = [\"^mine\"]\n"),
            &dir(),
            &boards,
        )
        .unwrap();
        let e = own[0]
            .expectation(Path::new("."), boards.get("a").unwrap())
            .unwrap();
        assert_eq!(e.fail.0[0].as_str(), "^mine");
        let bad = Boards::parse(
            "[board.x]\ntarget = \"thumbv7m-none-eabi\"\ndefault = true\nqemu = \"q\"\nargs = []\nicount_shift = 4\nfail_regex = [\"(\"]\nmemory = { flash = { origin = 0, length = 1 }, ram = { origin = 1, length = 1 } }\n",
        );
        let err = format!("{:#}", bad.unwrap_err());
        assert!(
            err.contains("board `x`") && err.contains("fail_regex[0]"),
            "{err}"
        );
    }

    #[test]
    fn bad_verdict_fields_name_the_line() {
        let base = "[[test]]\nname = \"a\"\npackage = \"p\"\nexpected = \"x\"\n";
        let e = err(&format!("{base}match = \"bytes\"\n"));
        assert!(e.contains("line 5") && e.contains("exact"), "{e}");
        let e = err(&format!("{base}console = \"jtag\"\n"));
        assert!(e.contains("line 5") && e.contains("semihosting"), "{e}");
        let e = err(&format!("{base}fail_regex = [\"ok\", \"(\"]\n"));
        assert!(
            e.contains("line 5") && e.contains("test `a`") && e.contains("fail_regex[1]"),
            "{e}"
        );
        let e = err(&format!("[defaults]\nfail_regex = [\"(\"]\n\n{base}"));
        assert!(e.contains("line 2") && e.contains("[defaults]"), "{e}");
        let e = err("[defaults]\ntimeout = 3\n");
        assert!(e.contains("timeout"), "{e}");
    }

    #[test]
    fn empty_regex_list_and_unbounded_timeouts_are_errors() {
        let e = err("[[test]]\nname = \"a\"\npackage = \"p\"\nexpect_regex = []\n");
        assert!(
            e.contains("line 4, column 16") && e.contains("expect_regex = []"),
            "{e}"
        );
        for t in ["1e30", "1e-12", "0.0001", "86401"] {
            let e = err(&format!(
                "[[test]]\nname = \"a\"\npackage = \"p\"\nexpected = \"x\"\ntimeout = {t}\n"
            ));
            assert!(
                e.contains("line 5, column 11") && e.contains("from 1 ms (0.001) to 24 h"),
                "{t}: {e}"
            );
        }
    }

    #[test]
    fn checked_in_manifest_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu/tests.toml");
        if !path.exists() {
            eprintln!("skipped: {} does not exist yet", path.display());
            return;
        }
        let m = Manifest::load(&path, &boards()).unwrap();
        assert!(m.dir().is_absolute(), "{}", m.dir().display());
        let b = boards();
        for t in &m.tests {
            for board in b.all().iter().filter(|board| t.runs_on(board)) {
                t.expectation(m.dir(), board).unwrap();
            }
        }
    }
}
