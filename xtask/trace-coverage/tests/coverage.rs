//! Coverage of the test firmware (`tests/firmware`) on both QEMU boards,
//! from real logs: the fixture is built for Cortex-M3 and RV32IMAC, booted
//! with QEMU's trace flags, and the `xtask-coverage` CLI run on the logs.
//! The fixture marks its lines: `cov:hit` lines run, `cov:loop` lines run
//! `LOOPS` times, `cov:miss` and `cov:never` lines do not.

use std::{
    collections::BTreeMap,
    env,
    ffi::{OsStr, OsString},
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
    time::Duration,
};

use wait_timeout::ChildExt;

const BIN: &str = env!("CARGO_BIN_EXE_xtask-coverage");
/// What the fixture's build maps its directory to (`--remap-path-prefix`).
const REMAPPED: &str = "/cov-fixture";
const EXEC: &str = "in_asm,exec,nochain";
const IN_ASM: &str = "in_asm";

struct Board {
    name: &'static str,
    triple: &'static str,
    qemu: &'static str,
    args: &'static [&'static str],
}

const ARM: Board = Board {
    name: "lm3s6965evb",
    triple: "thumbv7m-none-eabi",
    qemu: "qemu-system-arm",
    args: &["-cpu", "cortex-m3", "-machine", "lm3s6965evb"],
};
const RISCV: Board = Board {
    name: "sifive_e",
    triple: "riscv32imac-unknown-none-elf",
    qemu: "qemu-system-riscv32",
    args: &["-machine", "sifive_e,revb=true"],
};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/firmware")
}

fn scratch() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("coverage-fixture")
}

fn find_on_path(tool: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
}

/// Builds the fixture for both boards on first use; `None`, after printing
/// `skipped: …`, when a QEMU is missing.
fn built() -> Option<&'static ()> {
    static BUILT: OnceLock<Option<()>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            for board in [&ARM, &RISCV] {
                if find_on_path(board.qemu).is_none() {
                    println!(
                        "skipped: {} not installed (`cargo xtask setup` installs it)",
                        board.qemu
                    );
                    return None;
                }
            }
            for board in [&ARM, &RISCV] {
                build(board);
            }
            Some(())
        })
        .as_ref()
}

fn build(board: &Board) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let remap = format!("--remap-path-prefix={}={REMAPPED}", fixture_dir().display());
    let output = Command::new(cargo)
        .current_dir(fixture_dir())
        .args(["build", "--release", "--locked", "--target", board.triple])
        .env("CARGO_TARGET_DIR", scratch())
        // Exactly this flag, whatever `.cargo/config.toml` above says.
        .env("CARGO_ENCODED_RUSTFLAGS", remap)
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "building the fixture for {} failed:\n{}",
        board.triple,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn elf(board: &Board) -> PathBuf {
    scratch()
        .join(board.triple)
        .join("release/coverage-fixture")
}

/// Boots the fixture on `board` with `-d <flags> -D <log>`; returns the log.
fn trace(board: &Board, flags: &str, name: &str) -> PathBuf {
    let dir = scratch().join("logs");
    fs::create_dir_all(&dir).unwrap();
    let log = dir.join(format!(
        "{name}-{}-{}.log",
        board.name,
        flags.replace(',', "+")
    ));
    let mut child = Command::new(board.qemu)
        .args(board.args)
        .args(["-nographic", "-monitor", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(["-icount", "shift=0,sleep=off"])
        .args(["-d", flags, "-D"])
        .arg(&log)
        .arg("-kernel")
        .arg(elf(board))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = child.wait_timeout(Duration::from_secs(30)).unwrap();
    let Some(status) = status else {
        child.kill().unwrap();
        panic!("the fixture did not exit on {}", board.name);
    };
    let output = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(0), "fixture on {}", board.name);
    // SYS_WRITE0 output goes to QEMU's stderr.
    let console = String::from_utf8_lossy(&output.stderr);
    assert!(console.contains("coverage fixture: done"), "{console}");
    log
}

fn cli<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Runs the CLI, expecting success, and returns the lcov it wrote.
fn coverage(mut args: Vec<OsString>, name: &str) -> Lcov {
    let lcov = scratch().join(format!("{name}.info"));
    args.extend(["--lcov".into(), lcov.clone().into()]);
    let output = cli(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Lcov::parse(&fs::read_to_string(lcov).unwrap())
}

/// `--elf <board's image> --log <log>...`
fn run_args(board: &Board, logs: &[PathBuf]) -> Vec<OsString> {
    let mut args = vec!["--elf".into(), elf(board).into()];
    for log in logs {
        args.extend(["--log".into(), log.into()]);
    }
    args
}

/// `args` reporting the fixture's own sources only, by relative path.
fn source_only(mut args: Vec<OsString>) -> Vec<OsString> {
    args.extend(["--strip-prefix", REMAPPED, "--source-root", "src"].map(OsString::from));
    args
}

/// An lcov tracefile: path → line → count, checked for consistency.
struct Lcov(BTreeMap<String, BTreeMap<u32, u64>>);

impl Lcov {
    fn parse(text: &str) -> Lcov {
        let mut files = BTreeMap::new();
        let mut current: Option<(String, BTreeMap<u32, u64>)> = None;
        for line in text.lines() {
            let (key, value) = line.split_once(':').unwrap_or((line, ""));
            match key {
                "TN" => assert!(current.is_none(), "TN inside a record"),
                "SF" => current = Some((value.to_owned(), BTreeMap::new())),
                "DA" => {
                    let (line, count) = value.split_once(',').unwrap();
                    let lines = &mut current.as_mut().expect("DA outside a record").1;
                    assert!(
                        lines
                            .insert(line.parse().unwrap(), count.parse().unwrap())
                            .is_none()
                    );
                }
                "LF" | "LH" => {
                    let lines = &current.as_ref().expect("LF/LH outside a record").1;
                    let expected = match key {
                        "LF" => lines.len(),
                        _ => lines.values().filter(|&&c| c > 0).count(),
                    };
                    assert_eq!(value.parse::<usize>().unwrap(), expected, "{key}");
                }
                "end_of_record" => {
                    let (path, lines) = current.take().expect("end_of_record without SF");
                    assert!(files.insert(path, lines).is_none(), "one record per file");
                }
                _ => panic!("unexpected lcov line {line:?}"),
            }
        }
        assert!(current.is_none(), "unterminated record");
        Lcov(files)
    }

    fn file(&self, path: &str) -> &BTreeMap<u32, u64> {
        self.0
            .get(path)
            .unwrap_or_else(|| panic!("no record for {path}: {:?}", self.0.keys()))
    }
}

/// Line numbers of `src/main.rs` whose comment is `// cov:<kind>`.
fn marked(kind: &str) -> Vec<u32> {
    let source = fs::read_to_string(fixture_dir().join("src/main.rs")).unwrap();
    let tag = format!("// cov:{kind}");
    let lines: Vec<u32> = source
        .lines()
        .zip(1..)
        .filter(|(text, _)| text.trim_end().ends_with(&tag))
        .map(|(_, n)| n)
        .collect();
    assert!(!lines.is_empty(), "no {tag} lines");
    lines
}

/// `LOOPS` as `src/main.rs` defines it.
fn loops() -> u64 {
    let source = fs::read_to_string(fixture_dir().join("src/main.rs")).unwrap();
    let line = source
        .lines()
        .find(|l| l.starts_with("const LOOPS: u32 = "))
        .unwrap();
    line.trim_start_matches("const LOOPS: u32 = ")
        .trim_end_matches(';')
        .parse()
        .unwrap()
}

/// Checks the marked lines of `main.rs` against `runs` runs' counts.
fn assert_markers(main: &BTreeMap<u32, u64>, runs: u64, exact_counts: bool, what: &str) {
    let count = |line: &u32| {
        *main
            .get(line)
            .unwrap_or_else(|| panic!("{what}: marked line {line} is not instrumented"))
    };
    for line in marked("hit") {
        assert!(count(&line) >= runs, "{what}: line {line} ran in every run");
    }
    for line in marked("loop") {
        let min = if exact_counts { runs * loops() } else { runs };
        assert!(
            count(&line) >= min,
            "{what}: loop line {line}: {} < {min}",
            count(&line)
        );
    }
    for line in marked("miss").into_iter().chain(marked("never")) {
        assert_eq!(count(&line), 0, "{what}: line {line} never runs");
    }
}

#[test]
fn lines_known_to_run_are_hit_and_the_others_are_not() {
    if built().is_none() {
        return;
    }
    for board in [&ARM, &RISCV] {
        for flags in [EXEC, IN_ASM] {
            let logs = [trace(board, flags, "markers")];
            let args = source_only(run_args(board, &logs));
            let lcov = coverage(args, &format!("markers-{}-{flags}", board.name));
            let what = format!("{} -d {flags}", board.name);
            assert_markers(lcov.file("src/main.rs"), 1, flags == EXEC, &what);
        }
    }
}

#[test]
fn a_function_that_is_never_called_is_instrumented_but_not_hit() {
    if built().is_none() {
        return;
    }
    let source = fs::read_to_string(fixture_dir().join("src/main.rs")).unwrap();
    let first = source
        .lines()
        .position(|l| l.starts_with("fn never_called"))
        .unwrap() as u32
        + 1;
    let last = first
        + source
            .lines()
            .skip(first as usize)
            .position(|l| l == "}")
            .unwrap() as u32
        + 1;
    for board in [&ARM, &RISCV] {
        let logs = [trace(board, EXEC, "never")];
        let lcov = coverage(
            source_only(run_args(board, &logs)),
            &format!("never-{}", board.name),
        );
        let body: Vec<_> = lcov.file("src/main.rs").range(first..=last).collect();
        assert!(
            body.len() >= 2,
            "{}: never_called has instrumented lines",
            board.name
        );
        assert!(
            body.iter().all(|(_, count)| **count == 0),
            "{}: {body:?}",
            board.name
        );
    }
}

#[test]
fn translation_logs_and_execution_logs_hit_the_same_lines() {
    if built().is_none() {
        return;
    }
    for board in [&ARM, &RISCV] {
        let lcov = |flags: &str| {
            let logs = [trace(board, flags, "same")];
            coverage(
                run_args(board, &logs),
                &format!("same-{}-{flags}", board.name),
            )
        };
        let (translated, executed) = (lcov(IN_ASM), lcov(EXEC));
        assert_eq!(
            translated.0.keys().collect::<Vec<_>>(),
            executed.0.keys().collect::<Vec<_>>()
        );
        for (path, lines) in &translated.0 {
            let other = &executed.0[path];
            assert_eq!(
                lines.keys().collect::<Vec<_>>(),
                other.keys().collect::<Vec<_>>()
            );
            for (line, &count) in lines {
                assert_eq!(
                    count > 0,
                    other[line] > 0,
                    "{path}:{line} on {}",
                    board.name
                );
                assert!(
                    count <= other[line],
                    "{path}:{line}: translations <= executions"
                );
            }
        }
    }
}

#[test]
fn runs_and_boards_merge_by_source_path() {
    if built().is_none() {
        return;
    }
    let arm_logs = [trace(&ARM, EXEC, "merge-1"), trace(&ARM, EXEC, "merge-2")];
    let riscv_logs = [trace(&RISCV, EXEC, "merge")];
    let arm = coverage(source_only(run_args(&ARM, &arm_logs)), "merge-arm");
    let riscv = coverage(source_only(run_args(&RISCV, &riscv_logs)), "merge-riscv");
    let mut both = run_args(&ARM, &arm_logs);
    both.extend(run_args(&RISCV, &riscv_logs));
    let both = coverage(source_only(both), "merge-both");

    assert_eq!(
        both.0.keys().collect::<Vec<_>>(),
        ["src/arm.rs", "src/main.rs", "src/riscv.rs", "src/sys.rs"]
    );
    // Each architecture's own file comes from its image alone.
    assert_eq!(both.file("src/arm.rs"), arm.file("src/arm.rs"));
    assert_eq!(both.file("src/riscv.rs"), riscv.file("src/riscv.rs"));
    // Shared files: the union of the lines, the sum of the counts.
    for path in ["src/main.rs", "src/sys.rs"] {
        let (a, r, m) = (arm.file(path), riscv.file(path), both.file(path));
        let union: std::collections::BTreeSet<_> = a.keys().chain(r.keys()).collect();
        assert_eq!(m.keys().collect::<std::collections::BTreeSet<_>>(), union);
        for (line, &count) in m {
            let sum = a.get(line).copied().unwrap_or(0) + r.get(line).copied().unwrap_or(0);
            assert_eq!(
                count, sum,
                "{path}:{line}: counts add up over runs and boards"
            );
        }
    }
    // Three runs in all.
    assert_markers(both.file("src/main.rs"), 3, true, "merged");
}

#[test]
fn paths_are_stripped_and_filtered() {
    if built().is_none() {
        return;
    }
    let logs = [trace(&ARM, IN_ASM, "paths")];
    let all = coverage(run_args(&ARM, &logs), "paths-all");
    assert!(
        all.0.contains_key(&format!("{REMAPPED}/src/main.rs")),
        "{:?}",
        all.0.keys()
    );
    assert!(
        all.0.keys().any(|p| p.starts_with("/rustc/")),
        "core's inlined code has its own paths: {:?}",
        all.0.keys()
    );
    let mut args = run_args(&ARM, &logs);
    args.extend(["--strip-prefix", REMAPPED].map(OsString::from));
    let stripped = coverage(args.clone(), "paths-stripped");
    assert!(stripped.0.contains_key("src/main.rs"));
    assert_eq!(stripped.0.len(), all.0.len());
    args.extend(["--source-root", "src/"].map(OsString::from));
    let filtered = coverage(args, "paths-filtered");
    assert_eq!(
        filtered.0.keys().collect::<Vec<_>>(),
        ["src/arm.rs", "src/main.rs", "src/sys.rs"]
    );
    assert_eq!(filtered.file("src/main.rs"), stripped.file("src/main.rs"));
}

#[test]
fn genhtml_accepts_the_lcov_and_the_markdown_table_matches_it() {
    if built().is_none() {
        return;
    }
    let logs = [trace(&ARM, EXEC, "report")];
    // Not there yet: the CLI creates it.
    let dir = scratch().join("report/nested");
    let _ = fs::remove_dir_all(&dir);
    let (lcov, markdown) = (dir.join("lcov.info"), dir.join("coverage.md"));
    let mut args = source_only(run_args(&ARM, &logs));
    args.extend([
        "--lcov".into(),
        lcov.clone().into(),
        "--markdown".into(),
        markdown.clone().into(),
    ]);
    args.extend(["--test-name", "fixture"].map(OsString::from));
    let output = cli(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Only the two reports: no temporary file is left behind.
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["coverage.md", "lcov.info"]);

    let text = fs::read_to_string(&lcov).unwrap();
    assert!(text.starts_with("TN:fixture\nSF:"), "{text}");
    let parsed = Lcov::parse(&text);
    let table = fs::read_to_string(&markdown).unwrap();
    let (mut hit, mut found) = (0, 0);
    for (path, lines) in &parsed.0 {
        let h = lines.values().filter(|&&c| c > 0).count();
        let row = format!(
            "| `{path}` | {h} | {} | {:.1} |",
            lines.len(),
            100.0 * h as f64 / lines.len() as f64
        );
        assert!(table.contains(&row), "{row} in\n{table}");
        (hit, found) = (hit + h, found + lines.len());
    }
    let total = format!("| **total** | {hit} | {found} |");
    assert!(table.contains(&total), "{total} in\n{table}");
    let summary = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        summary,
        format!(
            "coverage: {hit}/{found} lines ({:.1} %) in {} files\n",
            100.0 * hit as f64 / found as f64,
            parsed.0.len()
        )
    );

    let Some(genhtml) = find_on_path("genhtml") else {
        println!("skipped: genhtml not installed (apt-get install lcov)");
        return;
    };
    // SF paths are relative to the fixture's directory.
    let html = dir.join("html");
    let output = Command::new(genhtml)
        .current_dir(fixture_dir())
        .arg("--output-directory")
        .arg(&html)
        .arg(&lcov)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "genhtml rejected the lcov:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(html.join("index.html").is_file());
}

/// Runs the CLI on one image and one log, expecting it to fail; returns its
/// exit status and stderr.
fn failing(elf: &Path, log: &Path) -> (Option<i32>, String) {
    let output = cli(&[
        OsStr::new("--elf"),
        elf.as_os_str(),
        OsStr::new("--log"),
        log.as_os_str(),
    ]);
    assert!(output.stdout.is_empty(), "nothing on stdout when failing");
    (
        output.status.code(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn a_log_from_another_image_is_an_error() {
    if built().is_none() {
        return;
    }
    // The same image with one executed instruction changed.
    let elf_path = elf(&ARM);
    let mut bytes = fs::read(&elf_path).unwrap();
    let entry = entry_offset(&bytes);
    bytes[entry] ^= 0x01;
    let patched = scratch().join("patched-arm.elf");
    fs::write(&patched, &bytes).unwrap();
    let log = trace(&ARM, IN_ASM, "mismatch");
    let (code, message) = failing(&patched, &log);
    assert_eq!(code, Some(2));
    let prefix = format!("xtask-coverage: {}: the instruction at 0x", log.display());
    assert!(message.starts_with(&prefix), "{message}");
    assert!(
        message.contains("in the log but") && message.contains("another image"),
        "{message}"
    );

    // A RISC-V run paired with the Arm image: no address of it is Arm code.
    let (code, message) = failing(&elf_path, &trace(&RISCV, IN_ASM, "mismatch"));
    assert_eq!(code, Some(1));
    assert!(message.contains("no line ran"), "{message}");
}

/// File offset of the first instruction of `fixture_main` in `elf`.
fn entry_offset(elf: &[u8]) -> usize {
    use object::{Object, ObjectSection, ObjectSymbol};
    let file = object::File::parse(elf).unwrap();
    let symbol = file
        .symbols()
        .find(|s| s.name() == Ok("fixture_main"))
        .unwrap();
    let address = symbol.address() & !1; // the Thumb bit
    let section = file
        .section_by_index(symbol.section_index().unwrap())
        .unwrap();
    let (offset, _) = section.file_range().unwrap();
    (offset + address - section.address()) as usize
}

#[test]
fn unusable_inputs_exit_2_and_name_the_file() {
    if built().is_none() {
        return;
    }
    let elf_path = elf(&ARM);
    // Block starts only: no instruction extents.
    let exec_only = trace(&ARM, "exec,nochain", "unusable");
    let (code, message) = failing(&elf_path, &exec_only);
    assert_eq!(code, Some(2));
    assert!(message.starts_with(&format!("xtask-coverage: {}: ", exec_only.display())));
    assert!(message.contains("-d in_asm"), "{message}");

    // The image without its line table.
    let mut bytes = fs::read(&elf_path).unwrap();
    let name = b".debug_line\0";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap();
    bytes[at + 1] = b'X';
    let stripped = scratch().join("no-debug-line.elf");
    fs::write(&stripped, &bytes).unwrap();
    let (code, message) = failing(&stripped, &trace(&ARM, IN_ASM, "unusable"));
    assert_eq!(code, Some(2));
    let expected = format!("{}: no DWARF line information", stripped.display());
    assert!(message.contains(&expected), "{message}");

    let (code, message) = failing(&elf_path, &scratch().join("missing.log"));
    assert_eq!(code, Some(2));
    assert!(message.contains("missing.log: cannot read"), "{message}");

    for args in [
        &[][..],
        &["--log", "x.log"],
        &["--elf", "x.elf"],
        &["--elf", "a", "--log", "b", "--bogus"],
    ] {
        let output = cli(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let message = String::from_utf8(output.stderr).unwrap();
        assert!(
            message.starts_with("xtask-coverage: usage: "),
            "{args:?}: {message}"
        );
    }
}
