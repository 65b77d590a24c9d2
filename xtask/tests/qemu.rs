//! `cargo xtask qemu` on real QEMU with the workspace's own fixtures
//! (`fw-fixtures`: pass, exit3, panic, fault, hang, noisy) and test images.
//! Each test prints "skipped: …" and returns when QEMU is not installed.
//! Linux only: the process checks read `/proc`.
#![cfg(target_os = "linux")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The default board of each architecture.
const ARM: &str = "lm3s6965evb";
const RISCV: &str = "sifive_e";
/// Every board of qemu/boards.toml.
const BOARDS: [&str; 4] = ["lm3s6965evb", "mps2-an385", "sifive_e", "virt"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn xtask() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(root());
    cmd
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `None` (after printing why) when a QEMU binary is missing.
fn qemu_or_skip() -> Option<()> {
    for qemu in ["qemu-system-arm", "qemu-system-riscv32"] {
        let found = Command::new(qemu)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            eprintln!("skipped: {qemu} not installed");
            return None;
        }
    }
    Some(())
}

/// Release ELFs by (board, bin name), built once through `cargo xtask
/// build`, which prints each image's path.
fn elfs() -> &'static BTreeMap<(String, String), PathBuf> {
    static ELFS: OnceLock<BTreeMap<(String, String), PathBuf>> = OnceLock::new();
    ELFS.get_or_init(|| {
        let o = xtask()
            .args(["build", "--target", "all", "--profile", "release"])
            .output()
            .expect("run xtask build");
        let (out, err) = text(&o);
        assert!(o.status.success(), "xtask build failed:\n{err}");
        // `<target_dir>/images/<board>/<profile>/<package>/<bin>`
        out.lines()
            .map(PathBuf::from)
            .map(|p| {
                let board = p
                    .components()
                    .rev()
                    .nth(3)
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .unwrap_or_default();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                ((board, name), p)
            })
            .collect()
    })
}

fn elf(board: &str, name: &str) -> PathBuf {
    elfs()
        .get(&(board.to_owned(), name.to_owned()))
        .unwrap_or_else(|| panic!("no {name} ELF for {board}; built: {:?}", elfs().keys()))
        .clone()
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xtask-qemu-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Pids of live (non-zombie) processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(needle) && pid != std::process::id() {
            found.push(pid);
        }
    }
    found
}

fn assert_no_qemu_with(needle: &str) {
    // Reaping can trail the exit of xtask by a moment.
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        let left = processes_mentioning(needle);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < until,
            "QEMU processes left running {needle}: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_elf(board: &str, elf: &Path, extra: &[&str]) -> (Output, String, String) {
    let o = xtask()
        .args(["qemu", "--board", board, "--elf"])
        .arg(elf)
        .args(extra)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    (o, out, err)
}

#[test]
fn elf_runner_verdicts_on_every_board() {
    let Some(()) = qemu_or_skip() else { return };
    for target in BOARDS {
        let (o, out, err) = run_elf(target, &elf(target, "pass"), &["--timeout", "10"]);
        assert!(o.status.success(), "pass on {target}:\n{out}{err}");
        // The console alone on stdout, the verdict on stderr.
        assert_eq!(out, "PASS pass\n");
        assert!(err.contains("verdict: passed"), "{err}");

        for (name, needle) in [
            ("exit3", "exit code 3"),
            ("panic", "fault: *** PANIC"),
            ("fault", "fault: *** FAULT"),
        ] {
            let (o, out, err) = run_elf(target, &elf(target, name), &["--timeout", "10"]);
            assert!(!o.status.success(), "{name} on {target} passed:\n{out}");
            let verdict = err
                .lines()
                .find(|l| l.starts_with("verdict: "))
                .unwrap_or("");
            assert!(
                verdict.starts_with("verdict: failed") && verdict.contains(needle),
                "{name} on {target}: {verdict}\n{err}"
            );
            assert!(!out.contains("verdict"), "{out}");
        }
        // A fault reports the firmware's exit code and the marker it matched.
        let (_, _, err) = run_elf(target, &elf(target, "panic"), &[]);
        assert!(
            err.contains("[uart matched fail_regex `^\\*\\*\\* PANIC`] (exit code 101)"),
            "{err}"
        );
        let (_, _, err) = run_elf(target, &elf(target, "fault"), &[]);
        assert!(err.contains("(exit code 102)"), "{err}");
    }
}

#[test]
fn elf_runner_accepts_cargo_runner_arguments_and_detects_the_board() {
    let Some(()) = qemu_or_skip() else { return };
    // As cargo calls it: `… --elf <path> <args>`; no --target: from e_machine.
    let o = xtask()
        .args(["qemu", "--elf"])
        .arg(elf(RISCV, "pass"))
        .arg("ignored-arg")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        err.contains("passed on sifive_e") && err.contains("ignoring arguments"),
        "{out}{err}"
    );
}

/// Parses `QEMU ended at the deadline: …, {wall}s wall, of which {starved}s
/// waiting for a CPU`.
fn deadline_figures(out: &str) -> (f64, f64) {
    let line = out
        .lines()
        .find(|l| l.starts_with("QEMU ended at the deadline"))
        .unwrap_or_else(|| panic!("no deadline line in:\n{out}"));
    let num_before = |tag: &str| -> f64 {
        let head = &line[..line.find(tag).unwrap()];
        let word = head.trim_end().rsplit(' ').next().unwrap();
        word.trim_end_matches('s').parse().unwrap()
    };
    (num_before("s wall"), num_before("s waiting"))
}

#[test]
fn hang_times_out_within_deadline_and_leaves_no_qemu() {
    let Some(()) = qemu_or_skip() else { return };
    let scratch = Scratch::new("hang");
    for target in [ARM, RISCV] {
        // A private copy, so the /proc check sees only this run's QEMU.
        let copy = scratch.0.join(format!("hang-{target}.elf"));
        std::fs::copy(elf(target, "hang"), &copy).unwrap();
        let started = Instant::now();
        let (o, out, err) = run_elf(target, &copy, &["--timeout", "1"]);
        let elapsed = started.elapsed().as_secs_f64();
        assert!(!o.status.success());
        assert_eq!(out, "hanging\n");
        assert!(err.contains("timeout after 1s"), "{err}");
        assert!(
            err.contains("    [uart] hanging"),
            "last lines are shown:\n{err}"
        );
        let (wall, starved) = deadline_figures(&err);
        // The rule: 1 s of time QEMU could run, then TERM (KILL after 1 s).
        // On a starved host the wall time grows by the time QEMU waited.
        assert!(
            wall >= 1.0 && wall - starved <= 2.5,
            "wall {wall}s, starved {starved}s"
        );
        assert!(wall <= 3.0 + 1.5, "hard cap: {wall}s");
        eprintln!(
            "{target}: hang ended after {wall:.3}s ({starved:.3}s starved), xtask {elapsed:.3}s"
        );
        assert_no_qemu_with(&copy.to_string_lossy());
    }
}

/// `cargo xtask qemu --manifest <manifest>` with `extra`, writing its JUnit
/// and JSON reports into `s`: the run and the two report paths.
fn suite_with_reports(s: &Scratch, manifest: &Path, extra: &[&str]) -> (Output, PathBuf, PathBuf) {
    let (junit, json) = (s.0.join("r.xml"), s.0.join("r.json"));
    let o = xtask()
        .arg("qemu")
        .args(extra)
        .arg("--manifest")
        .arg(manifest)
        .arg("--junit")
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (o, junit, json)
}

/// A manifest over the fixtures with every verdict.
fn verdict_manifest(s: &Scratch) -> PathBuf {
    s.write("exit3.txt", "exiting with 3\n");
    s.write(
        "noisy.txt",
        "noise 0: not a transcript line\nexpected line\n",
    );
    std::fs::copy(
        root().join("qemu/expected/stack_overflow.txt"),
        s.0.join("stack_overflow.txt"),
    )
    .unwrap();
    s.write("tests.toml", include_str!("data/verdicts.toml"))
}

#[test]
fn suite_verdicts_reports_and_rerun_hints() {
    let Some(()) = qemu_or_skip() else { return };
    let s = Scratch::new("suite");
    let manifest = verdict_manifest(&s);
    let (o, junit, json) = suite_with_reports(&s, &manifest, &["--board", ARM]);
    let (out, err) = text(&o);
    assert!(!o.status.success(), "failures must fail the run:\n{out}");
    assert!(err.contains("6 of 10 tests failed or errored"), "{err}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let by_name = |n: &str| {
        report["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == n)
            .unwrap_or_else(|| panic!("{n} missing from the report"))
            .clone()
    };
    let expect = [
        ("pass", "passed", None, Some(0)),
        ("exit3", "failed", Some("exit code 3"), Some(3)),
        ("exit3_expected", "passed", None, Some(3)),
        ("stack_overflow", "passed", None, Some(103)),
        ("panic", "failed", Some("fault: *** PANIC"), Some(101)),
        ("fault", "failed", Some("fault: *** FAULT"), Some(102)),
        ("hang", "failed", Some("timeout after 1s"), None),
        ("noisy", "failed", Some("output mismatch"), Some(0)),
        ("quarantined", "skipped", Some("quarantined"), None),
        ("missing", "error", Some("ELF missing"), None),
    ];
    for (name, status, reason, code) in expect {
        let t = by_name(name);
        assert_eq!(t["status"], status, "{name}: {t}");
        if let Some(r) = reason {
            assert!(
                t["reason"].as_str().unwrap_or("").starts_with(r),
                "{name}: {t}"
            );
        }
        assert_eq!(t["exit_code"].as_i64(), code.map(i64::from), "{name}: {t}");
        assert_eq!(t["board"], "lm3s6965evb");
    }
    let env = &report["environment"];
    assert!(
        env["qemu"]["qemu-system-arm"]
            .as_str()
            .unwrap()
            .contains("QEMU emulator version"),
        "{env}"
    );
    assert!(
        env["toolchain"].as_str().unwrap().starts_with("rustc "),
        "{env}"
    );
    assert!(!env["commit"].as_str().unwrap().is_empty());

    // One verdict line per test, the mismatch diff, and a rerun command per failure.
    for name in ["exit3", "panic", "fault", "hang", "noisy", "missing"] {
        let hint = format!(
            "rerun: cargo xtask qemu --board lm3s6965evb --test {name} --manifest {}",
            manifest.display()
        );
        assert!(out.contains(&hint), "no `{hint}` in:\n{out}");
    }
    assert!(
        out.contains("-expected line") && out.contains("+noise 1: not a transcript line"),
        "{out}"
    );
    assert!(out.contains("10 tests in"), "{out}");

    let xml = std::fs::read_to_string(&junit).unwrap();
    let counts = junit_counts(&xml);
    assert_eq!(
        counts.suites,
        vec![("lm3s6965evb".to_string(), 10, 5, 1, 1)],
        "{xml}"
    );
    assert_eq!(
        (counts.cases, counts.failures, counts.errors, counts.skipped),
        (10, 5, 1, 1),
        "{xml}"
    );
    assert!(counts.classnames.iter().all(|c| c == "lm3s6965evb"));

    // --only-failed reruns exactly the failed and errored tests.
    let o = xtask()
        .args(["qemu", "--board", ARM, "--only-failed", "--manifest"])
        .arg(&manifest)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (out, _) = text(&o);
    let ran: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|w| w.starts_with("lm3s6965evb/"))
        .collect();
    let mut ran = ran;
    ran.sort();
    assert_eq!(
        ran,
        [
            "lm3s6965evb/exit3",
            "lm3s6965evb/fault",
            "lm3s6965evb/hang",
            "lm3s6965evb/missing",
            "lm3s6965evb/noisy",
            "lm3s6965evb/panic"
        ],
        "{out}"
    );
}

struct JunitCounts {
    /// (name, tests, failures, errors, skipped) from each testsuite's attributes.
    suites: Vec<(String, u64, u64, u64, u64)>,
    cases: u64,
    failures: u64,
    errors: u64,
    skipped: u64,
    classnames: Vec<String>,
}

/// Reads the report back with an XML parser: suite attributes, and the
/// elements actually present.
fn junit_counts(xml: &str) -> JunitCounts {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut c = JunitCounts {
        suites: vec![],
        cases: 0,
        failures: 0,
        errors: 0,
        skipped: 0,
        classnames: vec![],
    };
    loop {
        let event = reader.read_event().expect("well-formed JUnit XML");
        let e = match &event {
            Event::Start(e) | Event::Empty(e) => e.clone(),
            Event::Eof => break,
            _ => continue,
        };
        let attr = |name: &str| -> String {
            e.attributes()
                .flatten()
                .find(|a| a.key.as_ref() == name.as_bytes())
                .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                .unwrap_or_default()
        };
        match e.name().as_ref() {
            b"testsuite" => c.suites.push((
                attr("name"),
                attr("tests").parse().unwrap(),
                attr("failures").parse().unwrap(),
                attr("errors").parse().unwrap(),
                attr("skipped").parse().unwrap(),
            )),
            b"testcase" => {
                c.cases += 1;
                c.classnames.push(attr("classname"));
            }
            b"failure" => c.failures += 1,
            b"error" => c.errors += 1,
            b"skipped" => c.skipped += 1,
            _ => {}
        }
    }
    c
}

#[test]
fn flaky_test_is_reported_flaky() {
    let Some(()) = qemu_or_skip() else { return };
    let s = Scratch::new("flaky");
    let real = which_qemu_arm();
    // A QEMU that boots the `exit3` fixture on its first start only: the
    // test fails once, then passes on the retry.
    let mark = s.0.join("first-run-done");
    // (`--version` calls for the report pass through untouched.)
    let script = format!(
        r#"#!/bin/sh
first=1
prev=
swapped=
for a in "$@"; do
  if [ "$first" = 1 ]; then set --; first=0; fi
  if [ "$prev" = -kernel ] && [ ! -e '{mark}' ]; then a='{swap}'; swapped=1; fi
  set -- "$@" "$a"
  prev="$a"
done
if [ -n "$swapped" ]; then : > '{mark}'; fi
exec '{real}' "$@"
"#,
        mark = mark.display(),
        swap = elf(ARM, "exit3").display(),
        real = real.display(),
    );
    let bin = s.0.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("qemu-system-arm");
    std::fs::write(&wrapper, script).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let manifest = s.write(
        "tests.toml",
        "[[test]]\nname = \"pass\"\npackage = \"fw-fixtures\"\nexpect_regex = [\"^PASS pass$\"]\nboards = [\"lm3s6965evb\"]\n",
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |extra: &[&str]| {
        let _ = std::fs::remove_file(&mark);
        let o = xtask()
            .args(["qemu", "--manifest"])
            .arg(&manifest)
            .args(["--json"])
            .arg(s.0.join("r.json"))
            .args(["--junit"])
            .arg(s.0.join("r.xml"))
            .args(extra)
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(s.0.join("r.json")).unwrap()).unwrap();
        (o, report)
    };

    // Without retries the first (failing) start decides.
    let (o, report) = run(&[]);
    assert!(!o.status.success());
    assert_eq!(report["tests"][0]["status"], "failed", "{report}");

    let (o, report) = run(&["--retry-failed", "2"]);
    let (out, err) = text(&o);
    assert!(
        o.status.success(),
        "flaky does not fail by default:\n{out}{err}"
    );
    let t = &report["tests"][0];
    assert_eq!(t["status"], "flaky", "{t}");
    assert_eq!(t["retries"], 1, "{t}");
    assert_eq!(t["failed_attempts"][0]["reason"], "exit code 3", "{t}");
    assert_eq!(report["summary"]["flaky"], 1);
    assert!(out.contains("flaky  lm3s6965evb/pass"), "{out}");
    let xml = std::fs::read_to_string(s.0.join("r.xml")).unwrap();
    assert!(
        xml.contains("<flakyFailure") && xml.contains("exit code 3"),
        "{xml}"
    );

    let (o, report) = run(&["--retry-failed", "2", "--fail-on-flaky"]);
    let (out, err) = text(&o);
    assert_eq!(report["tests"][0]["status"], "flaky", "{report}");
    assert!(!o.status.success(), "--fail-on-flaky:\n{out}{err}");
}

fn which_qemu_arm() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("qemu-system-arm"))
        .find(|p| p.is_file())
        .expect("qemu-system-arm on PATH")
}

#[test]
fn sigint_or_sigterm_during_a_run_leaves_no_qemu() {
    let Some(()) = qemu_or_skip() else { return };
    let s = Scratch::new("sigint");
    let manifest = s.write(
        "tests.toml",
        "[[test]]\nname = \"hang\"\npackage = \"fw-fixtures\"\nexpect_regex = [\"never\"]\ntimeout = 120\nboards = [\"lm3s6965evb\", \"sifive_e\"]\n",
    );
    let hang = elf(ARM, "hang");
    let hang_rv = elf(RISCV, "hang");
    use nix::sys::signal::{Signal, kill};
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let child = xtask()
            .args(["qemu", "-j", "2", "--manifest"])
            .arg(&manifest)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for both QEMUs (after the build).
        let until = Instant::now() + Duration::from_secs(300);
        while processes_mentioning(&hang.to_string_lossy()).is_empty()
            || processes_mentioning(&hang_rv.to_string_lossy()).is_empty()
        {
            assert!(Instant::now() < until, "QEMU never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let o = child.wait_with_output().unwrap();
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(130), "signal {signal:?}: {err}");
        assert!(
            err.contains("interrupted: lm3s6965evb/hang")
                && err.contains("interrupted: sifive_e/hang"),
            "signal {signal:?}: {err}"
        );
        assert_no_qemu_with(&hang.to_string_lossy());
        assert_no_qemu_with(&hang_rv.to_string_lossy());
    }
}

#[test]
fn subset_shards_partition_the_suite() {
    let list = |extra: &[&str]| -> Vec<String> {
        let o = xtask()
            .args(["qemu", "--list"])
            .args(extra)
            .output()
            .unwrap();
        let (out, err) = text(&o);
        assert!(o.status.success(), "{err}");
        out.lines().map(str::to_owned).collect()
    };
    let all = list(&[]);
    assert!(all.len() >= 2, "{all:?}");
    for m in 1..=4 {
        let mut union: Vec<String> = Vec::new();
        for n in 1..=m {
            union.extend(list(&["--subset", &format!("{n}/{m}")]));
        }
        union.sort();
        let mut expected = all.clone();
        expected.sort();
        assert_eq!(union, expected, "shards of {m} must partition the suite");
    }
    let o = xtask()
        .args(["qemu", "--list", "--subset", "3/2"])
        .output()
        .unwrap();
    assert!(!o.status.success());
}

#[test]
fn manifest_typo_names_line_and_column() {
    let s = Scratch::new("typo");
    let manifest = s.write(
        "tests.toml",
        "[[test]]\nname = \"pass\"\npackage = \"fw-fixtures\"\nexpect_regex = [\"^PASS\"]\ntimout = 3\n",
    );
    let o = xtask()
        .args(["qemu", "--list", "--manifest"])
        .arg(&manifest)
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("line 5") && err.contains("timout") && err.contains("tests.toml"),
        "{err}"
    );
}

#[test]
fn build_failure_is_an_error_not_a_pass() {
    let Some(()) = qemu_or_skip() else { return };
    let o = xtask()
        .args(["qemu", "--target", "arm", "--test", "sched"])
        // Breaks every firmware compile before anything is written.
        .env("CARGO_ENCODED_RUSTFLAGS", "-Zno-such-flag")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("building the test images failed"), "{err}");
    assert!(!out.contains("passed"), "{out}");
}

#[test]
fn missing_qemu_is_an_error_with_a_rerun_hint() {
    // Only the toolchain's directory on PATH: cargo works, QEMU is not found.
    let cargo = PathBuf::from(env!("CARGO"));
    let o = xtask()
        .args(["qemu", "--board", ARM, "--test", "queue"])
        .env("PATH", cargo.parent().unwrap())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("--- error lm3s6965evb/queue: QEMU missing: `qemu-system-arm` not found"),
        "{out}"
    );
    assert!(
        out.contains("rerun: cargo xtask qemu --board lm3s6965evb --test queue"),
        "{out}"
    );
    assert!(out.contains("0 passed, 0 failed, 1 error"), "{out}");
}

/// A little-endian ELF32 RISC-V executable of one `PT_LOAD` segment at
/// `vaddr` (`memsz` bytes, its tail zero-filled) whose code exits 0
/// through semihosting: `li a0, 0x18` (SYS_EXIT), `li a1, 0x20026`
/// (ADP_Stopped_ApplicationExit), then the RISC-V semihosting sequence
/// `slli x0, x0, 0x1f; ebreak; srai x0, x0, 7` (RISC-V Semihosting, 2.1).
fn rv32_exit0_elf(vaddr: u32, memsz: u32) -> Vec<u8> {
    let code: Vec<u8> = [
        0x0180_0513u32, // addi a0, zero, 0x18
        0x0002_05b7,    // lui a1, 0x20
        0x0265_8593,    // addi a1, a1, 0x26
        0x01f0_1013,    // slli zero, zero, 0x1f
        0x0010_0073,    // ebreak
        0x4070_5013,    // srai zero, zero, 7
        0x0000_006f,    // j .
    ]
    .iter()
    .flat_map(|w| w.to_le_bytes())
    .collect();
    let (phoff, data_off) = (52u32, 52 + 32);
    let mut out = b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    out.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    out.extend_from_slice(&243u16.to_le_bytes()); // EM_RISCV
    for word in [1u32, vaddr, phoff, 0, 0] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for half in [52u16, 32, 1, 40, 0, 0] {
        out.extend_from_slice(&half.to_le_bytes());
    }
    let filesz = code.len() as u32;
    // PT_LOAD, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, R+W+X, align
    for word in [1, data_off, vaddr, vaddr, filesz, memsz, 7, 4] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(&code);
    out
}

/// Issue 13: an ELF linked at 0x8000_0000 and bigger than sifive_e's 16 KiB
/// of RAM fits only `virt`'s memory map.
#[test]
fn an_elf_outside_the_board_s_memory_map_is_refused_within_a_second() {
    let s = Scratch::new("fit");
    let path = s.0.join("virt-only.elf");
    std::fs::write(&path, rv32_exit0_elf(0x8000_0000, 0x8000)).unwrap();
    let started = Instant::now();
    let o = xtask()
        .args(["qemu", "--board", "sifive_e", "--elf"])
        .arg(&path)
        .output()
        .unwrap();
    let took = started.elapsed();
    let (out, err) = text(&o);
    assert!(!o.status.success(), "{out}{err}");
    assert!(
        err.contains("PT_LOAD segment 0: VMA [0x80000000, 0x80008000) lies outside every region")
            && err.contains("on board sifive_e; it fits virt (--board virt)"),
        "{err}"
    );
    assert!(
        out.is_empty() && !err.contains("verdict: "),
        "QEMU must not start:\n{out}{err}"
    );
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    eprintln!("refused in {took:?}");
    // An architecture without a board for the ELF.
    let o = xtask()
        .args(["qemu", "--target", "arm", "--elf"])
        .arg(&path)
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert!(
        err.contains("no selected board runs EM_RISCV images"),
        "{err}"
    );
}

#[test]
fn an_elf_without_a_board_runs_where_its_memory_map_fits() {
    let Some(()) = qemu_or_skip() else { return };
    let s = Scratch::new("pick");
    let path = s.0.join("virt-only.elf");
    std::fs::write(&path, rv32_exit0_elf(0x8000_0000, 0x8000)).unwrap();
    let o = xtask().args(["qemu", "--elf"]).arg(&path).output().unwrap();
    let (out, err) = text(&o);
    assert!(
        o.status.success() && err.contains("verdict: passed on virt"),
        "{out}{err}"
    );
    // Images of the workspace: the virt build by its memory map; the
    // mps2-an385 build, which lm3s6965evb's map holds too, by the board its
    // `.qemu_board` section names, as the cargo runner (`--target arm`) runs it.
    for (board, selection) in [("virt", None), ("mps2-an385", Some("arm"))] {
        let mut cmd = xtask();
        cmd.arg("qemu");
        if let Some(t) = selection {
            cmd.args(["--target", t]);
        }
        let o = cmd.arg("--elf").arg(elf(board, "pass")).output().unwrap();
        let (out, err) = text(&o);
        assert!(
            err.contains(&format!("verdict: passed on {board}")),
            "{board}: {out}{err}"
        );
    }
}

/// Issue 18: on Debian 12's QEMU 7.2 (unpacked by `cargo xtask setup` under
/// `.cache/qemu-7.2`), a board whose `min_qemu` is newer is refused before
/// any test runs and its tests are skipped, never failed; the rest pass.
#[test]
fn debian_12_qemu_7_2_passes_or_refuses_up_front() {
    let bin = root().join(".cache/qemu-7.2/bin");
    if !bin.join("qemu-system-riscv32").is_file() {
        eprintln!(
            "skipped: no Debian 12 QEMU 7.2 in {} (cargo xtask setup)",
            bin.display()
        );
        return;
    }
    let s = Scratch::new("q72");
    let json = s.0.join("r.json");
    let mut q72 = xtask();
    q72.args(["qemu", "--test", "preempt", "--test", "sched"]);
    let o = q72
        .arg("--qemu-dir")
        .arg(&bin)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        err.contains("warning: skipping every test on board sifive_e needs QEMU 8.2.0 or newer")
            && err.contains("is QEMU 7.2.22")
            && err.contains("cargo xtask setup"),
        "{err}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for t in report["tests"].as_array().unwrap() {
        let (board, status) = (t["board"].as_str().unwrap(), t["status"].as_str().unwrap());
        if board == "sifive_e" {
            assert_eq!(status, "skipped", "{t}");
            let reason = t["reason"].as_str().unwrap();
            assert!(
                reason.starts_with("QEMU 7.2.22 < 8.2.0 (QEMU before 8.2.0"),
                "{t}"
            );
        } else {
            assert_eq!(status, "passed", "{t}");
        }
    }
    assert_eq!(report["summary"]["passed"], 6, "{report}");
    // A run that would test nothing fails with the whole error, as does --elf.
    let o = xtask()
        .args([
            "qemu",
            "--board",
            "sifive_e",
            "--test",
            "preempt",
            "--qemu-dir",
        ])
        .arg(&bin)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        err.contains("nothing to test: board sifive_e needs QEMU 8.2.0 or newer")
            && err.contains("a7472560ca5f")
            && err.contains("bookworm-backports"),
        "{err}"
    );
    let o = xtask()
        .args(["qemu", "--qemu-dir"])
        .arg(&bin)
        .arg("--elf")
        .arg(elf(RISCV, "pass"))
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(
        !o.status.success() && out.is_empty() && !err.contains("verdict: "),
        "{out}{err}"
    );
    assert!(err.contains("board sifive_e needs QEMU 8.2.0"), "{err}");
}

/// `args` as the `&str`s `run_elf` takes.
fn strs(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<String> {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect()
}

/// The `verdict:` line of an `--elf` run's stderr.
fn verdict_line(err: &str) -> &str {
    err.lines()
        .find(|l| l.starts_with("verdict: "))
        .unwrap_or_else(|| panic!("no verdict line in:\n{err}"))
}

#[test]
fn elf_runner_judges_expected_output_regexes_and_exit_codes() {
    let Some(()) = qemu_or_skip() else { return };
    let s = Scratch::new("expected");
    let right = s.write("right.txt", "PASS pass\n");
    let wrong = s.write("wrong.txt", "PASS something else\n");
    for target in [ARM, RISCV] {
        let pass = elf(target, "pass");
        let judged = |extra: Vec<String>| {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            run_elf(target, &pass, &extra)
        };
        let (o, out, err) = judged(strs(&[&"--expected", &right]));
        assert!(o.status.success(), "{target}: {err}");
        assert_eq!(out, "PASS pass\n");
        let (o, out, err) = judged(strs(&[&"--expected", &wrong]));
        assert!(!o.status.success(), "{target}: wrong output passed: {err}");
        assert_eq!(out, "PASS pass\n", "the console is still shown");
        assert!(verdict_line(&err).contains(": output mismatch ("), "{err}");
        assert!(
            err.contains("-PASS something else") && err.contains("+PASS pass"),
            "the diff: {err}"
        );
        let kept = err
            .lines()
            .find_map(|l| l.trim().strip_prefix("(also in "))
            .and_then(|l| l.strip_suffix(')'))
            .unwrap_or_else(|| panic!("where the whole diff is: {err}"));
        assert!(kept.ends_with("pass.diff"), "{kept}");
        let whole = std::fs::read_to_string(kept).unwrap();
        assert!(whole.contains("-PASS something else"), "{whole}");
        // Regexes match later and later lines.
        let noisy = elf(target, "noisy");
        let regexes = |first: &str, second: &str| {
            let args = ["--expect-regex", first, "--expect-regex", second];
            run_elf(target, &noisy, &args)
        };
        let (o, _, err) = regexes("^noise 1:", "^noise 3:");
        assert!(o.status.success(), "{err}");
        let (o, _, err) = regexes("^noise 3:", "^noise 1:");
        assert!(
            !o.status.success() && err.contains("expect_regex[1] `^noise 1:`"),
            "{err}"
        );
        let (o, _, err) = judged(strs(&[&"--expect-regex", &"^-never"]));
        assert!(
            !o.status.success() && err.contains("expect_regex[0] `^-never`"),
            "{err}"
        );

        let exit3 = elf(target, "exit3");
        let (o, _, err) = run_elf(target, &exit3, &["--exit-code", "3"]);
        assert!(o.status.success(), "{err}");
        assert!(verdict_line(&err).ends_with("(exit code 3)"), "{err}");
        let (o, _, err) = run_elf(target, &exit3, &["--exit-code", "0"]);
        assert!(
            !o.status.success() && verdict_line(&err).contains("exit code 3"),
            "{err}"
        );
        // Extra QEMU arguments reach QEMU.
        let (o, _, err) = run_elf(target, &pass, &["--qemu-arg", "-no-such-option"]);
        assert!(!o.status.success(), "{err}");
        assert!(err.contains("-no-such-option"), "QEMU's own error: {err}");
    }
}

#[test]
fn a_panicked_at_line_ends_a_spinning_run_at_once() {
    let Some(()) = qemu_or_skip() else { return };
    for target in [ARM, RISCV] {
        let (o, out, err) = run_elf(target, &elf(target, "panicked_spin"), &[]);
        assert!(!o.status.success(), "{out}{err}");
        let verdict = verdict_line(&err);
        assert!(
            verdict.contains(
                ": fault: panicked at src/bin/panicked_spin.rs:11:5: [uart matched fail_regex `panicked at`] ("
            ),
            "the reason names the line and the marker: {verdict}"
        );
        // Spawn to verdict, as the runner measured it (the timeout is 30 s).
        let took: f64 = verdict
            .rsplit('(')
            .next()
            .and_then(|t| t.strip_suffix("s)"))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no duration in {verdict}"));
        assert!(took < 2.0, "{target}: failed after {took}s");
        assert!(out.ends_with("spinning forever\n"), "{out}");
    }
}

/// QEMU run directly with the board's own command line: its stdout.
fn raw_qemu_stdout(board: &str, elf: &Path) -> Vec<u8> {
    let boards = xtask::boards::Boards::from_file(&root().join("qemu/boards.toml")).unwrap();
    let board = boards.get(board).expect("the board in qemu/boards.toml");
    let o = Command::new(board.qemu_exe())
        .args(board.qemu_args())
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    o.stdout
}

#[test]
fn elf_stdout_is_byte_identical_to_qemus_raw_console() {
    let Some(()) = qemu_or_skip() else { return };
    // Each writes to one stream (QEMU run directly puts the UART and
    // semihosting on one stdout, in the guest's order; the runner keeps
    // them apart). The defmt images are binary, read as text here.
    let images: [(&str, &[&str]); 6] = [
        ("pass", &[]),
        ("sched", &[]),
        ("noisy", &[]),
        ("crlf", &[]),
        ("defmt_random", &["--log-format", "text"]),
        ("defmt_uart", &["--log-format", "text"]),
    ];
    for target in [ARM, RISCV] {
        for (name, extra) in images {
            let image = elf(target, name);
            let (o, _, err) = run_elf(target, &image, extra);
            assert!(o.status.success(), "{name} on {target}: {err}");
            let direct = raw_qemu_stdout(target, &image);
            assert!(!direct.is_empty(), "{name} printed nothing");
            assert!(
                o.stdout == direct,
                "{name} on {target}: --elf stdout ({} B) differs from QEMU's ({} B)",
                o.stdout.len(),
                direct.len()
            );
        }
    }
}

#[test]
fn the_defmt_images_decode_as_defmt_print_prints_them() {
    let Some(()) = qemu_or_skip() else { return };
    let log = std::fs::read_to_string(root().join("xtask/tests/data/defmt_log.txt")).unwrap();
    let random = defmt_plan::Transcript.to_string();
    let defmt_print = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("defmt-print"))
        .find(|p| p.is_file());
    if defmt_print.is_none() {
        // tests/data/defmt_log.txt was made with defmt-print 1.2.0 and is
        // compared below either way.
        println!(
            "skipped: the defmt-print comparison: defmt-print not installed (cargo install defmt-print --version 1.2.0 --locked)"
        );
    }
    let images = [
        ("defmt_log", "semihosting", "101", &log),
        ("defmt_random", "semihosting", "0", &random),
        ("defmt_uart", "uart", "0", &random),
    ];
    for target in [ARM, RISCV] {
        for (name, console, code, expected) in images {
            let image = elf(target, name);
            let args = ["--console", console, "--exit-code", code];
            let (o, decoded, err) = run_elf(target, &image, &args);
            assert!(o.status.success(), "{name} on {target}: {err}");
            assert_eq!(
                &decoded, expected,
                "{name} on {target}: decoded vs expected"
            );
            let raw = run_elf(
                target,
                &image,
                &[&args[..], &["--log-format", "text"]].concat(),
            );
            assert!(raw.0.status.success(), "{name} on {target}: {}", raw.2);
            assert!(raw.0.stdout.contains(&0), "raw frames end with 0x00");
            let Some(tool) = &defmt_print else { continue };
            let sh = xshell::Shell::new().unwrap();
            let theirs = xshell::cmd!(sh, "{tool} -e {image}")
                .stdin(&raw.0.stdout)
                .output()
                .expect("defmt-print decodes the raw capture");
            assert_eq!(
                decoded.as_bytes(),
                theirs.stdout,
                "{name} on {target}: ours vs defmt-print's on the same raw bytes"
            );
        }
    }
}

/// One run of `tests/data/console.toml` on every board, shared by the tests
/// that read its reports.
struct ConsoleSuite {
    /// Test id → its entry in the JSON report.
    tests: BTreeMap<String, serde_json::Value>,
    junit: String,
    stdout: String,
    _scratch: Scratch,
}

fn console_suite() -> Option<&'static ConsoleSuite> {
    static SUITE: OnceLock<Option<ConsoleSuite>> = OnceLock::new();
    SUITE
        .get_or_init(|| {
            qemu_or_skip()?;
            let s = Scratch::new("console");
            s.write("crlf_lf.txt", "crlf: one\ncrlf: two\n");
            s.write("crlf_crlf.txt", "crlf: one\r\ncrlf: two\r\n");
            s.write(
                "streams_both.txt",
                "streams: uart\nstreams: semihosting stdout\nstreams: semihosting console\n",
            );
            s.write(
                "streams_semihosting.txt",
                "streams: semihosting stdout\nstreams: semihosting console\n",
            );
            s.write("streams_uart.txt", "streams: uart\n");
            s.write("random.txt", &defmt_plan::Transcript.to_string());
            std::fs::copy(
                root().join("xtask/tests/data/defmt_log.txt"),
                s.0.join("defmt_log.txt"),
            )
            .unwrap();
            std::fs::copy(
                root().join("qemu/expected/sched.txt"),
                s.0.join("sched.txt"),
            )
            .unwrap();
            let manifest = s.write("tests.toml", include_str!("data/console.toml"));
            let (o, junit, json) = suite_with_reports(&s, &manifest, &[]);
            let (stdout, err) = text(&o);
            let report: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{e}\n{stdout}{err}")),
            )
            .unwrap();
            let tests = report["tests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t["id"].as_str().unwrap().to_owned(), t.clone()))
                .collect();
            Some(ConsoleSuite {
                tests,
                junit: std::fs::read_to_string(&junit).unwrap(),
                stdout,
                _scratch: s,
            })
        })
        .as_ref()
}

impl ConsoleSuite {
    /// The report entry of `test` on every board.
    fn each(&self, test: &str) -> Vec<&serde_json::Value> {
        let found: Vec<_> = self
            .tests
            .iter()
            .filter(|(id, _)| id.ends_with(&format!("/{test}")))
            .map(|(_, t)| t)
            .collect();
        assert_eq!(
            found.len(),
            BOARDS.len(),
            "{test} on every board: {:?}",
            self.tests.keys()
        );
        found
    }

    fn assert_status(&self, test: &str, status: &str, reason: Option<&str>) {
        for t in self.each(test) {
            assert_eq!(t["status"], status, "{test}: {t:#}");
            if let Some(r) = reason {
                let got = t["reason"].as_str().unwrap_or("");
                assert!(got.contains(r), "{test}: reason `{got}` lacks `{r}`");
            }
        }
    }

    fn log(t: &serde_json::Value) -> Vec<&str> {
        t["log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect()
    }
}

#[test]
fn exact_matching_fails_crlf_and_mixed_uart_output_that_lines_accepts() {
    let Some(suite) = console_suite() else { return };
    suite.assert_status("crlf_lines", "passed", None);
    suite.assert_status("crlf_exact", "failed", Some("output mismatch"));
    suite.assert_status("crlf_exact_crlf", "passed", None);
    for t in suite.each("crlf_exact") {
        let diff = t["mismatch"].as_str().unwrap();
        assert!(
            diff.contains("-crlf: one\n") && diff.contains("+crlf: one\\r\n"),
            "the diff shows the CR: {diff}"
        );
    }
    suite.assert_status("mixed_lines", "passed", None);
    suite.assert_status("mixed_exact", "failed", Some("output mismatch"));
    suite.assert_status("semihosting_exact", "passed", None);
    suite.assert_status("uart_exact", "passed", None);
    // The stack report is taken out of the bytes compared, and reported.
    suite.assert_status("sched_exact", "passed", None);
    for t in suite.each("sched_exact") {
        assert_eq!(t["stack"].as_array().unwrap().len(), 5, "{t:#}");
    }
}

#[test]
fn failure_markers_come_from_the_manifest_and_name_the_line() {
    let Some(suite) = console_suite() else { return };
    suite.assert_status(
        "stderr_marker",
        "failed",
        Some("fault: streams: semihosting stderr [guest-stderr matched fail_regex `semihosting stderr$`] (exit code 0)"),
    );
    suite.assert_status(
        "panicked_spin",
        "failed",
        Some("fault: panicked at src/bin/panicked_spin.rs:11:5: [uart matched fail_regex `panicked at`]"),
    );
    for t in suite.each("panicked_spin") {
        let took = t["duration_s"].as_f64().unwrap();
        assert!(took < 2.0, "spun for {took}s: {t:#}");
    }
}

#[test]
fn guest_stderr_and_qemu_messages_are_labelled_apart() {
    let Some(suite) = console_suite() else { return };
    suite.assert_status("labels", "failed", Some("output mismatch"));
    for t in suite.each("labels") {
        let log = ConsoleSuite::log(t);
        let qemu = format!(
            "[qemu] {}: warning: global xtask-probe.x has invalid class name",
            if t["board"] == "sifive_e" || t["board"] == "virt" {
                "qemu-system-riscv32"
            } else {
                "qemu-system-arm"
            }
        );
        for line in [
            "[uart] streams: uart",
            "[semihosting] streams: semihosting stdout",
            "[semihosting] streams: semihosting console",
            "[guest-stderr] streams: semihosting stderr",
            qemu.as_str(),
        ] {
            assert!(log.contains(&line), "{line} missing from the log: {log:#?}");
            let tail: Vec<&str> = t["log_tail"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect();
            assert!(
                tail.contains(&line),
                "{line} missing from the tail: {tail:#?}"
            );
            // The failure printout.
            assert!(suite.stdout.contains(&format!("      {line}\n")), "{line}");
        }
    }
    let out = suite
        .junit
        .split("<testcase name=\"labels\"")
        .nth(1)
        .and_then(|case| case.split("<system-out>").nth(1))
        .expect("the labels case has a system-out");
    for line in [
        "[guest-stderr] streams: semihosting stderr",
        "[qemu] qemu-system-",
    ] {
        assert!(out.contains(line), "JUnit system-out lacks {line}: {out}");
    }
}

#[test]
fn defmt_frames_are_decoded_in_the_suite_from_semihosting_and_the_uart() {
    let Some(suite) = console_suite() else { return };
    suite.assert_status("defmt_log", "passed", None);
    const { assert!(defmt_plan::FRAMES >= 1000, "at least 1000 random frames") };
    suite.assert_status("defmt_random", "passed", None);
    suite.assert_status("defmt_uart", "passed", None);
    for (test, stream) in [("defmt_random", "semihosting"), ("defmt_uart", "uart")] {
        for t in suite.each(test) {
            let decoded = ConsoleSuite::log(t)
                .iter()
                .filter(|l| l.starts_with(&format!("[{stream}] ")))
                .count();
            assert_eq!(decoded as u32, defmt_plan::FRAMES + 1, "{test}");
        }
    }
    // JUnit's system-out carries the decoded text.
    assert!(
        suite.junit.contains(
            "[semihosting] ERROR panicked at &apos;assertion failed: `(left == right)`: addition&apos;"
        ) || suite.junit.contains(
            "[semihosting] ERROR panicked at 'assertion failed: `(left == right)`: addition'"
        ),
        "{}",
        suite.junit
    );
}

#[test]
fn a_corrupted_defmt_frame_is_a_clear_error() {
    let Some(suite) = console_suite() else { return };
    suite.assert_status(
        "defmt_corrupt",
        "failed",
        Some("defmt: malformed defmt frame at byte 4: 4-byte frame not valid rzCOBS; decoding resumes after its 0x00 separator at byte 8 (on semihosting)"),
    );
    for t in suite.each("defmt_corrupt") {
        let log = ConsoleSuite::log(t);
        assert_eq!(
            log.iter()
                .copied()
                .filter(|l| l.starts_with("[semihosting] "))
                .collect::<Vec<_>>(),
            [
                "[semihosting] INFO  before the corrupted frame",
                "[semihosting] INFO  after the corrupted frame"
            ],
            "decoding resumed, and no garbage became text: {log:#?}"
        );
    }
}

/// The kernel's stack report: parsed, stripped from the transcript (the
/// checked-in expected file still matches), budgeted, and carried by both
/// reports.
#[test]
fn stack_peaks_are_reported_and_a_tight_budget_names_the_task() {
    let Some(()) = qemu_or_skip() else { return };
    let s = Scratch::new("stack");
    let tight = s.write("budgets.toml", "stack = \"1 %\"\n");
    let (json, junit) = (s.0.join("r.json"), s.0.join("r.xml"));
    let o = xtask()
        .args(["qemu", "--test", "sched", "--budgets"])
        .arg(&tight)
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(!o.status.success(), "a 1 % stack budget must fail:\n{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let n = report["tests"].as_array().unwrap().len();
    assert!(n >= 2, "sched runs on every board: {report}");
    assert!(err.contains(&format!("{n} of {n} tests failed")), "{err}");
    for t in report["tests"].as_array().unwrap() {
        let reason = t["reason"].as_str().unwrap_or("");
        assert!(
            reason.starts_with("stack: task monitor peaked at ") && reason.contains(" B (> 1 %)"),
            "{t}"
        );
        let tasks: Vec<&str> = t["stack"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                let (peak, size) = (x["peak_bytes"].as_u64(), x["size_bytes"].as_u64());
                assert!(peak.unwrap() > 0 && peak <= size, "{x}");
                x["task"].as_str().unwrap()
            })
            .collect();
        assert_eq!(tasks, ["monitor", "a", "b", "c", "idle"], "{t}");
        assert!(
            t["elf_sha256"].as_str().is_some_and(|h| h.len() == 64),
            "{t}"
        );
        // The transcript the failure shows, and the whole log, hold no
        // stack line.
        for lines in [&t["log_tail"], &t["log"]] {
            let lines = lines.as_array().unwrap();
            assert!(!lines.is_empty(), "{t}");
            assert!(
                lines
                    .iter()
                    .all(|l| !l.as_str().unwrap().contains("@stack")),
                "{t}"
            );
        }
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"<property name="stack.monitor.peak_bytes""#)
            && xml.contains(r#"<property name="stack.idle.size_bytes""#),
        "{xml}"
    );
    assert!(
        out.contains(&format!("--budgets {}", tight.display())),
        "{out}"
    );

    // The checked-in budgets (75 %) pass, with the same peaks reported.
    let o = xtask()
        .args(["qemu", "--test", "sched", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let (out, _) = text(&o);
    assert!(o.status.success(), "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for t in report["tests"].as_array().unwrap() {
        assert_eq!(t["status"], "passed", "{t}");
        assert_eq!(t["stack"].as_array().unwrap().len(), 5, "{t}");
        assert!(
            t["stack_budget"]
                .as_str()
                .unwrap()
                .starts_with("75 % (stack in ")
        );
    }
}

/// The sections QEMU loads (`SHF_ALLOC` with contents), by name.
fn loaded_sections(elf: &Path) -> BTreeMap<String, Vec<u8>> {
    use goblin::elf::section_header::{SHF_ALLOC, SHT_NOBITS};
    let bytes = std::fs::read(elf).unwrap();
    let parsed = goblin::elf::Elf::parse(&bytes).unwrap();
    parsed
        .section_headers
        .iter()
        .filter(|h| h.sh_flags & u64::from(SHF_ALLOC) != 0 && h.sh_type != SHT_NOBITS)
        .map(|h| {
            let name = parsed.shdr_strtab.get_at(h.sh_name).unwrap().to_owned();
            let range = h.file_range().unwrap();
            (name, bytes[range].to_vec())
        })
        .collect()
}

/// `--coverage` on every board: the coverage images hold the release
/// code, the runs of every board merge into one lcov file that genhtml
/// accepts from the workspace root, and the kernel figure is printed.
#[test]
fn coverage_merges_both_boards_into_lcov_that_genhtml_accepts() {
    let Some(()) = qemu_or_skip() else { return };
    let o = xtask()
        .args(["qemu", "--coverage", "--test", "sched", "--test", "sem_isr"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let kernel = out
        .lines()
        .find(|l| l.starts_with("coverage: `firmware/kernel/src`: "))
        .unwrap_or_else(|| panic!("no kernel figure in:\n{out}"));
    assert!(
        kernel.ends_with("not checked: only part of the suite ran"),
        "{kernel}"
    );
    let target = elf(ARM, "sched").ancestors().nth(5).unwrap().to_path_buf();
    let lcov = std::fs::read_to_string(target.join("reports/coverage/lcov.info")).unwrap();
    for file in [
        "SF:firmware/kernel/src/arch/cortex_m.rs",
        "SF:firmware/kernel/src/arch/riscv32.rs",
        "SF:firmware/kernel/src/sched/semaphore.rs",
        "SF:firmware/tests/src/bin/sem_isr.rs",
    ] {
        assert!(lcov.lines().any(|l| l == file), "{file} missing:\n{lcov}");
    }
    assert!(
        !lcov.contains("SF:/"),
        "no absolute or library path:\n{lcov}"
    );
    let table = std::fs::read_to_string(target.join("reports/coverage/coverage.md")).unwrap();
    assert!(
        table.contains("| `firmware/kernel/src/sched/mod.rs` |"),
        "{table}"
    );

    // The coverage build is the release code, byte for byte, plus DWARF.
    for (triple, board) in [(ARM, "lm3s6965evb"), (RISCV, "sifive_e")] {
        let release = elf(triple, "sched");
        let coverage = target.join(format!("images/{board}/coverage/fw-tests/sched"));
        assert_eq!(
            loaded_sections(&coverage),
            loaded_sections(&release),
            "{board}: {} and {} load different bytes",
            coverage.display(),
            release.display()
        );
    }

    if which::which("genhtml").is_err() {
        println!("skipped: genhtml not installed (apt-get install lcov)");
        return;
    }
    let html = Scratch::new("genhtml");
    let o = Command::new("genhtml")
        .arg("--output-directory")
        .arg(&html.0)
        .arg(target.join("reports/coverage/lcov.info"))
        .current_dir(root())
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(
        o.status.success(),
        "genhtml refused the lcov file:\n{out}{err}"
    );
    assert!(out.contains("lines......:"), "{out}");
    assert!(html.0.join("index.html").is_file());
}

/// One fixture test on the Cortex-M3 board.
fn arm_test(name: &str, bin: &str, output: &str) -> String {
    format!(
        "[[test]]\nname = \"{name}\"\npackage = \"fw-fixtures\"\nbin = \"{bin}\"\nboards = [\"lm3s6965evb\"]\n{output}\n"
    )
}

/// A scratch folder holding `tests.toml` with one fixture test on the
/// Cortex-M3 board.
fn one_test(tag: &str, name: &str, bin: &str, output: &str) -> (Scratch, PathBuf) {
    let s = Scratch::new(tag);
    let m = s.write("tests.toml", &arm_test(name, bin, output));
    (s, m)
}

fn qemu_with(manifest: &Path, extra: &[&str]) -> (Output, String, String) {
    let o = xtask()
        .args(["qemu", "--manifest"])
        .arg(manifest)
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    (o, out, err)
}

#[test]
fn a_run_that_selects_nothing_fails_naming_the_filters() {
    let s = Scratch::new("empty");
    let empty = s.write("empty.toml", "");
    let (o, out, err) = qemu_with(&empty, &[]);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("no test selected")
            && err.contains("has no [[test]]")
            && err.contains("--allow-empty"),
        "{err}"
    );
    let (o, out, err) = qemu_with(&empty, &["--allow-empty"]);
    assert!(o.status.success(), "--allow-empty opts out: {out}{err}");

    let one = s.write(
        "one.toml",
        &arm_test("pass", "pass", "expect_regex = [\"^PASS\"]"),
    );
    for (filters, named) in [
        (&["--target", "riscv"][..], "--target riscv"),
        (
            &["--test", "pass", "--target", "sifive_e"][..],
            "--target sifive_e --test pass",
        ),
        (&["--subset", "2/2"][..], "--subset 2/2"),
    ] {
        let (o, out, err) = qemu_with(&one, filters);
        assert_eq!(o.status.code(), Some(1), "{filters:?}: {out}{err}");
        assert!(
            err.contains("no test selected") && err.contains(named),
            "{filters:?}: {err}"
        );
        assert!(!out.contains("tests in"), "nothing ran: {out}");
    }

    let bad = s.write(
        "bad.toml",
        "[[test]]\nname = \"a\"\npackage = \"fw-fixtures\"\nexpect_regex = []\n",
    );
    let (o, _, err) = qemu_with(&bad, &["--list"]);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("line 4, column 16") && err.contains("expect_regex = []"),
        "{err}"
    );

    // Everything selected is quarantined: nothing ran, so nothing passed.
    let skipped = s.write(
        "skipped.toml",
        &arm_test(
            "pass",
            "pass",
            "expect_regex = [\"^PASS\"]\nskip = \"quarantined\"",
        ),
    );
    let (o, out, err) = qemu_with(&skipped, &[]);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("no test ran: all 1 selected tests are skipped"),
        "{err}"
    );
}

#[test]
fn timeouts_outside_1_ms_to_24_h_are_refused_naming_the_field_or_flag() {
    let s = Scratch::new("timeouts");
    for t in ["1e30", "1e-12", "0.0001", "90000"] {
        let m = s.write(
            "t.toml",
            &arm_test(
                "pass",
                "pass",
                &format!("expect_regex = [\"^PASS\"]\ntimeout = {t}"),
            ),
        );
        let (o, out, err) = qemu_with(&m, &["--list"]);
        assert_eq!(o.status.code(), Some(1), "timeout = {t}: {out}{err}");
        assert!(
            err.contains("line 7, column 11")
                && err.contains("timeout =")
                && err.contains("from 1 ms (0.001) to 24 h (86400)"),
            "timeout = {t}: {err}"
        );
    }
    let m = s.write(
        "ok.toml",
        &arm_test("pass", "pass", "expect_regex = [\"^PASS\"]\ntimeout = 20"),
    );
    for (flag, value) in [
        ("--timeout", "1e30"),
        ("--timeout", "1e-12"),
        ("--timeout-multiplier", "0"),
    ] {
        let (o, out, err) = qemu_with(&m, &["--list", flag, value]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {out}{err}");
        assert!(
            err.contains(flag) && err.contains(value),
            "{flag} {value}: {err}"
        );
    }
    for multiplier in ["1e300", "4321.5"] {
        let (o, out, err) = qemu_with(&m, &["--list", "--timeout-multiplier", multiplier]);
        assert_eq!(o.status.code(), Some(1), "× {multiplier}: {out}{err}");
        assert!(
            err.contains("test `pass`")
                && err.contains(&format!("timeout 20s × --timeout-multiplier {multiplier}"))
                && err.contains("to 24 h"),
            "× {multiplier}: {err}"
        );
    }
    let (o, out, err) = qemu_with(&m, &["--list", "--timeout-multiplier", "2"]);
    assert!(o.status.success(), "{out}{err}");
}

#[test]
fn parallel_runs_in_one_checkout_never_collide() {
    let Some(()) = qemu_or_skip() else { return };
    let (s, m) = one_test(
        "parallel",
        "pass",
        "pass",
        "expect_regex = [\"^PASS pass$\"]",
    );
    // Build once, so the rounds below race on their reports, not on cargo.
    let (o, out, err) = qemu_with(&m, &[]);
    assert!(o.status.success(), "{out}{err}");
    for round in 0..3 {
        let runs: Vec<_> = (0..4)
            .map(|_| {
                xtask()
                    .args(["qemu", "--manifest"])
                    .arg(&m)
                    .arg("--json")
                    .arg(s.0.join("r.json"))
                    .arg("--junit")
                    .arg(s.0.join("r.xml"))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for run in runs {
            let o = run.wait_with_output().unwrap();
            let (out, err) = text(&o);
            assert!(o.status.success(), "round {round}:\n{out}{err}");
        }
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(s.0.join("r.json")).unwrap()).unwrap();
        assert_eq!(report["summary"]["passed"], 1, "round {round}");
    }
    let mut left: Vec<String> = std::fs::read_dir(&s.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["r.json", "r.xml", "tests.toml"],
        "no temporary file is left"
    );
}

#[test]
fn transcript_problems_say_what_the_file_is() {
    let s = Scratch::new("transcripts");
    std::fs::create_dir_all(s.0.join("a-dir")).unwrap();
    std::fs::write(s.0.join("latin1.txt"), b"caf\xe9\n").unwrap();
    let manifest = [
        arm_test("dir", "pass", "expected = \"a-dir\""),
        arm_test("latin1", "pass", "expected = \"latin1.txt\""),
        arm_test("gone", "pass", "expected = \"gone.txt\""),
    ]
    .concat();
    let m = s.write("tests.toml", &manifest);
    let json = s.0.join("r.json");
    let (o, out, err) = qemu_with(&m, &["--json", json.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for (name, why) in [
        ("dir", "a-dir of test `dir` is a directory, not a file"),
        (
            "latin1",
            "latin1.txt of test `latin1` is not UTF-8 text (invalid byte at offset 3); `match = \"exact\"` compares any bytes",
        ),
        ("gone", "gone.txt of test `gone` is missing"),
    ] {
        let t = report["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap();
        assert_eq!(t["status"], "error", "{t}");
        assert!(t["reason"].as_str().unwrap().ends_with(why), "{t}");
    }
}

#[test]
fn elf_with_target_is_checked_before_qemu_starts() {
    let s = Scratch::new("elf-check");
    let text_file = s.write("notes.elf", "not an ELF at all\n");
    let riscv = elf(RISCV, "pass");
    let mut cases = vec![
        (
            riscv.clone(),
            "the ELF is EM_RISCV but board `lm3s6965evb` is thumbv7m-none-eabi",
        ),
        (text_file, "not an ELF"),
    ];
    if Path::new("/bin/ls").is_file() {
        cases.push((PathBuf::from("/bin/ls"), "/bin/ls: "));
    }
    for (path, why) in cases {
        let started = Instant::now();
        let (o, out, err) = run_elf(ARM, &path, &["--timeout", "5"]);
        assert_eq!(o.status.code(), Some(1), "{}: {out}{err}", path.display());
        assert!(
            err.contains(why) && err.contains("nothing was run") && !out.contains("verdict:"),
            "{}: {out}{err}",
            path.display()
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "QEMU was started"
        );
    }
}

#[test]
fn a_huge_output_mismatch_prints_a_bounded_diff_and_keeps_the_whole_one() {
    let Some(()) = qemu_or_skip() else { return };
    let s = Scratch::new("bigdiff");
    let expected: String = (0..20_000)
        .map(|i| format!("expected line {i}\n"))
        .collect();
    s.write("noisy.txt", &expected);
    let m = s.write(
        "tests.toml",
        &arm_test("noisy", "noisy", "expected = \"noisy.txt\""),
    );
    let (o, out, err) = qemu_with(&m, &[]);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(out.len() < 100 * 1024, "{} bytes printed", out.len());
    let pointer = out
        .lines()
        .find(|l| l.contains("more lines; the whole diff is in "))
        .unwrap_or_else(|| panic!("no pointer to the whole diff:\n{out}"));
    let path = pointer.rsplit("the whole diff is in ").next().unwrap();
    let diff = std::fs::read_to_string(path).unwrap();
    assert!(
        diff.contains("-expected line 19999") && diff.contains("+noise 0: not a transcript line"),
        "{path}"
    );
}

/// Runs `argv` on a pseudo-terminal (util-linux `script`) with `TERM`
/// set, and returns what the terminal showed; `None` without `script`.
fn on_a_terminal(argv: &[&str], term: &str) -> Option<String> {
    let script = Command::new("script").arg("--version").output();
    if !script.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: util-linux `script` is not installed");
        return None;
    }
    let line = shlex::try_join(argv.iter().copied()).unwrap();
    let o = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .current_dir(root())
        .env("TERM", term)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn a_dumb_terminal_gets_no_colour() {
    let Some(()) = qemu_or_skip() else { return };
    let (_s, m) = one_test("dumb", "exit3", "exit3", "expect_regex = [\"^x\"]");
    let exe = env!("CARGO_BIN_EXE_xtask");
    let argv = [exe, "qemu", "--manifest", m.to_str().unwrap()];
    let Some(colour) = on_a_terminal(&argv, "xterm-256color") else {
        return;
    };
    assert!(
        colour.contains("\x1b[31mfailed"),
        "a capable terminal gets colour:\n{colour}"
    );
    let dumb = on_a_terminal(&argv, "dumb").unwrap();
    assert!(
        dumb.contains("failed") && dumb.contains("1 failed"),
        "{dumb}"
    );
    assert!(
        !dumb.contains('\x1b'),
        "escape sequences on a dumb terminal:\n{dumb:?}"
    );
}

#[test]
fn an_unwritable_report_path_fails_before_anything_runs() {
    let (s, m) = one_test("json-dir", "pass", "pass", "expect_regex = [\"^PASS\"]");
    let dir = s.0.join("reports");
    std::fs::create_dir_all(&dir).unwrap();
    let file = s.write("a-file", "");
    for (flag, path, why) in [
        ("--json", dir.clone(), "is a directory"),
        ("--junit", file.join("r.xml"), "cannot be written"),
    ] {
        let (o, out, err) = qemu_with(&m, &[flag, path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{flag}: {out}{err}");
        assert!(
            err.contains(&format!("{flag} {}: {why}", path.display())),
            "{err}"
        );
        assert!(!out.contains("tests in"), "it ran: {out}{err}");
    }
    let mut left: Vec<String> = std::fs::read_dir(&s.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["a-file", "reports", "tests.toml"], "no stray file");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn rerun_hints_are_shell_quoted() {
    let Some(()) = qemu_or_skip() else { return };
    let name = "sched;touch${IFS}pwned";
    let (s, m) = one_test("quoting", name, "exit3", "expect_regex = [\"^PASS\"]");
    let (o, out, _) = qemu_with(&m, &[]);
    assert_eq!(o.status.code(), Some(1));
    let hint = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("rerun: "))
        .unwrap_or_else(|| panic!("no rerun hint:\n{out}"));
    // Paste the hint into a shell whose `cargo` records its arguments.
    let bin = s.0.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("cargo");
    std::fs::write(&fake, "#!/bin/sh\nprintf '%s\\n' \"$@\" > args.txt\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let shell = Command::new("sh")
        .args(["-c", hint])
        .current_dir(&s.0)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .status()
        .unwrap();
    assert!(shell.success(), "{hint}");
    assert!(
        !s.0.join("pwned").exists(),
        "the hint ran a command: {hint}"
    );
    let args = std::fs::read_to_string(s.0.join("args.txt")).unwrap();
    let manifest = m.display().to_string();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "xtask",
            "qemu",
            "--board",
            "lm3s6965evb",
            "--test",
            name,
            "--manifest",
            &manifest
        ],
        "{hint}"
    );
}
