//! The ci plan: every step, in the order plain `cargo xtask ci` runs them,
//! the job each belongs to (one GitHub matrix entry per job), the commands a
//! step runs, and the inputs its cache key is made of.

use std::path::PathBuf;

use crate::cmd::shell_words;
use crate::commands::native;
use crate::workspace::Workspace;

/// Files every step depends on: the manifests, the toolchain pin, cargo's
/// configuration, and xtask itself, which implements every step.
const COMMON: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "**/Cargo.toml",
    "rust-toolchain.toml",
    ".cargo/**",
    "xtask/**",
];

/// Firmware inputs: sources, board data, test manifest, expected
/// transcripts, budgets and the size baseline.
const FIRMWARE: &[&str] = &["firmware/**", "qemu/**"];

/// Environment variables besides the `CARGO_*` and `RUST*` ones (which
/// every key covers, see `cache::cargo_inputs`) that change what a step
/// produces.
const STEP_ENV: &[&str] = &["SOURCE_DATE_EPOCH"];

/// A GitHub matrix job: the steps it runs are the plan's steps with that job.
#[derive(
    clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Job {
    Lint,
    Test,
    /// xtask's crash and reproducibility tests ([`CRASH_TESTS`],
    /// [`REPRO_TESTS`]).
    #[serde(rename = "test-crash-repro")]
    TestCrashRepro,
    /// xtask's QEMU integration tests ([`QEMU_TESTS`]).
    #[serde(rename = "test-qemu")]
    TestQemu,
    /// xtask's end-to-end ci tests ([`CI_SCRATCH`]).
    #[serde(rename = "ci-scratch")]
    CiScratch,
    Firmware,
    /// The QEMU suite. `--matrix` leaves it out: ci.yml runs it as a bundle
    /// job, shard jobs and a merge job (see [`Job::sharded`]).
    Qemu,
    Native,
    /// Nightly only.
    Fuzz,
    /// Nightly only.
    Reproducibility,
    /// Nightly only.
    Audit,
    /// Nightly only.
    Coverage,
}

impl Job {
    /// The name used by `--job`, `--matrix` and the reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lint => "lint",
            Self::Test => "test",
            Self::TestCrashRepro => "test-crash-repro",
            Self::TestQemu => "test-qemu",
            Self::CiScratch => "ci-scratch",
            Self::Firmware => "firmware",
            Self::Qemu => "qemu",
            Self::Native => "native",
            Self::Fuzz => "fuzz",
            Self::Reproducibility => "reproducibility",
            Self::Audit => "audit",
            Self::Coverage => "coverage",
        }
    }

    /// Whether CI runs the job's steps sharded rather than as one matrix
    /// entry: `cargo xtask qemu --build-only --bundle` in one job,
    /// `cargo xtask qemu --bundle … --subset i/M` in M jobs, and
    /// `cargo xtask ci report --merge` over their reports.
    pub fn sharded(self) -> bool {
        self == Self::Qemu
    }
}

/// The container the jobs that run QEMU use in the workflows: Debian
/// bookworm, the base of `ci-docker/`, with rustup, so that `cargo xtask
/// setup` installs there the QEMU the suite is tested with (10.0 from
/// bookworm-backports) and unpacks Debian 12's 7.2 beside it, rather than
/// the runner's own, untested QEMU.
pub const QEMU_CONTAINER: &str = "rust:1.95.0-bookworm";

impl Job {
    /// The container image the job runs in on GitHub, `None` for the runner
    /// itself: the jobs that run QEMU use [`QEMU_CONTAINER`].
    pub fn container(self) -> Option<&'static str> {
        matches!(
            self,
            Self::Test | Self::TestCrashRepro | Self::TestQemu | Self::CiScratch | Self::Firmware
        )
        .then_some(QEMU_CONTAINER)
    }
}

/// A tool whose version is part of a step's cache key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tool {
    /// `rustc -vV`: the toolchain (rustfmt and clippy ship with it).
    Rustc,
    /// Every QEMU system emulator named in `qemu/boards.toml`.
    Qemu,
    /// The CUDA compiler, when installed.
    Nvcc,
    Actionlint,
    Zizmor,
    Hadolint,
}

impl Tool {
    /// The executable of a linter that `setup --lint` installs.
    pub fn linter(self) -> Option<&'static str> {
        match self {
            Self::Actionlint => Some("actionlint"),
            Self::Zizmor => Some("zizmor"),
            Self::Hadolint => Some("hadolint"),
            Self::Rustc | Self::Qemu | Self::Nvcc => None,
        }
    }
}

/// What a step's cache key is made of, besides its commands.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Globs over workspace files (relative to the root, `/`-separated).
    pub include: Vec<&'static str>,
    /// Globs removed from `include`.
    pub exclude: Vec<&'static str>,
    pub tools: Vec<Tool>,
    /// Environment variables beyond the `CARGO_*` and `RUST*` ones.
    pub env: Vec<&'static str>,
    /// Whether the commit `HEAD` names is an input: for a step that builds
    /// `HEAD` in clones, which the working tree's changes never reach.
    pub head: bool,
}

/// One ci step.
#[derive(Clone, Debug)]
pub struct Step {
    /// Unique name, used by `--step`, the reports and the summary.
    pub name: &'static str,
    /// The matrix job that runs it.
    pub job: Job,
    /// Command lines, run in order; `cargo xtask …` runs this same xtask.
    pub commands: Vec<Vec<String>>,
    pub inputs: Inputs,
    /// Files or directories the step writes; a cached result counts only
    /// while they are still exactly as that run left them.
    pub outputs: Vec<PathBuf>,
    /// A JUnit file the step writes, merged into `reports/junit.xml`.
    pub junit: Option<PathBuf>,
    /// Whether the output holds libtest results to turn into test cases.
    pub libtest: bool,
    /// Steps that, when they run in the same ci run, must finish before this
    /// one starts: they write files this step reads or writes itself.
    pub after: &'static [&'static str],
}

impl Step {
    /// The exact command line that reruns the step, quoted for a POSIX
    /// shell.
    pub fn rerun(&self) -> String {
        self.commands
            .iter()
            .map(|argv| shell_words(argv))
            .collect::<Vec<_>>()
            .join(" && ")
    }
}

/// The jobs, in order, for `--matrix`.
pub fn jobs(steps: &[Step]) -> Vec<Job> {
    let mut jobs: Vec<Job> = Vec::new();
    for step in steps {
        if !jobs.contains(&step.job) {
            jobs.push(step.job);
        }
    }
    jobs
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn inputs(include: &[&[&'static str]], tools: &[Tool]) -> Inputs {
    Inputs {
        include: include.iter().flat_map(|g| g.iter().copied()).collect(),
        exclude: Vec::new(),
        tools: tools.to_vec(),
        env: STEP_ENV.to_vec(),
        head: false,
    }
}

/// The steps of plain `cargo xtask ci`, in order; with `nightly`, followed by
/// the slow checks of the nightly workflow.
pub fn steps(ws: &Workspace, nightly: bool) -> Vec<Step> {
    let reports = ws.reports_dir();
    let dist = ws.target_dir.join("dist");
    let path = |p: &PathBuf| p.to_string_lossy().into_owned();
    let qemu_junit = reports.join("qemu-junit.xml");
    let qemu_json = reports.join("qemu.json");
    let step = |name, job, commands: Vec<Vec<String>>, inputs: Inputs| Step {
        name,
        job,
        commands,
        inputs,
        outputs: Vec::new(),
        junit: None,
        libtest: false,
        after: &[],
    };
    let all_but_docs = {
        let mut i = inputs(&[&["**"]], &[Tool::Rustc]);
        i.exclude = vec!["**/*.md", ".github/**", "ci-docker/**", ".ci/**"];
        i
    };
    // Tests read anything, the workflows and the CI image included, and run
    // QEMU and nvcc.
    let tests_read_anything = inputs(&[&["**"]], &[Tool::Rustc, Tool::Qemu, Tool::Nvcc]);
    let mut steps = vec![
        step(
            "fmt",
            Job::Lint,
            vec![argv(&["cargo", "fmt", "--all", "--check"])],
            inputs(
                &[COMMON, &["**/*.rs", "**/rustfmt.toml", "**/.rustfmt.toml"]],
                &[Tool::Rustc],
            ),
        ),
        step(
            "clippy",
            Job::Lint,
            vec![argv(&["cargo", "xtask", "clippy"])],
            all_but_docs.clone(),
        ),
        Step {
            libtest: true,
            ..step(
                "test",
                Job::Test,
                test_commands(ws),
                tests_read_anything.clone(),
            )
        },
        // Before `test-qemu` in plan order, so that the core `clippy` frees
        // takes it while `test` runs, and `test-qemu` follows `test`.
        Step {
            libtest: true,
            ..step(
                "test-crash",
                Job::TestCrashRepro,
                vec![xtask_tests(&[CRASH_TESTS])],
                tests_read_anything.clone(),
            )
        },
        Step {
            libtest: true,
            ..step(
                "test-repro",
                Job::TestCrashRepro,
                vec![xtask_tests(&[REPRO_TESTS])],
                builds_head(),
            )
        },
        Step {
            libtest: true,
            ..step(
                "test-qemu",
                Job::TestQemu,
                vec![xtask_tests(&QEMU_TESTS)],
                tests_read_anything.clone(),
            )
        },
        Step {
            libtest: true,
            // The scratch copy shares this checkout's build directory. Side
            // by side with `test`, each waits on its lock while the other
            // compiles, and together they take longer than one after the
            // other (measured with `cargo xtask bench ci`). The copy's
            // `--remap-path-prefix` flags name its own root, so its firmware
            // builds rebuild the registry crates this checkout's firmware
            // steps link: it comes after them too. Apart, as GitHub runs
            // the jobs, they overlap.
            after: &[
                "test",
                "test-crash",
                "test-repro",
                "test-qemu",
                "build",
                "qemu",
                "qemu-7.2",
                "size-check",
                "native",
                "release",
            ],
            ..step(
                "ci-scratch",
                Job::CiScratch,
                vec![xtask_tests(&[CI_SCRATCH])],
                tests_read_anything,
            )
        },
        step(
            "build",
            Job::Firmware,
            vec![argv(&[
                "cargo",
                "xtask",
                "build",
                "--target",
                "all",
                "--profile",
                "all",
            ])],
            inputs(&[COMMON, FIRMWARE], &[Tool::Rustc]),
        ),
        Step {
            outputs: vec![qemu_junit.clone(), qemu_json.clone()],
            junit: Some(qemu_junit.clone()),
            // `cargo test` runs suites that write the default reports too.
            after: &["test", "test-crash", "test-repro", "test-qemu"],
            ..step(
                "qemu",
                Job::Qemu,
                vec![vec![
                    "cargo".into(),
                    "xtask".into(),
                    "qemu".into(),
                    "--junit".into(),
                    path(&qemu_junit),
                    "--json".into(),
                    path(&qemu_json),
                ]],
                inputs(&[COMMON, FIRMWARE], &[Tool::Rustc, Tool::Qemu]),
            )
        },
        // The same suite on Debian 12's QEMU 7.2 (`cargo xtask setup`
        // unpacks it; skipped without it), reusing the images built above.
        Step {
            after: &["qemu"],
            ..step(
                "qemu-7.2",
                Job::Firmware,
                vec![argv(&["cargo", "xtask", "ci", "qemu-7.2"])],
                inputs(&[COMMON, FIRMWARE], &[Tool::Rustc]),
            )
        },
        Step {
            outputs: vec![reports.join("size.md"), reports.join("size.json")],
            // The stack peaks come from this run's `qemu.json`.
            after: &["test", "test-crash", "test-repro", "test-qemu", "qemu"],
            ..step(
                "size-check",
                Job::Firmware,
                vec![argv(&["cargo", "xtask", "size-check"])],
                inputs(&[COMMON, FIRMWARE], &[Tool::Rustc]),
            )
        },
        Step {
            libtest: true,
            ..step(
                "native",
                Job::Native,
                vec![argv(&["cargo", "xtask", "native"])],
                Inputs {
                    env: [STEP_ENV, &["CUDA_PATH", "CUDA_HOME", "NVCC_CCBIN"]].concat(),
                    ..inputs(
                        &[COMMON, &["native/**", "firmware/dsp/**"]],
                        &[Tool::Rustc, Tool::Nvcc],
                    )
                },
            )
        },
        Step {
            outputs: vec![dist.clone()],
            ..step(
                "release",
                Job::Firmware,
                vec![
                    argv(&["cargo", "xtask", "release", "--out", &path(&dist)]),
                    argv(&["cargo", "xtask", "release", "--verify", &path(&dist)]),
                ],
                inputs(
                    &[COMMON, FIRMWARE, &["LICENSE*", "README.md"]],
                    &[Tool::Rustc],
                ),
            )
        },
        step(
            "workflow-lint",
            Job::Lint,
            vec![argv(&["cargo", "xtask", "ci", "lint"])],
            inputs(
                &[COMMON, &[".github/**", "ci-docker/**", ".ci/**"]],
                &[Tool::Actionlint, Tool::Zizmor, Tool::Hadolint],
            ),
        ),
        step(
            "cross-check",
            Job::Lint,
            // One cargo call for both triples: the build-directory lock is
            // taken once, and one job queue lets either triple's crates use
            // the cores while the other's wait on a dependency.
            vec![argv(
                &[
                    &["cargo", "check", "-p", "xtask"][..],
                    &CROSS_TARGETS.map(|t| ["--target", t]).concat(),
                ]
                .concat(),
            )],
            inputs(&[COMMON], &[Tool::Rustc]),
        ),
    ];
    if nightly {
        steps.extend([
            step(
                "fuzz",
                Job::Fuzz,
                vec![argv(&["cargo", "xtask", "ci", "fuzz"])],
                inputs(&[COMMON, &["fuzz/**", "qemu/boards.toml"]], &[Tool::Rustc]),
            ),
            step(
                "reproducibility",
                Job::Reproducibility,
                vec![argv(&["cargo", "xtask", "release", "--reproducible"])],
                builds_head(),
            ),
            step(
                "audit",
                Job::Audit,
                vec![argv(&["cargo", "xtask", "ci", "audit"])],
                inputs(&[COMMON], &[]),
            ),
            Step {
                outputs: vec![reports.join("coverage")],
                ..step(
                    "coverage",
                    Job::Coverage,
                    vec![argv(&["cargo", "xtask", "qemu", "--coverage"])],
                    inputs(&[COMMON, FIRMWARE], &[Tool::Rustc, Tool::Qemu]),
                )
            },
        ]);
    }
    steps
}

/// xtask's test targets that run QEMU, build the defmt and coverage
/// helpers and run whole suites: the longest of the `test` step's targets,
/// so a step of their own runs them beside the rest (a job of its own on
/// GitHub).
pub const QEMU_TESTS: [&str; 2] = ["qemu", "qemu_sources"];

/// xtask's crash tests: they kill `ci`, `qemu`, `size-check` and
/// `release` at every fault point, one kill at a time. One long test on
/// about one core, so a step of its own runs it beside `test` rather than
/// after `test`'s other targets (`cargo test` runs test targets one after
/// another).
pub const CRASH_TESTS: &str = "fault_injection";

/// xtask's reproducibility test: `release --reproducible` builds `HEAD` in
/// two checkouts. One long test too; a step of its own, as it reads `HEAD`
/// rather than the working tree (see [`builds_head`]).
pub const REPRO_TESTS: &str = "release_repro";

/// The inputs of a step that runs `release --reproducible`: the commit
/// `HEAD` names, which it builds (in this checkout only when the working
/// tree is `HEAD`, else in two clones), and xtask, which drives it. An
/// uncommitted edit outside xtask leaves the step cached.
fn builds_head() -> Inputs {
    Inputs {
        head: true,
        ..inputs(&[COMMON], &[Tool::Rustc])
    }
}

/// xtask's test target that runs `cargo xtask ci` end to end on a scratch
/// copy of the workspace: its scenarios run one at a time and take minutes,
/// so it is a job of its own, which GitHub runs beside the other tests.
pub const CI_SCRATCH: &str = "ci_scratch";

/// The `test` step: what plain `cargo test` runs (the default members'
/// unit, integration and doc tests) but xtask's [`QEMU_TESTS`],
/// [`CRASH_TESTS`], [`REPRO_TESTS`] and [`CI_SCRATCH`] targets and the packages the
/// native step tests ([`native::TESTED_PACKAGES`]), as one `cargo test`
/// with the libraries, binaries and test targets named, then the doc tests.
///
/// Both select the same packages, whose dependencies' features unify as
/// `cargo xtask`'s do: cargo unifies features over the selected packages,
/// and another selection builds serde, syn, toml and what depends on them
/// a second time with other features.
fn test_commands(ws: &Workspace) -> Vec<Vec<String>> {
    let members: Vec<_> = ws
        .metadata
        .workspace_default_packages()
        .into_iter()
        .filter(|p| !native::TESTED_PACKAGES.contains(&p.name.as_str()))
        .collect();
    let mut select = argv(&["cargo", "test"]);
    for p in &members {
        select.extend(["-p".to_string(), p.name.to_string()]);
    }
    let mut tests = select.clone();
    tests.extend(argv(&["--lib", "--bins"]));
    // xtask's test targets that steps of their own run.
    let own_step = [&QEMU_TESTS[..], &[CRASH_TESTS, REPRO_TESTS, CI_SCRATCH]].concat();
    let mut names: Vec<&str> = members
        .iter()
        .flat_map(|p| p.targets.iter().map(move |t| (p, t)))
        .filter(|(p, t)| {
            let own = p.name.as_str() == "xtask" && own_step.contains(&t.name.as_str());
            t.is_test() && !own
        })
        .map(|(_, t)| t.name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        tests.extend(["--test".to_string(), name.to_string()]);
    }
    let mut doc = select;
    doc.push("--doc".to_string());
    vec![tests, doc]
}

/// `cargo test -p xtask --test <each of targets>`.
fn xtask_tests(targets: &[&str]) -> Vec<String> {
    let mut argv = argv(&["cargo", "test", "-p", "xtask"]);
    for t in targets {
        argv.extend(["--test".to_string(), t.to_string()]);
    }
    argv
}

/// Host triples `cross-check` type-checks xtask for, so that `cargo xtask`
/// keeps building on Windows and macOS.
pub const CROSS_TARGETS: [&str; 2] = ["x86_64-pc-windows-msvc", "aarch64-apple-darwin"];
