//! Invariants of the tree, checked as ordinary tests (rust-analyzer's tidy
//! style). Each check takes the root of a tree and returns its problems, so
//! the tests below run it on this checkout and, to prove that it can fail,
//! on a scratch copy broken on purpose.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use xtask::boards::Boards;
use xtask::cargo::{Executable, Project};
use xtask::commands::ci::lint;
use xtask::qemu::manifest::{Manifest, Source};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `fw-tests` binaries that `qemu/tests.toml` does not run, each with why.
const NOT_IN_MANIFEST: &[(&str, &str)] = &[];

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn assert_clean(what: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

/// The README's `## <title>` section (empty when there is none).
fn readme_section(root: &Path, title: &str) -> String {
    read(root, "README.md")
        .split("\n## ")
        .find(|s| s.starts_with(title))
        .unwrap_or("")
        .to_owned()
}

/// The subcommands in the README's "Commands" table against clap's.
fn readme_commands(root: &Path) -> Vec<String> {
    let section = readme_section(root, "Commands");
    let listed: BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `cargo xtask "))
        .filter_map(|rest| rest.split([' ', '`']).next())
        .map(str::to_owned)
        .collect();
    let cli = xtask::cli::Cli::command();
    let real: BTreeSet<String> = cli
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    let mut problems: Vec<String> = real
        .difference(&listed)
        .map(|c| format!("README.md: `cargo xtask {c}` is missing from the Commands table"))
        .collect();
    problems.extend(
        listed
            .difference(&real)
            .map(|c| format!("README.md: the Commands table lists `{c}`, which is no subcommand")),
    );
    problems
}

/// Every `fw-tests` binary has a `qemu/tests.toml` entry or a stated
/// exclusion, and every exclusion names a binary.
fn manifest_covers_the_test_images(root: &Path) -> Vec<String> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(root.join("Cargo.toml"))
        .no_deps()
        .exec()
        .expect("cargo metadata");
    let bins: BTreeSet<String> = metadata
        .workspace_packages()
        .iter()
        .filter(|p| p.name.as_str() == "fw-tests")
        .flat_map(|p| &p.targets)
        .filter(|t| t.is_bin())
        .map(|t| t.name.clone())
        .collect();
    let boards = Boards::from_file(&root.join("qemu/boards.toml")).expect("boards.toml");
    let manifest = Manifest::load(&root.join("qemu/tests.toml"), &boards).expect("qemu/tests.toml");
    let fw_tests = Project::Workspace("fw-tests".into());
    let run: BTreeSet<&str> = manifest
        .tests
        .iter()
        .filter_map(|t| match &t.source {
            Source::Build {
                recipe,
                executable: Executable::Bin(bin),
                ..
            } if recipe.project == fw_tests => Some(bin.as_str()),
            _ => None,
        })
        .collect();
    let excluded: BTreeSet<&str> = NOT_IN_MANIFEST.iter().map(|(b, _)| *b).collect();
    let mut problems: Vec<String> = bins
        .iter()
        .filter(|b| !run.contains(b.as_str()) && !excluded.contains(b.as_str()))
        .map(|b| format!("fw-tests binary `{b}` has no [[test]] in qemu/tests.toml"))
        .collect();
    problems.extend(
        excluded
            .iter()
            .filter(|b| !bins.contains(**b))
            .map(|b| format!("NOT_IN_MANIFEST lists `{b}`, which is no fw-tests binary")),
    );
    problems
}

/// The `.rs` files under `dir` (relative to `root`), sorted.
fn rust_files(root: &Path, dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && p.file_name().is_none_or(|n| n != "target") {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

#[test]
fn readme_lists_exactly_the_subcommands() {
    assert_clean("README command table", readme_commands(&root()));
}

#[test]
fn every_test_image_is_in_the_manifest() {
    assert_clean("qemu/tests.toml", manifest_covers_the_test_images(&root()));
}

#[test]
fn the_fuzz_target_takes_its_memory_maps_from_boards_toml() {
    let root = root();
    for file in rust_files(&root, "fuzz/fuzz_targets") {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = rel(&root, &file);
        assert!(
            text.contains("include_str!(\"../../qemu/boards.toml\")")
                && text.contains("Boards::parse"),
            "{name} does not read qemu/boards.toml"
        );
        for copy in ["MemoryMap {", "Span {", "origin:"] {
            assert!(
                !text.contains(copy),
                "{name} holds a memory map of its own ({copy})"
            );
        }
    }
    let manifest = read(&root, "fuzz/Cargo.toml");
    assert!(
        manifest.contains("xtask = { path = \"../xtask\" }"),
        "fuzz/Cargo.toml must fuzz the xtask library itself"
    );
}

#[test]
fn every_workflow_run_is_a_cargo_xtask_call() {
    let root = root();
    let dir = root.join(".github/workflows");
    let mut problems = Vec::new();
    let mut runs = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (line, cmd) in lint::run_steps(&text) {
            runs += 1;
            if !lint::is_xtask_call(cmd) {
                problems.push(format!("{}:{line}: `run: {cmd}`", rel(&root, &path)));
            }
        }
    }
    assert!(runs > 0, "no workflow has a run: step");
    assert_clean(
        "workflow steps that are not one `cargo xtask …` call",
        problems,
    );
}

/// The workflows' containers are the one the ci plan names for the jobs
/// that run QEMU, so that CI runs where the QEMU is known.
#[test]
fn workflow_containers_are_the_plan_s() {
    let root = root();
    let mut seen = 0;
    for entry in std::fs::read_dir(root.join(".github/workflows"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for (n, line) in text.lines().enumerate() {
            if let Some(image) = line.trim().strip_prefix("container:") {
                seen += 1;
                assert_eq!(
                    image.trim(),
                    xtask::commands::ci::plan::QEMU_CONTAINER,
                    "{}:{}",
                    rel(&root, &entry.path()),
                    n + 1
                );
            }
        }
    }
    assert!(
        seen >= 3,
        "ci.yml, nightly.yml and release.yml run QEMU in it"
    );
}

/// The crate names a manifest's `[dependencies]`-like tables declare.
fn declared(manifest: &toml::Table, table: &str) -> Vec<String> {
    let mut names: Vec<String> = manifest
        .get(table)
        .and_then(|t| t.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    for target in manifest
        .get("target")
        .and_then(|t| t.as_table())
        .into_iter()
        .flat_map(|t| t.values())
    {
        if let Some(t) = target.get(table).and_then(|t| t.as_table()) {
            names.extend(t.keys().cloned());
        }
    }
    names
}

/// Whether `source` names the crate `krate` as a path or macro root.
fn mentions(source: &str, krate: &str) -> bool {
    let id = krate.replace('-', "_");
    source.match_indices(&id).any(|(at, _)| {
        let before = source[..at].chars().next_back();
        let after = &source[at + id.len()..];
        before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            && (after.starts_with("::") || after.starts_with('!') || after.starts_with(';'))
    })
}

#[test]
fn no_dependency_is_unused() {
    let root = root();
    let mut problems = Vec::new();
    for (manifest, normal, dev) in [
        ("xtask/Cargo.toml", "xtask/src", "xtask/tests"),
        ("fuzz/Cargo.toml", "fuzz/fuzz_targets", "fuzz/fuzz_targets"),
    ] {
        let toml: toml::Table = read(&root, manifest).parse().unwrap();
        for (table, dir) in [("dependencies", normal), ("dev-dependencies", dev)] {
            let sources: String = rust_files(&root, dir)
                .iter()
                .map(|f| std::fs::read_to_string(f).unwrap())
                .collect();
            for krate in declared(&toml, table) {
                if !mentions(&sources, &krate) {
                    problems.push(format!(
                        "{manifest}: [{table}] `{krate}` is not used in {dir}/"
                    ));
                }
            }
        }
    }
    assert_clean("unused dependencies", problems);
}

#[test]
fn no_source_is_compiled_by_path() {
    let root = root();
    let mut problems = Vec::new();
    // The xtask package and the fuzz target; the helper crates under xtask/
    // (defmt-decode, trace-coverage) are packages of their own.
    for dir in ["xtask/src", "xtask/tests", "fuzz"] {
        for file in rust_files(&root, dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            if text.lines().any(|l| l.trim_start().starts_with("#[path")) {
                problems.push(rel(&root, &file));
            }
        }
    }
    assert_clean("#[path] attributes", problems);
}

/// Files of xtask/src that may start processes with `std::process` (QEMU
/// and the defmt decoders that stream its console, and the ci step
/// runner), and the one that may hold unsafe code.
const SPAWNERS: [&str; 4] = [
    "xtask/src/qemu/capture.rs",
    "xtask/src/qemu/defmt.rs",
    "xtask/src/qemu/process.rs",
    "xtask/src/commands/ci/exec.rs",
];
const UNSAFE: &str = "xtask/src/qemu/process.rs";

#[test]
fn processes_and_unsafe_code_stay_in_their_modules() {
    let root = root();
    let mut problems = Vec::new();
    for file in rust_files(&root, "xtask/src") {
        let name = rel(&root, &file);
        let text = std::fs::read_to_string(&file).unwrap();
        // cargo_metadata's `MetadataCommand` is the library the design names.
        let spawns = text
            .match_indices("Command::new(")
            .any(|(at, _)| !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
            || text.contains("process::Command");
        if spawns && !SPAWNERS.contains(&name.as_str()) {
            problems.push(format!("{name} starts a process without xshell"));
        }
        if text.contains("allow(unsafe_code)") && name != UNSAFE {
            problems.push(format!("{name} allows unsafe code"));
        }
        if text.contains("object::") {
            problems.push(format!(
                "{name} reads ELFs with object; the reader is crate::elf"
            ));
        }
    }
    assert_clean("process and unsafe boundaries", problems);
}

/// How many lines above a rename its fault point may stand.
const POINT_WINDOW: usize = 4;

/// Every call in xtask/src (outside `#[cfg(test)]` modules) that moves a
/// file or folder under a final name (`rename`, `renameat2`, `persist`)
/// has a `fault::point("<name>", …)` in the lines just above it, each
/// point of `xtask::fault::POINTS` stands at exactly one call site, and no
/// call site names a point that is not in the list. So a new rename cannot
/// escape the crash tests, which kill xtask at every point of the list.
fn renames_without_fault_points(root: &Path) -> Vec<String> {
    let call =
        regex::Regex::new(r"(^|[^A-Za-z0-9_])(renameat2|rename|persist|persist_noclobber)\(")
            .unwrap();
    let point = regex::Regex::new(r#"fault::point\(\s*"([^"]+)""#).unwrap();
    let mut problems = Vec::new();
    let mut sites: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in rust_files(root, "xtask/src") {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let lines: Vec<&str> = code.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let at = format!("{}:{}", rel(root, &file), i + 1);
            if let Some(p) = point.captures(line) {
                sites.entry(p[1].to_string()).or_default().push(at.clone());
            }
            let code_part = line.split("//").next().unwrap_or("");
            if !call.is_match(code_part) || code_part.trim_start().starts_with("fn ") {
                continue;
            }
            let above = &lines[i.saturating_sub(POINT_WINDOW)..i];
            if !above.iter().any(|l| point.is_match(l)) {
                problems.push(format!(
                    "{at}: `{}` without a fault point above it",
                    line.trim()
                ));
            }
        }
    }
    for name in xtask::fault::POINTS {
        match sites.get(*name).map(Vec::len) {
            Some(1) => {}
            None => problems.push(format!("fault point `{name}` stands nowhere in xtask/src")),
            Some(_) => problems.push(format!(
                "fault point `{name}` stands at several call sites: {:?}",
                sites[*name]
            )),
        }
    }
    for (name, at) in &sites {
        if !xtask::fault::POINTS.contains(&name.as_str()) {
            problems.push(format!(
                "{at:?}: fault point `{name}` is not in xtask::fault::POINTS"
            ));
        }
    }
    problems
}

#[test]
fn every_rename_has_a_fault_point() {
    assert_clean(
        "renames and fault points",
        renames_without_fault_points(&root()),
    );
}

/// The working tree's files (git's view) copied to a fresh scratch folder.
fn scratch_copy(name: &str) -> PathBuf {
    let src = root();
    let dst = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("tidy")
        .join(name);
    let _ = std::fs::remove_dir_all(&dst);
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&src)
        .output()
        .expect("git ls-files");
    assert!(out.status.success(), "git ls-files failed");
    for rel in out.stdout.split(|&b| b == 0).filter(|f| !f.is_empty()) {
        let rel = String::from_utf8_lossy(rel).into_owned();
        let from = src.join(&rel);
        if from.is_file() {
            let to = dst.join(&rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
        }
    }
    dst
}

#[test]
fn deleting_the_size_check_row_fails_the_readme_check() {
    let copy = scratch_copy("readme");
    let readme = copy.join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("| `cargo xtask size-check"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, text, "the README has a size-check row");
    std::fs::write(&readme, without).unwrap();
    let problems = readme_commands(&copy);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`cargo xtask size-check` is missing")),
        "{problems:?}"
    );
}

#[test]
fn an_image_missing_from_the_manifest_fails_the_manifest_check() {
    let copy = scratch_copy("manifest");
    std::fs::write(
        copy.join("firmware/tests/src/bin/unlisted.rs"),
        "#![no_std]\n#![no_main]\n",
    )
    .unwrap();
    let problems = manifest_covers_the_test_images(&copy);
    assert_eq!(
        problems,
        ["fw-tests binary `unlisted` has no [[test]] in qemu/tests.toml"],
    );
}

#[test]
fn a_rename_without_a_fault_point_is_found() {
    let copy = scratch_copy("renames");
    let file = copy.join("xtask/src/workspace.rs");
    let text = std::fs::read_to_string(&file).unwrap();
    let added = "\npub fn publish(a: &Path, b: &Path) -> std::io::Result<()> {\n    std::fs::rename(a, b)\n}\n";
    std::fs::write(&file, format!("{text}{added}")).unwrap();
    let problems = renames_without_fault_points(&copy);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("xtask/src/workspace.rs:")
            && problems[0].contains("`std::fs::rename(a, b)` without a fault point"),
        "{problems:?}"
    );
}

#[test]
fn an_unused_dependency_is_found() {
    let manifest: toml::Table = "[dependencies]\nused-crate = \"1\"\nunused = \"1\"\n\n[target.'cfg(unix)'.dependencies]\nnix = \"0.31\"\n"
        .parse()
        .unwrap();
    let source = "use used_crate::Thing;\nfn f() { nix::unistd::getpid(); }\n";
    let unused: Vec<String> = declared(&manifest, "dependencies")
        .into_iter()
        .filter(|k| !mentions(source, k))
        .collect();
    assert_eq!(unused, ["unused"]);
}

/// The manifest's verdict fields, which the README documents.
const VERDICT_FIELDS: [&str; 5] = ["console", "match", "fail_regex", "log_format", "[defaults]"];

/// Every option of `cargo xtask qemu` (clap's) and every verdict field
/// against the README's "QEMU harness" section.
fn readme_documents_the_qemu_harness(root: &Path) -> Vec<String> {
    let section = readme_section(root, "QEMU harness");
    let cli = xtask::cli::Cli::command();
    let qemu = cli.find_subcommand("qemu").expect("a `qemu` subcommand");
    let options = qemu.get_arguments().flat_map(|a| {
        a.get_long()
            .into_iter()
            .chain(a.get_visible_aliases().into_iter().flatten())
            .map(|long| format!("--{long}"))
    });
    let fields = VERDICT_FIELDS.iter().map(|f| format!("`{f}`"));
    options
        .chain(fields)
        .filter(|name| !section.contains(name.as_str()))
        .map(|name| format!("README.md: \"QEMU harness\" does not document {name}"))
        .collect()
}

#[test]
fn readme_documents_every_qemu_option_and_verdict_field() {
    assert_clean(
        "README QEMU harness",
        readme_documents_the_qemu_harness(&root()),
    );
}

#[test]
fn deleting_the_console_row_fails_the_qemu_harness_check() {
    let copy = scratch_copy("qemu-harness");
    let readme = copy.join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let without = text.replace("--console", "--c0nsole");
    assert_ne!(without, text, "the README documents --console");
    std::fs::write(&readme, without).unwrap();
    assert_eq!(
        readme_documents_the_qemu_harness(&copy),
        ["README.md: \"QEMU harness\" does not document --console"]
    );
}

/// The packages xtask's own build compiles: its normal and build
/// dependencies, transitively (not dev-dependencies, not the helper crates
/// it builds on demand).
fn xtask_build_packages(root: &Path) -> BTreeSet<String> {
    use cargo_metadata::DependencyKind;
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(root.join("Cargo.toml"))
        .exec()
        .expect("cargo metadata");
    let resolve = metadata.resolve.as_ref().expect("a resolved graph");
    let name = |id: &cargo_metadata::PackageId| metadata[id].name.to_string();
    let xtask = metadata
        .workspace_packages()
        .into_iter()
        .find(|p| p.name.as_str() == "xtask")
        .expect("the xtask package")
        .id
        .clone();
    let mut seen = BTreeSet::new();
    let mut todo = vec![xtask];
    while let Some(id) = todo.pop() {
        if !seen.insert(name(&id)) {
            continue;
        }
        let node = resolve.nodes.iter().find(|n| n.id == id).expect("a node");
        for dep in &node.deps {
            if dep
                .dep_kinds
                .iter()
                .any(|k| k.kind != DependencyKind::Development)
            {
                todo.push(dep.pkg.clone());
            }
        }
    }
    seen
}

#[test]
fn the_defmt_decoder_stays_out_of_xtasks_own_build() {
    let packages = xtask_build_packages(&root());
    assert!(packages.contains("regex"), "the walk finds dependencies");
    for heavy in ["defmt-decoder", "xtask-defmt", "gimli"] {
        assert!(
            !packages.contains(heavy),
            "`{heavy}` is in xtask's build; it belongs to the on-demand xtask-defmt"
        );
    }
}
