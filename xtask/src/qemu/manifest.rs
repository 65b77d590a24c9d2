//! The test manifest, `qemu/tests.toml`: which images run on which boards and
//! what each must print and exit with. Parsed with `deny_unknown_fields`;
//! every error names the file, line and column. The verdict fields
//! (`match`, `console`, `fail_regex`, `log_format`) can also be set for
//! every test in a `[defaults]` table; a test's own value wins.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use regex::bytes::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::console::{Console, FailMarkers, LogFormat, Match};
use super::expect::{Expectation, Output};
use crate::boards::{Board, Boards};

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
    package: String,
    bin: Option<String>,
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

/// One `[[test]]` entry.
#[derive(Debug, Clone)]
pub struct Test {
    pub name: String,
    pub package: String,
    /// The binary target; defaults to `name`.
    pub bin: String,
    /// Board names; `None` means every board.
    pub boards: Option<Vec<String>>,
    pub output: OutputSpec,
    /// Expected semihosting exit code, 0..=255.
    pub exit_code: i32,
    pub timeout: Option<Duration>,
    /// Extra QEMU arguments, after the board's.
    pub qemu_args: Vec<String>,
    /// Quarantine: the test is reported `skipped` with this reason.
    pub skip: Option<String>,
    pub verdict: VerdictSpec,
}

#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    pub tests: Vec<Test>,
}

impl Manifest {
    /// Reads and validates `path` against `boards`.
    ///
    /// Errors: unreadable file; TOML syntax, unknown or mistyped fields,
    /// duplicate names, unknown boards, bad regexes, an empty
    /// `expect_regex`, `exit_code` outside 0..=255, `timeout` outside 1 ms
    /// to 24 h, or neither/both of `expected` and `expect_regex`, each with
    /// line and column.
    pub fn load(path: &Path, boards: &Boards) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read test manifest {}", path.display()))?;
        let tests = parse(&text, boards)
            .with_context(|| format!("invalid test manifest {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            tests,
        })
    }

    /// The directory `expected` paths are relative to.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
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
                let path = dir.join(file.replace("{board}", &board.name));
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
                .or_else(|| board.fail_regex.clone())
                .unwrap_or_else(FailMarkers::defaults),
        })
    }
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

fn parse(text: &str, boards: &Boards) -> Result<Vec<Test>> {
    let file: File = toml::from_str(text)?;
    let at = Locator(text);
    let d = file.defaults;
    let default_markers = fail_markers(&at, "[defaults]", d.fail_regex)?;
    let mut tests: Vec<Test> = Vec::new();
    for e in file.test {
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
        let output = output_spec(&at, &here, &name, e.expected, e.expect_regex)?;
        let verdict = VerdictSpec {
            matching: e.matching.or(d.matching).unwrap_or_default(),
            console: e.console.or(d.console).unwrap_or_default(),
            fail_regex: fail_markers(&at, &format!("test `{name}`"), e.fail_regex)?
                .or_else(|| default_markers.clone()),
            log_format: e.log_format.or(d.log_format).unwrap_or_default(),
        };
        tests.push(Test {
            bin: e.bin.unwrap_or_else(|| name.clone()),
            exit_code: exit_code(&at, &name, e.exit_code)?,
            timeout: timeout(&at, &name, e.timeout)?,
            name,
            package: e.package,
            boards: e.boards.map(Spanned::into_inner),
            output,
            qemu_args: e.qemu_args,
            skip: e.skip,
            verdict,
        });
    }
    Ok(tests)
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

    fn err(text: &str) -> String {
        format!("{:#}", parse(text, &boards()).unwrap_err())
    }

    #[test]
    fn parses_full_entry_and_defaults() {
        let tests = parse(
            r#"
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
"#,
            &boards(),
        )
        .unwrap();
        assert_eq!(tests.len(), 2);
        assert_eq!(tests[0].bin, "sched");
        assert_eq!(tests[0].exit_code, 0);
        assert!(tests[0].boards.is_none() && tests[0].timeout.is_none());
        let t = &tests[1];
        assert_eq!(
            (t.bin.as_str(), t.exit_code, t.timeout),
            ("stack_overflow", 103, Some(Duration::from_millis(2500)))
        );
        assert_eq!(t.skip.as_deref(), Some("quarantined"));
        assert!(matches!(&t.output, OutputSpec::Regex(r) if r.len() == 1));
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
alias = "a"
target = "thumbv7m-none-eabi"
qemu = "qemu-system-arm"
args = []
fail_regex = ["^Guru Meditation"]
memory = { flash = { origin = 0, length = 1 }, ram = { origin = 1, length = 1 } }

[board.b]
alias = "b"
target = "riscv32imac-unknown-none-elf"
qemu = "qemu-system-riscv32"
args = []
memory = { flash = { origin = 0, length = 1 }, ram = { origin = 1, length = 1 } }
"#,
        )
        .unwrap();
        let entry = "[[test]]\nname = \"t\"\npackage = \"p\"\nexpect_regex = [\"x\"]\n";
        let tests = parse(entry, &boards).unwrap();
        let markers = |board: &str| {
            let e = tests[0]
                .expectation(Path::new("."), boards.get(board).unwrap())
                .unwrap();
            e.fail.0.iter().map(|r| r.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(markers("a"), ["^Guru Meditation"]);
        assert_eq!(markers("b"), crate::qemu::console::DEFAULT_FAIL_REGEX);
        let own = parse(&format!("{entry}fail_regex = [\"^mine\"]\n"), &boards).unwrap();
        let e = own[0]
            .expectation(Path::new("."), boards.get("a").unwrap())
            .unwrap();
        assert_eq!(e.fail.0[0].as_str(), "^mine");
        let bad = Boards::parse(
            "[board.x]\nalias = \"x\"\ntarget = \"t\"\nqemu = \"q\"\nargs = []\nfail_regex = [\"(\"]\nmemory = { flash = { origin = 0, length = 1 }, ram = { origin = 1, length = 1 } }\n",
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
        let b = boards();
        for t in &m.tests {
            for board in b.all().iter().filter(|board| t.runs_on(board)) {
                t.expectation(m.dir(), board).unwrap();
            }
        }
    }
}
