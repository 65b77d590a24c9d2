//! Invariants of the firmware sources, checked as tests: `unsafe_code`,
//! which the workspace denies, is allowed only module-wide, with a reason,
//! in the modules that exist for it; and no module is compiled from
//! another crate's file through `#[path]`.

use std::path::{Path, PathBuf};

/// Where `#![allow(unsafe_code)]` may stand, relative to `firmware/`: the
/// kernel's arch boundary, the board crates, and the fixture that faults on
/// purpose.
fn may_allow_unsafe(path: &Path) -> bool {
    let p = path.to_string_lossy().replace('\\', "/");
    p.starts_with("kernel/src/arch/")
        || (p.starts_with("board-") && !p.starts_with("board-map/"))
        || p == "fixtures/src/bin/fault.rs"
        // defmt's `Logger` trait is unsafe to implement.
        || p == "fixtures/src/bin/defmt_uart.rs"
}

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, relative to `root`.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
            rust_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

fn sources() -> Vec<(PathBuf, String)> {
    let root = firmware_dir();
    let mut files = Vec::new();
    rust_files(&root, &root, &mut files);
    assert!(
        files.len() > 20,
        "found only {files:?} under {}",
        root.display()
    );
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(root.join(&f)).unwrap();
            (f, text)
        })
        .collect()
}

#[test]
fn unsafe_code_is_allowed_only_module_wide_with_a_reason_where_listed() {
    let mut wrong = Vec::new();
    for (file, text) in sources() {
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (n, line) in lines.iter().enumerate() {
            let attribute = line.starts_with("#[") || line.starts_with("#![");
            if !attribute || !line.contains("unsafe_code") {
                continue;
            }
            let module_wide = line.starts_with("#![allow(unsafe_code)] // reason: ");
            // An item a board crate's macro expands to (a vector table)
            // cannot carry a module-wide attribute; its reason goes above.
            let item_with_reason = *line == "#[allow(unsafe_code)]"
                && n > 0
                && lines[n - 1].starts_with("// reason: ");
            if !(module_wide || item_with_reason) || !may_allow_unsafe(&file) {
                wrong.push(format!("{}:{}: {line}", file.display(), n + 1));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "allow `unsafe_code` only as `#![allow(unsafe_code)] // reason: …` (or, on an item a \
         board macro expands to, `#[allow(unsafe_code)]` under a `// reason: …` line) in the \
         kernel's arch modules, the board crates, or the faulting and defmt fixtures:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_module_is_included_by_path() {
    let found: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| text.lines().any(|l| l.trim_start().starts_with("#[path")))
        .map(|(f, _)| f.display().to_string())
        .collect();
    assert!(
        found.is_empty(),
        "#[path] in {found:?}: make it a crate or a module"
    );
}
