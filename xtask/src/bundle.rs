//! Test bundles: a built suite that runs anywhere without compiling
//! firmware, as Twister's `--build-only`/`--test-only` hand-off.
//! `cargo xtask qemu --build-only --bundle DIR` writes one;
//! `cargo xtask qemu --bundle DIR [--subset N/M]` checks and runs it.
//!
//! Layout of DIR:
//!
//! | path | holds |
//! |---|---|
//! | `tests.toml` | the manifest: each test with `elf = "elf/{board}/<test>.elf"` and the `boards` it was built for; every other field as in the source manifest |
//! | `boards.toml` | the `[board.*]` tables of those boards, from `qemu/boards.toml` |
//! | `elf/<board>/<test>.elf` | the images |
//! | `expected/<test>/<board>.txt` | the expected transcripts |
//! | `SHA256SUMS` | the SHA-256 of every other file, in `sha256sum -c` format |
//!
//! A bundle is written in a unique temporary folder beside DIR and renamed
//! into place when complete (on Linux swapped with the bundle already
//! there), so DIR never holds half a bundle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::boards::{Board, Boards};
use crate::cargo::Project;
use crate::checksums::{self, sha256_hex};
use crate::fault;
use crate::qemu::manifest::{self, Manifest, OutputSpec, Source, Test};
use crate::workspace::write_atomic;

/// The bundle's test manifest.
pub const MANIFEST: &str = "tests.toml";
/// The bundle's boards.
pub const BOARDS: &str = "boards.toml";

/// Manifest fields that say where an image comes from, and the paths that
/// the bundle rewrites.
const SOURCE_FIELDS: [&str; 11] = [
    "package",
    "manifest_path",
    "elf",
    "image",
    "bin",
    "example",
    "features",
    "no_default_features",
    "profile",
    "boards",
    "expected",
];

/// One test on one board, as built: `elf` is `None` for a skipped test.
pub struct Member<'a> {
    pub test: &'a Test,
    pub board: &'a Board,
    pub elf: Option<PathBuf>,
}

/// Writes the bundle of `members` (tests of `manifest` on boards of
/// `boards_file`) to `out`, replacing a bundle already there.
///
/// Errors: an image, transcript, the manifest or the boards file cannot be
/// read; `out` exists and is not a bundle; or a file cannot be written.
pub fn write(
    out: &Path,
    manifest: &Manifest,
    boards_file: &Path,
    members: &[Member<'_>],
) -> Result<()> {
    let files = contents(manifest, boards_file, members)?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = out
        .file_name()
        .with_context(|| format!("--bundle {} must name a folder", out.display()))?
        .to_string_lossy();
    check_replaceable(out)?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let stage = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempdir_in(parent)
        .with_context(|| format!("cannot create a temporary folder in {}", parent.display()))?;
    let root = stage.path().join("bundle");
    let mut sums = BTreeMap::new();
    for (rel, bytes) in &files {
        write_atomic(&root.join(rel), bytes)?;
        sums.insert(rel.clone(), sha256_hex(bytes));
    }
    write_atomic(
        &root.join(checksums::FILE_NAME),
        checksums::render(&sums).as_bytes(),
    )?;
    // What a test runner will do first: check and load it.
    verify(&root)?;
    Manifest::load(&root.join(MANIFEST), &boards(&root)?)?;
    publish(&root, out)
}

/// Every file of the bundle but `SHA256SUMS`, by relative path.
fn contents(
    manifest: &Manifest,
    boards_file: &Path,
    members: &[Member<'_>],
) -> Result<BTreeMap<String, Vec<u8>>> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let mut files = BTreeMap::new();
    let mut boards_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in members {
        let (test, board) = (m.test.name.as_str(), m.board.name.as_str());
        boards_of.entry(test).or_default().push(board);
        if let Some(elf) = &m.elf {
            files.insert(format!("elf/{board}/{test}.elf"), read(elf)?);
        }
        if let (OutputSpec::Expected(file), None) = (&m.test.output, &m.test.skip) {
            let path = manifest::path_on(manifest.dir(), file, m.board);
            files.insert(format!("expected/{test}/{board}.txt"), read(&path)?);
        }
    }
    let used: BTreeSet<&str> = boards_of.values().flatten().copied().collect();
    files.insert(
        MANIFEST.into(),
        manifest_text(manifest, &boards_of)?.into_bytes(),
    );
    files.insert(BOARDS.into(), boards_text(boards_file, &used)?.into_bytes());
    Ok(files)
}

/// The source manifest with only the bundled tests, each an `elf` entry.
/// Every field that is not about the source (verdict fields, manifest-wide
/// defaults) is kept as written.
fn manifest_text(manifest: &Manifest, boards_of: &BTreeMap<&str, Vec<&str>>) -> Result<String> {
    let path = &manifest.path;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read test manifest {}", path.display()))?;
    let mut doc: toml::Table = toml::from_str(&text)
        .with_context(|| format!("invalid test manifest {}", path.display()))?;
    let raw = match doc.remove("test") {
        Some(toml::Value::Array(raw)) => raw,
        _ => Vec::new(),
    };
    if raw.len() != manifest.tests.len() {
        bail!("{} changed while the bundle was written", path.display());
    }
    let mut tests = Vec::new();
    for (test, raw) in manifest.tests.iter().zip(raw) {
        let (Some(boards), toml::Value::Table(mut entry)) =
            (boards_of.get(test.name.as_str()), raw)
        else {
            continue;
        };
        for field in SOURCE_FIELDS {
            entry.remove(field);
        }
        let name = &test.name;
        entry.insert("elf".into(), format!("elf/{{board}}/{name}.elf").into());
        entry.insert("boards".into(), boards.clone().into());
        if let Some(image) = image_name(test) {
            entry.insert("image".into(), image.into());
        }
        if matches!(test.output, OutputSpec::Expected(_)) {
            entry.insert(
                "expected".into(),
                format!("expected/{name}/{{board}}.txt").into(),
            );
        }
        tests.push(toml::Value::Table(entry));
    }
    doc.insert("test".into(), toml::Value::Array(tests));
    Ok(format!(
        "# A test bundle's manifest, written by `cargo xtask qemu --build-only --bundle`.\n\n{}",
        toml::to_string(&doc)?
    ))
}

/// The name a bundled image keeps for budgets and reports: a workspace
/// package's `{board}/<package>/<bin>`, or an `elf`'s own `image`.
fn image_name(test: &Test) -> Option<String> {
    match &test.source {
        Source::Build {
            recipe, executable, ..
        } => match &recipe.project {
            Project::Workspace(package) => {
                Some(format!("{{board}}/{package}/{}", executable.name()))
            }
            Project::External(_) => None,
        },
        Source::Elf(_) => test.image.clone(),
    }
}

/// The boards file with only the `[board.*]` tables in `used`.
fn boards_text(path: &Path, used: &BTreeSet<&str>) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("invalid board file {}", path.display()))?;
    if let Some(toml::Value::Table(boards)) = doc.get_mut("board") {
        boards.retain(|name, _| used.contains(name));
    }
    Ok(format!(
        "# The boards of a test bundle, from qemu/boards.toml.\n\n{}",
        toml::to_string(&doc)?
    ))
}

/// Refuses to replace `out` unless it is missing, empty or a bundle.
fn check_replaceable(out: &Path) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    let empty = std::fs::read_dir(out)
        .with_context(|| format!("--bundle {} is not a readable folder", out.display()))?
        .next()
        .is_none();
    if !empty && !out.join(checksums::FILE_NAME).is_file() {
        bail!(
            "--bundle {} is not empty and holds no {}: refusing to replace it; choose a new or empty folder",
            out.display(),
            checksums::FILE_NAME
        );
    }
    Ok(())
}

/// Moves the finished bundle `new` to `out`. A bundle already there is
/// swapped with it atomically where the platform can, so that `out` holds
/// the old or the new bundle at every instant; `new` then holds the old
/// one, removed with the temporary folder. Elsewhere the old bundle is
/// removed first.
fn publish(new: &Path, out: &Path) -> Result<()> {
    if out.exists() {
        if exchange(new, out)? {
            return Ok(());
        }
        std::fs::remove_dir_all(out)
            .with_context(|| format!("cannot remove the previous bundle {}", out.display()))?;
    }
    fault::point("bundle-move-in", out);
    std::fs::rename(new, out)
        .with_context(|| format!("cannot rename {} to {}", new.display(), out.display()))
}

/// Swaps `new` and `out` with `renameat2(RENAME_EXCHANGE)` (renameat2(2));
/// `false` where it cannot (not Linux, a file system without the flag, or
/// the `XTASK_FAULT_NO_EXCHANGE` test hook).
#[cfg(target_os = "linux")]
fn exchange(new: &Path, out: &Path) -> Result<bool> {
    use nix::errno::Errno;
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    if fault::no_exchange() {
        return Ok(false);
    }
    fault::point("bundle-exchange", out);
    match renameat2(AT_FDCWD, new, AT_FDCWD, out, RenameFlags::RENAME_EXCHANGE) {
        Ok(()) => Ok(true),
        Err(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => Ok(false),
        Err(e) => {
            Err(e).with_context(|| format!("cannot swap {} with {}", new.display(), out.display()))
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_new: &Path, _out: &Path) -> Result<bool> {
    Ok(false)
}

/// Checks `dir` against its `SHA256SUMS`: every listed file is there with
/// that digest, and every file is listed.
///
/// Errors: no `SHA256SUMS`, or a file that is missing, differs, is not
/// listed or is not a plain file; all of them are named.
pub fn verify(dir: &Path) -> Result<()> {
    let sums_path = dir.join(checksums::FILE_NAME);
    let text = std::fs::read_to_string(&sums_path).with_context(|| {
        format!(
            "{} is not a test bundle: cannot read its {} (write one with `cargo xtask qemu --build-only --bundle {}`)",
            dir.display(),
            checksums::FILE_NAME,
            dir.display()
        )
    })?;
    let sums =
        checksums::parse_paths(&text).with_context(|| format!("in bundle {}", dir.display()))?;
    let mut problems = Vec::new();
    let mut present = BTreeSet::new();
    files_under(dir, "", &mut present, &mut problems)?;
    present.remove(checksums::FILE_NAME);
    for (name, hex) in &sums {
        if !present.contains(name) {
            problems.push(format!(
                "{name} is listed in {} but missing",
                checksums::FILE_NAME
            ));
            continue;
        }
        let bytes = std::fs::read(dir.join(name)).with_context(|| format!("cannot read {name}"))?;
        let actual = sha256_hex(&bytes);
        if &actual != hex {
            problems.push(format!(
                "{name} does not match its SHA-256 in {} (listed {hex}, file has {actual})",
                checksums::FILE_NAME
            ));
        }
    }
    for name in present.iter().filter(|n| !sums.contains_key(*n)) {
        problems.push(format!("{name} is not listed in {}", checksums::FILE_NAME));
    }
    if !problems.is_empty() {
        bail!(
            "bundle {} fails its checksums, so it was damaged or changed; rebuild it with `cargo xtask qemu --build-only --bundle`:\n  {}",
            dir.display(),
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// Collects the files under `dir` as `/`-separated paths after `prefix`;
/// links and other non-files become problems.
fn files_under(
    dir: &Path,
    prefix: &str,
    files: &mut BTreeSet<String>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot stat {name}"))?;
        if kind.is_dir() {
            files_under(&entry.path(), &format!("{name}/"), files, problems)?;
        } else if kind.is_file() {
            files.insert(name);
        } else {
            problems.push(format!("{name} is not a plain file"));
        }
    }
    Ok(())
}

/// The bundle's boards.
///
/// Errors: as [`Boards::from_file`].
pub fn boards(dir: &Path) -> Result<Boards> {
    Boards::from_file(&dir.join(BOARDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked_in_boards() -> (Boards, PathBuf) {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu/boards.toml");
        (Boards::from_file(&file).expect("qemu/boards.toml"), file)
    }

    #[test]
    fn the_manifest_keeps_every_field_but_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("tests.toml");
        std::fs::write(
            &source,
            "[[test]]\nname = \"a\"\npackage = \"fw-tests\"\nbin = \"sched\"\nprofile = \"debug\"\n\
             expect_regex = [\"^PASS\"]\nexit_code = 3\ntimeout = 2.5\nqemu_args = [\"-d\", \"int\"]\n\n\
             [[test]]\nname = \"left-out\"\npackage = \"fw-tests\"\nexpect_regex = [\"^PASS\"]\n",
        )
        .unwrap();
        let (boards, _) = checked_in_boards();
        let manifest = Manifest::load(&source, &boards).unwrap();
        let boards_of = BTreeMap::from([("a", vec!["sifive_e", "lm3s6965evb"])]);
        let text = manifest_text(&manifest, &boards_of).unwrap();
        let doc: toml::Table = toml::from_str(&text).unwrap();
        let tests = doc["test"].as_array().unwrap();
        assert_eq!(tests.len(), 1, "{text}");
        let t = tests[0].as_table().unwrap();
        let keys: Vec<&str> = t.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "boards",
                "elf",
                "exit_code",
                "expect_regex",
                "image",
                "name",
                "qemu_args",
                "timeout"
            ],
            "{text}"
        );
        assert_eq!(t["elf"].as_str(), Some("elf/{board}/a.elf"));
        // Budgets still find the image under its package and bin.
        assert_eq!(t["image"].as_str(), Some("{board}/fw-tests/sched"));
        // The bundle's manifest loads as one of `elf` entries on those boards.
        std::fs::write(&source, &text).unwrap();
        let back = Manifest::load(&source, &boards).unwrap();
        assert_eq!(
            back.tests[0].source,
            manifest::Source::Elf("elf/{board}/a.elf".into())
        );
        assert_eq!(
            back.tests[0].boards.as_deref(),
            Some(&["sifive_e".to_string(), "lm3s6965evb".to_string()][..])
        );
    }

    #[test]
    fn the_boards_file_keeps_the_boards_used() {
        let (boards, file) = checked_in_boards();
        let one = &boards.all()[0].name;
        let text = boards_text(&file, &BTreeSet::from([one.as_str()])).unwrap();
        let back = Boards::parse(&text).unwrap();
        let names: Vec<&str> = back.all().iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, [one.as_str()]);
        assert_eq!(back.all()[0].args, boards.all()[0].args);
    }

    #[test]
    fn only_a_missing_empty_or_bundle_folder_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bundle");
        check_replaceable(&out).unwrap();
        std::fs::create_dir(&out).unwrap();
        check_replaceable(&out).unwrap();
        std::fs::write(out.join("notes.txt"), "keep me").unwrap();
        let e = check_replaceable(&out).unwrap_err().to_string();
        assert!(e.contains("refusing to replace"), "{e}");
        std::fs::write(out.join(checksums::FILE_NAME), "").unwrap();
        check_replaceable(&out).unwrap();
    }

    #[test]
    fn verify_names_every_changed_missing_or_unlisted_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, bytes: &[u8]| write_atomic(&dir.path().join(rel), bytes).unwrap();
        write("elf/a/t.elf", b"\x7fELF one");
        write("tests.toml", b"[[test]]\n");
        let sums = BTreeMap::from([
            ("elf/a/t.elf".to_string(), sha256_hex(b"\x7fELF one")),
            ("tests.toml".to_string(), sha256_hex(b"[[test]]\n")),
            ("expected/t/a.txt".to_string(), sha256_hex(b"PASS\n")),
        ]);
        write(checksums::FILE_NAME, checksums::render(&sums).as_bytes());
        write("elf/a/t.elf", b"\x7fELF two");
        write("extra.bin", b"?");
        let e = verify(dir.path()).unwrap_err().to_string();
        for needle in [
            "elf/a/t.elf does not match its SHA-256",
            "expected/t/a.txt is listed in SHA256SUMS but missing",
            "extra.bin is not listed",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
        assert!(!e.contains("tests.toml"), "{e}");
        let e = verify(&dir.path().join("elf")).unwrap_err().to_string();
        assert!(e.contains("is not a test bundle"), "{e}");
    }
}
