//! `cargo xtask ci --matrix` / `--job`: the jobs split exactly the steps of
//! plain `cargo xtask ci`, each step in one job, in the same order.

use std::process::Command;

fn xtask(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("GITHUB_OUTPUT")
        .output()
        .expect("run xtask");
    assert!(
        out.status.success(),
        "xtask {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

fn jobs(extra: &[&str]) -> Vec<(String, Vec<String>)> {
    let matrix: serde_json::Value =
        serde_json::from_str(&xtask(&[&["ci", "--matrix"], extra].concat()))
            .expect("--matrix prints JSON");
    matrix["include"]
        .as_array()
        .expect("matrix has `include`")
        .iter()
        .map(|j| {
            let name = j["job"].as_str().expect("job name").to_string();
            let steps = j["steps"].as_str().expect("job steps");
            (name, steps.split(' ').map(str::to_string).collect())
        })
        .collect()
}

/// The job that `--matrix` leaves out because ci.yml shards it.
const SHARDED: &str = "qemu";

fn assert_union_is_ci(extra: &[&str]) {
    let all = lines(&xtask(&[&["ci", "--list"], extra].concat()));
    assert!(all.len() >= 10, "plain ci lists its steps: {all:?}");
    let mut union = lines(&xtask(
        &[&["ci", "--list", "--job", SHARDED], extra].concat(),
    ));
    assert_eq!(union, ["qemu"], "the sharded job runs the QEMU suite");
    for (job, declared) in jobs(extra) {
        assert_ne!(job, SHARDED, "--matrix leaves the sharded job to ci.yml");
        let ran = lines(&xtask(&[&["ci", "--list", "--job", &job], extra].concat()));
        assert_eq!(ran, declared, "--job {job} runs what --matrix says");
        union.extend(ran);
    }
    let mut sorted_union = union.clone();
    sorted_union.sort();
    sorted_union.dedup();
    assert_eq!(
        sorted_union.len(),
        union.len(),
        "a step is in two jobs: {union:?}"
    );
    let mut sorted_all = all.clone();
    sorted_all.sort();
    assert_eq!(
        sorted_union, sorted_all,
        "the union of the jobs is plain ci"
    );
}

#[test]
fn union_of_jobs_is_plain_ci() {
    assert_union_is_ci(&[]);
}

#[test]
fn union_of_nightly_jobs_is_nightly_ci() {
    assert_union_is_ci(&["--nightly"]);
    let plain = lines(&xtask(&["ci", "--list"]));
    let nightly = lines(&xtask(&["ci", "--list", "--nightly"]));
    assert_eq!(
        &nightly[..plain.len()],
        &plain[..],
        "nightly is ci plus slow checks"
    );
    for slow in ["fuzz", "reproducibility", "audit", "coverage"] {
        assert!(nightly.iter().any(|s| s == slow), "nightly runs {slow}");
    }
}

#[test]
fn plain_ci_runs_the_steps_in_order() {
    let all = lines(&xtask(&["ci", "--list"]));
    let order = [
        "fmt",
        "clippy",
        "test",
        "test-crash",
        "test-repro",
        "test-qemu",
        "ci-scratch",
        "build",
        "qemu",
        "qemu-7.2",
        "size-check",
        "native",
        "release",
        "workflow-lint",
        "cross-check",
    ];
    assert_eq!(all, order);
}

#[test]
fn matrix_is_written_to_github_output() {
    let dir = std::env::temp_dir().join(format!("ci-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out_file = dir.join("github_output");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["ci", "--matrix"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("GITHUB_OUTPUT", &out_file)
        .output()
        .expect("run xtask");
    assert!(out.status.success());
    let written = std::fs::read_to_string(&out_file).expect("GITHUB_OUTPUT written");
    let output = |key: &str| -> Vec<serde_json::Value> {
        let line = written
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= line in {written}"));
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
        v["include"].as_array().expect("include").clone()
    };
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // The runner's jobs and the container's partition the printed matrix.
    for (key, container) in [("matrix", ""), ("container_matrix", "rust:1.95.0-bookworm")] {
        let want: Vec<serde_json::Value> = printed["include"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["container"] == container)
            .map(|e| serde_json::json!({ "job": e["job"], "steps": e["steps"] }))
            .collect();
        assert!(!want.is_empty(), "{key}: no job");
        assert_eq!(output(key), want, "{key}");
    }
    let in_container: Vec<String> = output("container_matrix")
        .iter()
        .map(|e| e["job"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        in_container,
        [
            "test",
            "test-crash-repro",
            "test-qemu",
            "ci-scratch",
            "firmware"
        ],
        "the jobs that run QEMU"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_job_and_step_are_refused_with_the_valid_names() {
    for (flag, name) in [("--job", "nope"), ("--step", "nope")] {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["ci", flag, name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run xtask");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("nope") && err.contains("valid"), "{err}");
    }
}

/// The `run:` commands of one job of a workflow, in order.
fn job_runs(workflow: &str, job: &str) -> Vec<String> {
    let header = format!("\n  {job}:\n");
    let start = workflow
        .find(&header)
        .unwrap_or_else(|| panic!("ci.yml has no job `{job}`"))
        + header.len();
    workflow[start..]
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .filter_map(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .strip_prefix("run: ")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn ci_yml_shards_the_qemu_suite_over_one_bundle() {
    let workflow = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows/ci.yml"),
    )
    .expect("ci.yml");
    assert_eq!(
        job_runs(&workflow, "qemu-bundle"),
        [
            "cargo xtask setup",
            "cargo xtask qemu --build-only --bundle target/qemu-bundle"
        ]
    );
    let shard = job_runs(&workflow, "qemu-shard");
    assert!(
        shard.iter().any(|r| r.starts_with(
            "cargo xtask qemu --bundle target/qemu-bundle --subset \"$SUBSET\" --json target/qemu-shard/qemu.json"
        )),
        "{shard:?}"
    );
    assert!(
        workflow.contains("SUBSET: ${{ matrix.shard }}/${{ strategy.job-total }}"),
        "each shard is i/M of the matrix"
    );
    assert_eq!(
        job_runs(&workflow, "qemu-report"),
        ["cargo xtask ci report --merge target/qemu-shards"]
    );
    for needs in ["needs: qemu-bundle\n", "needs: qemu-shard\n"] {
        assert!(workflow.contains(needs), "ci.yml lacks `{needs}`");
    }
}
