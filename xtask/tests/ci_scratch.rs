//! `cargo xtask ci` on a scratch copy of the workspace: the step cache reruns
//! exactly what an edit affects, the reports parse, and a failure injected
//! into any stage makes ci exit non-zero and name that stage.
//!
//! The scratch copy holds the working tree's files (what git tracks plus
//! untracked files it does not ignore) in its own git repository outside
//! this workspace, with its own target directory, so no report, cache entry,
//! image or cargo configuration of this checkout can leak into it. Its
//! target directory persists between test runs; the reports, step cache and
//! dist directory are removed before every scenario.
//!
//! Cargo's intermediate artefacts go to this checkout's build directory
//! (`CARGO_BUILD_BUILD_DIR`), so the copy reuses the registry dependencies
//! compiled there. Cargo tells a path package's artefacts apart by name,
//! version and path relative to the workspace root, which are the same in
//! the copy, so the copy's workspace version is changed first: its own
//! crates then never share an artefact with this checkout's.
//!
//! The scenarios share that copy, so they run one at a time.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

static SCRATCH: Mutex<()> = Mutex::new(());

/// Inside a scratch run's own `cargo test` these tests would recurse.
fn nested() -> bool {
    let nested = std::env::var_os("XTASK_CI_SCRATCH").is_some();
    if nested {
        println!("skipped: already inside a scratch ci run");
    }
    nested
}

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=scratch",
            "-c",
            "user.email=scratch@invalid",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// This checkout's build directory: cargo's default, the target directory
/// that holds `CARGO_TARGET_TMPDIR`.
fn build_dir() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR lies in the target directory")
}

/// Makes `root` hold exactly `files` of `src`. A file whose bytes are
/// already there is left alone, mtime and all, so cargo's fingerprints
/// from the last scenario still hold for it; a file an earlier scenario
/// changed is written again, and its newer mtime makes cargo rebuild what
/// reads it. Files that are not in `files` (an injected test, say) go.
fn sync_copy(src: &Path, root: &Path, files: &BTreeSet<String>) {
    for rel in files {
        let bytes = std::fs::read(src.join(rel)).expect("read a workspace file");
        let to = root.join(rel);
        if std::fs::read(&to).is_ok_and(|old| old == bytes) {
            continue;
        }
        std::fs::create_dir_all(to.parent().expect("file has a parent")).expect("mkdir");
        std::fs::write(&to, bytes).expect("copy a workspace file");
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).expect("under the copy");
            if rel == Path::new(".git") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if !files.contains(&rel.to_string_lossy().replace('\\', "/")) {
                std::fs::remove_file(&path).expect("remove a file the copy must not hold");
            }
        }
    }
}

/// Gives the copy's workspace packages a version of their own, and updates
/// its `Cargo.lock` to match before it is committed, so that no ci run in
/// it rewrites a file its step keys cover.
fn set_scratch_version(root: &Path) {
    let manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("the root manifest");
    let re = regex::Regex::new(r#"(?m)^version = "([^"]+)"$"#).expect("regex");
    assert!(
        re.is_match(&text),
        "the root manifest sets a workspace version"
    );
    let text = re.replace(&text, r#"version = "$1-scratch""#);
    std::fs::write(&manifest, text.as_bytes()).expect("write the root manifest");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let update = |extra: &[&str]| {
        Command::new(&cargo)
            .args(["update", "--workspace", "--quiet"])
            .args(extra)
            .current_dir(root)
            .output()
            .expect("run cargo update")
    };
    // Offline is enough once this checkout's builds have cached the index.
    let mut out = update(&["--offline"]);
    if !out.status.success() {
        out = update(&[]);
    }
    assert!(
        out.status.success(),
        "cargo update --workspace in the copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Scratch {
    root: PathBuf,
    target: PathBuf,
    _lock: MutexGuard<'static, ()>,
}

struct Run {
    ok: bool,
    text: String,
}

impl Scratch {
    fn new() -> Self {
        let lock = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
        let src = source_root();
        let tag: u32 = src
            .to_string_lossy()
            .bytes()
            .fold(2166136261, |h, b| (h ^ b as u32).wrapping_mul(16777619));
        let base = std::env::temp_dir().join(format!("xtask-ci-scratch-{tag:08x}"));
        let root = base.join("ws");
        let target = base.join("target");
        let listed = git(
            &src,
            &[
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
        );
        let files: BTreeSet<String> = listed
            .split(|&b| b == 0)
            .filter(|f| !f.is_empty())
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .filter(|rel| src.join(rel).is_file())
            .collect();
        sync_copy(&src, &root, &files);
        set_scratch_version(&root);
        let _ = std::fs::remove_dir_all(root.join(".git"));
        git(&root, &["init", "-q"]);
        git(&root, &["add", "-A"]);
        git(&root, &["commit", "-q", "-m", "scratch"]);
        for leftover in ["reports", "xtask-cache", "dist"] {
            let p = target.join(leftover);
            if p.is_dir() {
                std::fs::remove_dir_all(&p).expect("clear scratch leftovers");
            } else if p.exists() {
                std::fs::remove_file(&p).expect("clear scratch leftovers");
            }
        }
        Self {
            root,
            target,
            _lock: lock,
        }
    }

    fn edit(&self, rel: &str, f: impl FnOnce(String) -> String) {
        let path = self.root.join(rel);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        std::fs::write(&path, f(text)).expect("write the edit");
    }

    fn append(&self, rel: &str, extra: &str) {
        self.edit(rel, |t| t + extra);
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    fn reports(&self) -> PathBuf {
        self.target.join("reports")
    }

    fn ci(&self, args: &[&str]) -> Run {
        self.ci_env(args, &[])
    }

    fn ci_env(&self, args: &[&str], env: &[(&str, &Path)]) -> Run {
        let mut cmd = self.ci_command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run xtask ci");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Run {
            ok: out.status.success(),
            text,
        }
    }

    /// `cargo xtask <args>` in the scratch copy, with its target directory
    /// and this checkout's build directory, not started yet.
    fn xtask(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args)
            .current_dir(&self.root)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_BUILD_BUILD_DIR", build_dir());
        cmd
    }

    /// `cargo xtask ci <args>` on the scratch copy, not started yet.
    fn ci_command(&self, args: &[&str]) -> Command {
        // The linters `setup --lint` installed for this checkout lint the
        // scratch copy too, so workflow-lint runs them for real.
        let venv_bin = source_root().join(".cache/lint-venv/bin");
        let path = std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .expect("PATH");
        let mut cmd = self.xtask(&["ci"]);
        cmd.args(args)
            .env("XTASK_CI_SCRATCH", "1")
            .env("CI", "true")
            .env("PATH", path)
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("GITHUB_OUTPUT")
            .env_remove("CARGO_MAKEFLAGS")
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS");
        cmd
    }

    fn ci_json(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.reports().join("ci.json")).expect("ci.json");
        serde_json::from_str(&text).expect("ci.json parses")
    }

    /// `(status, cache)` of every step in `ci.json`, by name.
    fn step_states(&self) -> Vec<(String, String, String)> {
        self.ci_json()["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().expect("name").to_string(),
                    s["status"].as_str().expect("status").to_string(),
                    s["cache"].as_str().expect("cache").to_string(),
                )
            })
            .collect()
    }
}

fn state<'a>(states: &'a [(String, String, String)], step: &str) -> (&'a str, &'a str) {
    let s = states
        .iter()
        .find(|s| s.0 == step)
        .unwrap_or_else(|| panic!("{step} missing from ci.json: {states:?}"));
    (&s.1, &s.2)
}

const FIRMWARE_STEPS: [&str; 6] = ["--step", "build", "--step", "qemu", "--step", "size-check"];

#[test]
fn cache_reruns_what_an_edit_touches_and_reports_parse() {
    if nested() {
        return;
    }
    let s = Scratch::new();
    // This test is about the cache, not about whether the tree's images
    // still fit the checked-in baseline: record the copy's own sizes first.
    let baseline = s
        .xtask(&["size-check", "--update-baseline"])
        .output()
        .expect("run size-check --update-baseline");
    assert!(
        baseline.status.success(),
        "{}",
        String::from_utf8_lossy(&baseline.stderr)
    );
    let first = s.ci(&FIRMWARE_STEPS);
    assert!(
        first.ok,
        "firmware steps pass on the scratch copy:\n{}",
        first.text
    );
    let states = s.step_states();
    for step in ["build", "qemu", "size-check"] {
        assert_eq!(
            state(&states, step),
            ("passed", "miss"),
            "first run of {step}"
        );
    }
    check_reports(&s);

    let again = s.ci(&FIRMWARE_STEPS);
    assert!(again.ok, "{}", again.text);
    assert!(again.text.contains("✅ qemu"), "{}", again.text);
    let states = s.step_states();
    for step in ["build", "qemu", "size-check"] {
        assert_eq!(
            state(&states, step),
            ("cached", "hit"),
            "nothing changed: {step} is not rerun"
        );
    }

    // Any firmware source is a step input; one test image's source keeps
    // cargo's rebuild to that image, since the cache is under test here.
    s.append(
        "firmware/tests/src/bin/sched.rs",
        "\n// An edit to a firmware source.\n",
    );
    let edited = s.ci(&FIRMWARE_STEPS);
    assert!(edited.ok, "{}", edited.text);
    let states = s.step_states();
    for step in ["build", "qemu", "size-check"] {
        assert_eq!(
            state(&states, step),
            ("passed", "miss"),
            "a firmware edit reruns {step}"
        );
    }

    let forced = s.ci(&["--no-cache", "--step", "size-check"]);
    assert!(forced.ok, "{}", forced.text);
    assert_eq!(state(&s.step_states(), "size-check"), ("passed", "off"));
}

/// The reports of a passing build/qemu/size-check run parse as JUnit XML,
/// JSON and Prometheus text, and carry the QEMU test cases and image sizes.
fn check_reports(s: &Scratch) {
    let dir = s.reports();
    let json = s.ci_json();
    assert_eq!(json["status"], "passed");
    for step in json["steps"].as_array().expect("steps") {
        assert!(step["duration_s"].as_f64().is_some());
        assert!(
            step["command"]
                .as_str()
                .expect("command")
                .starts_with("cargo ")
        );
    }

    let xml = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml");
    let junit = quick_junit::Report::deserialize_from_str(&xml).expect("junit.xml parses");
    let steps = junit
        .test_suites
        .iter()
        .find(|t| t.name.as_str() == "ci steps")
        .expect("a suite of ci steps");
    assert_eq!(steps.test_cases.len(), 3);
    let qemu_cases: usize = junit
        .test_suites
        .iter()
        .filter(|t| t.name.as_str() != "ci steps")
        .map(|t| t.test_cases.len())
        .sum();
    assert!(qemu_cases >= 2, "the QEMU JUnit cases are merged: {xml}");

    let prom = std::fs::read_to_string(dir.join("metrics.prom")).expect("metrics.prom");
    let scrape = prometheus_parse::Scrape::parse(prom.lines().map(|l| Ok(l.to_string())))
        .expect("metrics.prom parses");
    let named = |n: &'static str| scrape.samples.iter().filter(move |x| x.metric == n);
    assert_eq!(named("xtask_ci_step_duration_seconds").count(), 3);
    let flash: Vec<_> = named("xtask_image_flash_bytes").collect();
    assert!(!flash.is_empty(), "image sizes from size.json: {prom}");
    for sample in &flash {
        for label in ["target", "board", "image"] {
            assert!(
                sample.labels.get(label).is_some_and(|v| !v.is_empty()),
                "{label} label on {sample:?}"
            );
        }
        assert!(matches!(sample.value, prometheus_parse::Value::Gauge(v) if v > 0.0));
    }
    assert!(named("xtask_image_ram_bytes").count() == flash.len());
    assert!(named("xtask_ci_tests").count() >= 1);

    let summary = std::fs::read_to_string(dir.join("summary.md")).expect("summary.md");
    assert!(summary.contains("| ✅ | `qemu` |"), "{summary}");
    assert!(
        summary.contains("### Size"),
        "size deltas from size.md: {summary}"
    );
}

/// One way to break each stage, each through the files that stage reads.
fn inject(s: &Scratch, stage: &str) {
    match stage {
        // A new test file of the kernel rather than its library: the next
        // scenario's copy then drops it without making cargo rebuild and
        // relink every image (the firmware never compiles kernel tests).
        "fmt" => s.write(
            "firmware/kernel/tests/injected_fmt.rs",
            "#[test]\nfn   injected( ) {}\n",
        ),
        "clippy" => {
            host_build_only_the_kernel(s);
            s.write(
                "firmware/kernel/tests/injected_clippy.rs",
                "/// Injected.\npub fn injected_clippy(x: u32) -> bool {\n    x == x\n}\n",
            );
        }
        "test" => {
            host_build_only_the_kernel(s);
            s.write(
                "firmware/kernel/tests/injected.rs",
                "#[test]\nfn injected_failure() {\n    assert_eq!(1 + 1, 3, \"injected test failure\");\n}\n",
            );
        }
        // One image's source, for the same reason.
        "build" => s.append(
            "firmware/tests/src/bin/sched.rs",
            "\n#[cfg(target_os = \"none\")]\ncompile_error!(\"injected build failure\");\n",
        ),
        "qemu" => {
            let expected = s.root.join("qemu/expected");
            let mut files: Vec<PathBuf> = std::fs::read_dir(&expected)
                .expect("qemu/expected")
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            for f in files {
                let text = std::fs::read_to_string(&f).expect("expected transcript");
                std::fs::write(&f, format!("injected line\n{text}")).expect("write");
            }
        }
        "size-check" => s.edit("qemu/budgets.toml", |t| {
            let re = regex::Regex::new(r#"(?m)^(flash|ram) = .*$"#).expect("regex");
            re.replace_all(&t, "$1 = 1").into_owned()
        }),
        "native" => s.append(
            "native/src/lib.rs",
            "\ncompile_error!(\"injected native failure\");\n",
        ),
        // The release cannot create its output directory.
        "release" => {
            std::fs::create_dir_all(&s.target).expect("scratch target");
            std::fs::write(s.target.join("dist"), "not a directory").expect("block dist");
        }
        "workflow-lint" => s.write(
            ".github/workflows/injected.yml",
            "name: injected\non: push\npermissions:\n  contents: read\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: curl https://example.invalid/install.sh | sh\n",
        ),
        "cross-check" => s.append(
            "xtask/src/main.rs",
            "\n#[cfg(windows)]\ncompile_error!(\"injected cross-OS failure\");\n",
        ),
        "audit" => s.edit("Cargo.lock", |t| {
            t.replacen(
                "source = \"registry+https://github.com/rust-lang/crates.io-index\"",
                "source = \"git+https://example.invalid/fork#0000000000000000000000000000000000000000\"",
                1,
            )
        }),
        other => panic!("no failure injection for stage {other}"),
    }
}

/// Host-wide steps (`cargo test`, host clippy) build every default member;
/// the scratch copy narrows them to the kernel crate, where the fault is
/// injected, so the scenario does not rebuild all of xtask's test binaries.
fn host_build_only_the_kernel(s: &Scratch) {
    s.edit("Cargo.toml", |t| {
        let re = regex::Regex::new(r"(?m)^default-members = \[[^\]]*\]").expect("regex");
        assert!(re.is_match(&t), "the root manifest lists default-members");
        re.replace(&t, r#"default-members = ["firmware/kernel"]"#)
            .into_owned()
    });
}

fn assert_fails_naming(s: &Scratch, run: &Run, stage: &str) {
    assert!(
        !run.ok,
        "ci exited 0 although {stage} was broken:\n{}",
        run.text
    );
    assert!(
        run.text.contains(&format!("❌ {stage}")) && run.text.contains("ci failed at step"),
        "the summary names {stage}:\n{}",
        run.text
    );
    let json = s.ci_json();
    assert_eq!(json["status"], "failed");
    assert_eq!(json["failed"], serde_json::json!([stage]), "{}", run.text);
}

/// Text the stage's log must hold, so a test passes only when the stage
/// failed for the injected reason.
fn evidence(stage: &str) -> &'static str {
    match stage {
        "fmt" => "injected( )",
        "clippy" => "x == x",
        "test" => "injected test failure",
        "build" => "injected build failure",
        "qemu" => "injected line",
        "size-check" => "flash = 1",
        "native" => "injected native failure",
        "release" => "Not a directory",
        "workflow-lint" => "injected.yml",
        "cross-check" => "injected cross-OS failure",
        "audit" => "example.invalid",
        other => panic!("no evidence for stage {other}"),
    }
}

fn injected_stage_fails(stage: &str, extra: &[&str]) {
    if nested() {
        return;
    }
    let s = Scratch::new();
    inject(&s, stage);
    let run = s.ci(&[&["--no-cache", "--step", stage], extra].concat());
    assert_fails_naming(&s, &run, stage);
    let log = std::fs::read_to_string(s.reports().join("logs").join(format!("{stage}.log")))
        .expect("the step's log");
    assert!(
        log.contains(evidence(stage)),
        "{stage} failed for the injected reason ({:?}):\n{log}",
        evidence(stage)
    );
}

#[test]
fn injected_failure_fmt() {
    injected_stage_fails("fmt", &[]);
}

#[test]
fn injected_failure_clippy() {
    injected_stage_fails("clippy", &[]);
}

#[test]
fn injected_failure_test() {
    injected_stage_fails("test", &[]);
}

#[test]
fn injected_failure_build() {
    injected_stage_fails("build", &[]);
}

#[test]
fn injected_failure_qemu() {
    injected_stage_fails("qemu", &[]);
}

#[test]
fn injected_failure_size_check() {
    injected_stage_fails("size-check", &[]);
}

#[test]
fn injected_failure_native() {
    injected_stage_fails("native", &[]);
}

#[test]
fn injected_failure_release() {
    injected_stage_fails("release", &[]);
}

#[test]
fn injected_failure_workflow_lint() {
    injected_stage_fails("workflow-lint", &[]);
}

#[test]
fn injected_failure_cross_check() {
    injected_stage_fails("cross-check", &[]);
}

#[test]
fn injected_failure_audit() {
    injected_stage_fails("audit", &["--nightly"]);
}

#[test]
fn stops_at_first_failure_unless_keep_going() {
    if nested() {
        return;
    }
    let s = Scratch::new();
    inject(&s, "fmt");
    inject(&s, "workflow-lint");
    let steps = ["--no-cache", "--step", "fmt", "--step", "workflow-lint"];
    let summary_file = s.target.join("step-summary.md");
    let _ = std::fs::remove_file(&summary_file);
    let run = s.ci_env(&steps, &[("GITHUB_STEP_SUMMARY", &summary_file)]);
    assert_fails_naming(&s, &run, "fmt");
    let states = s.step_states();
    assert_eq!(state(&states, "workflow-lint").0, "not-run");
    let appended = std::fs::read_to_string(&summary_file).expect("GITHUB_STEP_SUMMARY appended");
    assert!(appended.contains("❌ failed at fmt"), "{appended}");
    assert!(
        appended.contains("rerun with `cargo fmt --all --check`"),
        "{appended}"
    );

    let run = s.ci(&[&steps[..], &["--keep-going"]].concat());
    assert!(!run.ok);
    assert!(
        run.text.contains("ci failed at steps fmt, workflow-lint"),
        "{}",
        run.text
    );
    assert_eq!(
        s.ci_json()["failed"],
        serde_json::json!(["fmt", "workflow-lint"])
    );
}

#[test]
fn an_empty_manifest_fails_the_qemu_step_and_is_never_cached() {
    if nested() {
        return;
    }
    let s = Scratch::new();
    s.write("qemu/tests.toml", "");
    for attempt in 0..2 {
        let run = s.ci(&["--step", "qemu"]);
        assert_fails_naming(&s, &run, "qemu");
        assert_eq!(
            state(&s.step_states(), "qemu"),
            ("failed", "miss"),
            "attempt {attempt}"
        );
        let log = std::fs::read_to_string(s.reports().join("logs/qemu.log")).expect("qemu.log");
        assert!(
            log.contains("no test selected") && log.contains("has no [[test]]"),
            "{log}"
        );
    }
}

#[test]
fn every_cargo_input_is_in_the_step_key() {
    if nested() {
        return;
    }
    let s = Scratch::new();
    let fmt = ["--step", "fmt"];
    let cache = |run: &Run| {
        assert!(run.ok, "{}", run.text);
        state(&s.step_states(), "fmt").1.to_string()
    };
    assert_eq!(cache(&s.ci(&fmt)), "miss");
    assert_eq!(cache(&s.ci(&fmt)), "hit");
    // The issue's reproduction: profile settings by environment variable.
    let checks = [
        ("CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS", Path::new("true")),
        ("CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS", Path::new("true")),
    ];
    assert_eq!(
        cache(&s.ci_env(&fmt, &checks)),
        "miss",
        "a new CARGO_* variable"
    );
    assert_eq!(cache(&s.ci_env(&fmt, &checks)), "hit");
    // A cargo configuration in a folder above the workspace.
    let above = s
        .root
        .parent()
        .expect("the scratch copy has a parent")
        .join(".cargo");
    let _remove = RemoveOnDrop(above.clone());
    std::fs::create_dir_all(&above).unwrap();
    for (config, change) in [
        ("debug-assertions = true", "a config above the workspace"),
        ("overflow-checks = true", "an edit to that config"),
    ] {
        let text = format!("[profile.release]\n{config}\n");
        std::fs::write(above.join("config.toml"), text).unwrap();
        assert_eq!(cache(&s.ci_env(&fmt, &checks)), "miss", "{change}");
        assert_eq!(cache(&s.ci_env(&fmt, &checks)), "hit", "{change}");
    }
    // The toolchain file.
    s.append("rust-toolchain.toml", "\n# an edit\n");
    assert_eq!(
        cache(&s.ci_env(&fmt, &checks)),
        "miss",
        "rust-toolchain.toml"
    );
}

/// Removes a folder when dropped, also when the test fails.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Pids of live processes whose command line mentions `needle`.
#[cfg(target_os = "linux")]
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'));
        if !zombie && String::from_utf8_lossy(&cmdline).contains(needle) {
            found.push(pid);
        }
    }
    found
}

/// SIGKILLs what a failed assertion would leave running.
#[cfg(target_os = "linux")]
struct KillOnDrop(String);

#[cfg(target_os = "linux")]
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for pid in processes_mentioning(&self.0) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_signal_to_ci_alone_reaches_every_step_and_leaves_no_process() {
    use nix::sys::signal::{Signal, kill};
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    if nested() {
        return;
    }
    let s = Scratch::new();
    // One test that never ends, on one board.
    s.write(
        "qemu/tests.toml",
        "[[test]]\nname = \"hang\"\npackage = \"fw-fixtures\"\nboards = [\"lm3s6965evb\"]\nexpect_regex = [\"never\"]\ntimeout = 600\n",
    );
    let needle = s.target.display().to_string();
    let _cleanup = KillOnDrop(needle.clone());
    let hang = s.target.join("images/lm3s6965evb/release/fw-fixtures/hang");
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        let child = s
            .ci_command(&["--no-cache", "--step", "qemu"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ci");
        let until = Instant::now() + Duration::from_secs(600);
        while processes_mentioning(&hang.display().to_string()).is_empty() {
            assert!(Instant::now() < until, "the hanging test never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        // To ci alone, not to its process group.
        kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let out = child.wait_with_output().expect("ci exits");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(130), "{signal:?}:\n{text}");
        assert!(
            text.contains("interrupted: step `qemu`: `cargo xtask qemu --junit")
                && text.contains(&format!("{} sent to its process group", signal.as_str()))
                && text.contains(&format!("ci stopped by {}", signal.as_str())),
            "{signal:?}:\n{text}"
        );
        // The step's xtask printed what it stopped: its QEMU.
        assert!(
            text.contains("interrupted: lm3s6965evb/hang (QEMU pid"),
            "{signal:?}:\n{text}"
        );
        // Reaping by init can trail the exit of ci by a moment.
        let until = Instant::now() + Duration::from_secs(2);
        while !processes_mentioning(&needle).is_empty() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = processes_mentioning(&needle);
        assert!(
            left.is_empty(),
            "{signal:?}: processes outlived ci: {left:?}\n{text}"
        );
        assert_eq!(s.ci_json()["status"], "failed", "{signal:?}");
    }
}

#[test]
fn size_check_fails_without_its_budgets_or_with_an_empty_baseline() {
    if nested() {
        return;
    }
    let s = Scratch::new();
    let size_check = || {
        let out = s.xtask(&["size-check"]).output().expect("run size-check");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    std::fs::remove_file(s.root.join("qemu/budgets.toml")).unwrap();
    let (code, err) = size_check();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("qemu/budgets.toml does not exist"), "{err}");
    std::fs::copy(
        source_root().join("qemu/budgets.toml"),
        s.root.join("qemu/budgets.toml"),
    )
    .unwrap();
    for empty in ["", "[]\n"] {
        s.write("qemu/size-baseline.json", empty);
        let (code, err) = size_check();
        assert_eq!(code, Some(1), "{empty:?}: {err}");
        assert!(
            err.contains("qemu/size-baseline.json lists no image"),
            "{empty:?}: {err}"
        );
    }
    let run = s.ci(&["--step", "size-check"]);
    assert_fails_naming(&s, &run, "size-check");
}
