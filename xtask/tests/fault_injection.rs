//! Crash tests: `cargo xtask` killed with SIGKILL at every fault point of
//! [`xtask::fault`] that `ci`, `qemu`, `size-check` and `release` reach
//! while writing their outputs, halfway through a write or just before a
//! rename. After each kill no output under its final name is partial, and
//! the output being written is still the previous good one.
//!
//! Deterministic: a first run of each command with `XTASK_FAULT_TRACE` lists
//! the points it reaches and for which file; then the command runs again
//! once per point with `XTASK_FAULT=<point>:<file>`. The points reached by
//! all commands together must be every point of [`fault::POINTS`], so a new
//! rename cannot go untested (the tidy tests check that every rename has a
//! point).
#![cfg(unix)]

mod size_common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::Digest;
use size_common::{ARM_FLASH, ARM_RAM, EM_ARM, firmware_like};
use xtask::fault;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fault-injection")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn show(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A point reached, and the name of the file it was about to write.
type Hit = (String, String);

/// Where a command writes, once a traced run has shown it.
type Outputs = Box<dyn Fn(&[Hit]) -> Vec<PathBuf>>;

/// One command whose outputs are checked after every kill.
struct Scenario {
    name: &'static str,
    /// `cargo xtask <args>`, with extra environment.
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Its outputs: files, or a folder holding a release.
    outputs: Outputs,
    /// Runs before every run of the command (e.g. to make it write).
    before: Box<dyn Fn()>,
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("scratch paths are UTF-8")
}

impl Scenario {
    fn run(&self, extra: &[(&str, &str)]) -> Output {
        (self.before)();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(&self.args)
            .current_dir(root())
            .env("NO_COLOR", "1")
            .env_remove(fault::FAULT_ENV)
            .env_remove(fault::TRACE_ENV)
            .env_remove(fault::NO_EXCHANGE_ENV)
            .env_remove("CARGO_MAKEFLAGS");
        let own = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (k, v) in own.chain(extra.iter().copied()) {
            cmd.env(k, v);
        }
        cmd.output().expect("xtask runs")
    }

    /// The points one uninterrupted run reaches, in order, without repeats.
    fn trace(&self, dir: &Path) -> Vec<Hit> {
        let trace = dir.join(format!("{}.trace", self.name.replace(' ', "_")));
        let _ = std::fs::remove_file(&trace);
        let o = self.run(&[(fault::TRACE_ENV, trace.to_str().unwrap())]);
        assert!(
            o.status.success(),
            "{}: the traced run failed:\n{}",
            self.name,
            show(&o)
        );
        let text = std::fs::read_to_string(&trace).unwrap_or_default();
        let mut hits: Vec<Hit> = Vec::new();
        for line in text.lines() {
            let (point, file) = line.split_once(' ').unwrap_or((line, ""));
            let hit = (point.to_owned(), file.to_owned());
            if !hits.contains(&hit) {
                hits.push(hit);
            }
        }
        hits
    }

    /// Kills the command at `hit` and checks `outputs`: each one whole, and
    /// the one being written (a file named like it, else a release folder)
    /// the previous good one.
    fn inject(&self, hit: &Hit, outputs: &[PathBuf], extra: &[(&str, &str)]) {
        let before = snapshot(outputs);
        let spec = format!("{}:{}", hit.0, hit.1);
        let o = self.run(&[&[(fault::FAULT_ENV, spec.as_str())], extra].concat());
        let when = format!("{}, killed at {spec}", self.name);
        assert_eq!(
            o.status.signal(),
            Some(9),
            "{when}: not killed:\n{}",
            show(&o)
        );
        let named: Vec<&PathBuf> = outputs
            .iter()
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == hit.1))
            .collect();
        let written: Vec<&PathBuf> = if named.is_empty() {
            outputs.iter().filter(|p| p.is_dir()).collect()
        } else {
            named
        };
        assert!(
            !written.is_empty(),
            "{when}: `{}` is no known output",
            hit.1
        );
        for out in written {
            assert_eq!(
                read_output(out),
                before[out],
                "{when}: {} is not the previous good output",
                out.display()
            );
        }
        for out in outputs {
            check_whole(out, &when);
        }
    }
}

/// A file's bytes, or a release folder's `SHA256SUMS`.
fn read_output(path: &Path) -> Option<Vec<u8>> {
    if path.is_dir() {
        std::fs::read(path.join("SHA256SUMS")).ok()
    } else {
        std::fs::read(path).ok()
    }
}

fn snapshot(outputs: &[PathBuf]) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    outputs
        .iter()
        .map(|p| (p.clone(), read_output(p)))
        .collect()
}

/// Fails unless `path` is absent or a whole output of its kind.
fn check_whole(path: &Path, when: &str) {
    if path.is_dir() {
        return check_release(path, when);
    }
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let text = String::from_utf8_lossy(&bytes);
    let whole = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
        Some("xml") => quick_junit::Report::deserialize_from_str(&text).is_ok(),
        Some("prom") => {
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).is_ok()
                && text.ends_with('\n')
        }
        Some("md") => text.starts_with("## ") && text.ends_with('\n'),
        Some("log") => text.starts_with("$ ") && text.ends_with('\n'),
        // The fatbin container's magic (little-endian 0xBA55ED50).
        Some("fatbin") => bytes.starts_with(&[0x50, 0xed, 0x55, 0xba]),
        _ => xtask::elf::Elf::parse(&bytes).is_ok(),
    };
    assert!(whole, "{when}: {} is partial:\n{text:.300}", path.display());
}

/// Fails unless `dir` is a release that `--verify` accepts.
fn check_release(dir: &Path, when: &str) {
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["release", "--verify"])
        .arg(dir)
        .current_dir(root())
        .env_remove(fault::FAULT_ENV)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{when}: {} does not verify:\n{}",
        dir.display(),
        show(&o)
    );
}

/// Injects every hit of `s` and adds it to `done`; an image copy is one
/// call site whatever the image and the command, so two images are enough.
fn inject_all(s: &Scenario, hits: &[Hit], done: &mut BTreeSet<Hit>) {
    let outputs = (s.outputs)(hits);
    for hit in hits {
        let copies = done.iter().filter(|h| h.0 == "image-copy").count();
        if hit.0 == "image-copy" && (copies >= 2 || done.contains(hit)) {
            continue;
        }
        s.inject(hit, &outputs, &[]);
        done.insert(hit.clone());
    }
}

fn cargo_metadata() -> serde_json::Value {
    let o = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root())
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap()
}

fn target_dir() -> PathBuf {
    PathBuf::from(cargo_metadata()["target_directory"].as_str().unwrap())
}

/// `--update-baseline` and `--markdown` for an ELF that changes size
/// between runs, so that the baseline is rewritten each time.
fn size_check_elf(dir: &Path) -> Scenario {
    let elf = dir.join("app.elf");
    let small = firmware_like(EM_ARM, ARM_FLASH, ARM_RAM, 0x200);
    let mut large = small.clone();
    large.segs[0].data.extend([0; 16]);
    large.segs[0].memsz += 16;
    let sizes = [small.build(), large.build()];
    let (baseline, markdown) = (dir.join("baseline.json"), dir.join("size.md"));
    let recorded = baseline.clone();
    let args = words(&[
        "size-check",
        "--update-baseline",
        "--elf",
        path(&elf),
        "--baseline",
        path(&baseline),
        "--markdown",
        path(&markdown),
    ]);
    Scenario {
        name: "size-check --elf",
        args,
        env: Vec::new(),
        outputs: Box::new(move |_| vec![baseline.clone(), markdown.clone()]),
        // The size the baseline does not hold, whatever the last run did.
        before: Box::new(move || {
            let recorded = std::fs::read_to_string(&recorded).unwrap_or_default();
            let small = recorded.contains("\"flash_bytes\": 1312");
            std::fs::write(&elf, &sizes[usize::from(small)]).unwrap();
        }),
    }
}

/// The workspace's release images for the Cortex-M3 board, and the size
/// reports.
fn size_check_workspace() -> Scenario {
    let target = target_dir();
    let outputs = move |_: &[Hit]| {
        let mut out = vec![
            target.join("reports/size.md"),
            target.join("reports/size.json"),
        ];
        let images = target.join("images/lm3s6965evb/release");
        for package in std::fs::read_dir(&images).unwrap().flatten() {
            for image in std::fs::read_dir(package.path()).unwrap().flatten() {
                if !image.file_name().to_string_lossy().starts_with('.') {
                    out.push(image.path());
                }
            }
        }
        out
    };
    Scenario {
        name: "size-check",
        args: words(&["size-check", "--target", "arm"]),
        env: Vec::new(),
        outputs: Box::new(outputs),
        before: Box::new(|| {}),
    }
}

/// One passing test with both reports; the run's own report lands in
/// `<target_dir>/reports/` under a name the trace shows.
fn qemu_suite(dir: &Path) -> Scenario {
    let manifest = dir.join("tests.toml");
    std::fs::write(
        &manifest,
        "[[test]]\nname = \"pass\"\npackage = \"fw-fixtures\"\nboards = [\"lm3s6965evb\"]\nexpect_regex = [\"^PASS pass$\"]\n",
    )
    .unwrap();
    let (json, junit) = (dir.join("r.json"), dir.join("r.xml"));
    let args = words(&[
        "qemu",
        "--manifest",
        path(&manifest),
        "--json",
        path(&json),
        "--junit",
        path(&junit),
    ]);
    let reports = target_dir().join("reports");
    let outputs = move |hits: &[Hit]| {
        let mut out = vec![json.clone(), junit.clone()];
        out.extend(
            hits.iter()
                .filter(|h| h.1.starts_with("qemu-tests-"))
                .map(|h| reports.join(&h.1)),
        );
        out
    };
    Scenario {
        name: "qemu",
        args,
        env: Vec::new(),
        outputs: Box::new(outputs),
        before: Box::new(|| {}),
    }
}

/// `ci --step fmt` with a target directory of its own, so its reports and
/// step cache (`xtask-cache/ci/<hash of the workspace root>/`) are the
/// test's.
fn ci_fmt(dir: &Path) -> Scenario {
    let target = dir.join("target");
    let reports = target.join("reports");
    let root = cargo_metadata()["workspace_root"]
        .as_str()
        .unwrap()
        .to_owned();
    let tag: String = sha2::Sha256::digest(root.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let entry = target
        .join("xtask-cache/ci")
        .join(&tag[..16])
        .join("fmt.json");
    let outputs = move |_: &[Hit]| {
        let mut out: Vec<PathBuf> = [
            "ci.json",
            "junit.xml",
            "summary.md",
            "metrics.prom",
            "logs/fmt.log",
        ]
        .iter()
        .map(|f| reports.join(f))
        .collect();
        out.push(entry.clone());
        out
    };
    Scenario {
        name: "ci",
        args: words(&["ci", "--no-cache", "--step", "fmt"]),
        env: vec![
            ("CARGO_TARGET_DIR".into(), target.display().to_string()),
            ("CI".into(), "true".into()),
        ],
        outputs: Box::new(outputs),
        before: Box::new(|| {}),
    }
}

fn release(dir: &Path) -> Scenario {
    let out = dir.join("dist");
    Scenario {
        name: "release",
        args: words(&["release", "--out", out.to_str().unwrap()]),
        env: vec![("SOURCE_DATE_EPOCH".into(), "1700000000".into())],
        outputs: Box::new(move |_| vec![out.clone()]),
        before: Box::new(|| {}),
    }
}

/// The release's own points: the first publish, the swap and the removal
/// after it, and without the swap the two renames, the removal and the
/// restore after a crash between the renames. The release is the same
/// (reproducible) in every run.
fn release_points(r: &Scenario, done: &mut BTreeSet<Hit>) {
    let outputs = (r.outputs)(&[]);
    let out = &outputs[0];
    let reference = std::fs::read(out.join("SHA256SUMS")).unwrap();
    let same = |dir: &Path, when: &str| {
        check_release(dir, when);
        assert_eq!(
            std::fs::read(dir.join("SHA256SUMS")).unwrap(),
            reference,
            "{when}"
        );
    };
    let hit = |p: &str| (p.to_owned(), "dist".to_owned());
    std::fs::remove_dir_all(out).unwrap();
    r.inject(&hit("release-first"), &outputs, &[]);
    assert!(
        !out.exists(),
        "killed before the first release: none, not half of one"
    );
    assert!(r.run(&[]).status.success());
    for point in ["release-exchange", "release-remove-old"] {
        r.inject(&hit(point), &outputs, &[]);
        same(out, point);
    }
    let portable = [(fault::NO_EXCHANGE_ENV, "1")];
    for point in ["release-move-aside", "release-remove-old"] {
        r.inject(&hit(point), &outputs, &portable);
        same(out, point);
    }
    // Between the two renames the previous release is in `.dist.old`; the
    // next run restores it before anything else, also when it is killed
    // right there, or fails later for another reason.
    let old = out.with_file_name(".dist.old");
    let o = r.run(&[(fault::FAULT_ENV, "release-move-in:dist"), portable[0]]);
    assert_eq!(o.status.signal(), Some(9), "{}", show(&o));
    assert!(!out.exists());
    same(&old, "killed between the two renames");
    let o = r.run(&[(fault::FAULT_ENV, "release-restore:dist")]);
    assert_eq!(o.status.signal(), Some(9), "{}", show(&o));
    same(&old, "killed while restoring");
    let o = r.run(&[("SOURCE_DATE_EPOCH", "not a number")]);
    assert!(!o.status.success(), "{}", show(&o));
    assert!(!old.exists(), "restored first");
    same(out, "restored by a run that then failed");
    for p in ["release-first", "release-exchange", "release-remove-old"] {
        done.insert(hit(p));
    }
    for p in ["release-move-aside", "release-move-in", "release-restore"] {
        done.insert(hit(p));
    }
}

/// With nvcc: `native --backend cuda` rebuilds the fatbin (its stamp
/// removed) and is killed before the fatbin moves into place.
fn fatbin_point(done: &mut BTreeSet<Hit>) {
    let native = target_dir().join("native");
    let s = Scenario {
        name: "native",
        args: words(&["native", "--backend", "cuda"]),
        env: Vec::new(),
        outputs: Box::new(|_| Vec::new()),
        before: Box::new(move || {
            let _ = std::fs::remove_file(native.join("fir.fatbin.sha256"));
        }),
    };
    let fatbin = target_dir().join("native/fir.fatbin");
    let outputs = [fatbin.clone()];
    let hit = ("fatbin-persist".to_owned(), "fir.fatbin".to_owned());
    if fatbin.is_file() {
        s.inject(&hit, &outputs, &[]);
    } else {
        let o = s.run(&[(fault::FAULT_ENV, "fatbin-persist:fir.fatbin")]);
        assert_eq!(o.status.signal(), Some(9), "{}", show(&o));
        assert!(
            !fatbin.exists(),
            "a fatbin under its name before it was complete"
        );
    }
    done.insert(hit);
}

#[test]
fn a_crash_at_any_write_or_rename_leaves_only_whole_outputs() {
    let dir = scratch("all");
    let qemu = Command::new("qemu-system-arm").arg("--version").output();
    let mut scenarios = vec![size_check_elf(&dir), size_check_workspace(), ci_fmt(&dir)];
    if qemu.is_ok_and(|o| o.status.success()) {
        scenarios.push(qemu_suite(&dir));
    } else {
        println!("skipped: the qemu scenario (qemu-system-arm is not installed)");
    }
    scenarios.push(release(&dir));
    let mut reached: BTreeSet<String> = BTreeSet::new();
    let mut done: BTreeSet<Hit> = BTreeSet::new();
    for s in &scenarios {
        let hits = s.trace(&dir);
        assert!(!hits.is_empty(), "{} reached no fault point", s.name);
        reached.extend(hits.iter().map(|h| h.0.clone()));
        if s.name == "release" {
            // Staged files are no final names: one of them is enough.
            let staged: Vec<Hit> = hits
                .iter()
                .filter(|h| h.0.starts_with("atomic") && h.1 == "SHA256SUMS")
                .cloned()
                .collect();
            assert_eq!(staged.len(), 2, "{hits:?}");
            inject_all(s, &staged, &mut done);
            release_points(s, &mut done);
        } else {
            inject_all(s, &hits, &mut done);
        }
    }
    let mut expected: BTreeSet<String> = fault::POINTS.iter().map(|p| p.to_string()).collect();
    let ws = xtask::workspace::Workspace::load().unwrap();
    if xtask::toolkits::find_nvcc(&ws).is_some() {
        fatbin_point(&mut done);
    } else {
        println!("skipped: fatbin-persist (no nvcc, so no fatbin is built)");
        expected.remove("fatbin-persist");
    }
    reached.extend(done.iter().map(|h| h.0.clone()));
    let missed: Vec<&String> = expected.difference(&reached).collect();
    assert!(
        missed.is_empty(),
        "fault points no command reached: {missed:?}"
    );
    println!("killed at {} (point, file) pairs: {done:?}", done.len());
}
