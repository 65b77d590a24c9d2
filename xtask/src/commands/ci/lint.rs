//! `cargo xtask ci lint`: the repository's own workflow policy, then
//! actionlint, `zizmor --offline` and hadolint when `setup --lint` has
//! installed them. `cargo xtask ci audit`: the nightly dependency audit.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::cmd;

use crate::cmd::{cargo, shell};
use crate::toolkits;
use crate::workspace::Workspace;

/// Runs every check and reports all problems before failing.
///
/// Errors: a policy violation or a linter finding, listed by file and line.
pub fn lint(ws: &Workspace) -> Result<()> {
    let workflows = files_in(&ws.root.join(".github").join("workflows"), &["yml", "yaml"])?;
    let dockerfiles: Vec<PathBuf> = files_in(&ws.root.join("ci-docker"), &[])?
        .into_iter()
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("Dockerfile") && !n.ends_with(".dockerignore")
            })
        })
        .collect();
    let mut failed = Vec::new();
    let mut problems = Vec::new();
    for wf in &workflows {
        let text =
            std::fs::read_to_string(wf).with_context(|| format!("cannot read {}", wf.display()))?;
        let rel = wf
            .strip_prefix(&ws.root)
            .unwrap_or(wf)
            .display()
            .to_string();
        problems.extend(policy(&text).into_iter().map(|p| format!("{rel}:{p}")));
    }
    if problems.is_empty() {
        println!("workflow policy: {} workflow(s) ok", workflows.len());
    } else {
        for p in &problems {
            println!("{p}");
        }
        failed.push("workflow policy");
    }
    let relative = |paths: &[PathBuf]| -> Vec<String> {
        paths
            .iter()
            .map(|p| {
                p.strip_prefix(&ws.root)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    let workflow_args = relative(&workflows);
    let docker_args = relative(&dockerfiles);
    let linters: [(&str, Vec<String>); 3] = [
        ("actionlint", workflow_args.clone()),
        (
            "zizmor",
            [vec!["--offline".to_string()], workflow_args].concat(),
        ),
        ("hadolint", docker_args),
    ];
    let sh = shell(&ws.root)?;
    for (name, args) in linters {
        let Some(exe) = toolkits::find_linter(ws, name) else {
            println!("{name}: skipped: not installed (cargo xtask setup --lint)");
            continue;
        };
        println!("$ {name} {}", args.join(" "));
        match cmd!(sh, "{exe} {args...}").quiet().run() {
            Ok(()) => println!("{name}: ok"),
            Err(e) => {
                println!("{name}: failed: {e}");
                failed.push(name);
            }
        }
    }
    if !failed.is_empty() {
        bail!("lint failed: {}", failed.join(", "));
    }
    Ok(())
}

fn files_in(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(files);
    };
    for e in entries {
        let p = e?.path();
        let ext_ok = extensions.is_empty()
            || p.extension()
                .is_some_and(|x| extensions.iter().any(|e| x == *e));
        if p.is_file() && ext_ok {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// The workflow rules, line by line (`line: problem`): every `run:` is one
/// `cargo xtask …` command; every `uses:` is pinned to a 40-hex commit with
/// the version in a comment; top-level `permissions` is `contents: read`;
/// every checkout sets `persist-credentials: false`.
pub fn policy(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let top_permissions = lines.iter().position(|l| l.starts_with("permissions:"));
    match top_permissions {
        None => problems.push("1: no top-level `permissions:`".to_string()),
        Some(i) => {
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.starts_with(' ') || l.trim().is_empty())
                .map(|l| l.trim())
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect();
            if block != ["contents: read"] {
                problems.push(format!(
                    "{}: top-level permissions must be exactly `contents: read`",
                    i + 1
                ));
            }
        }
    }
    for (n, cmd) in run_steps(text) {
        if !is_xtask_call(cmd) {
            problems.push(format!(
                "{n}: `run: {cmd}` is not a single `cargo xtask …` command"
            ));
        }
    }
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        let item = line.trim_start().trim_start_matches("- ").trim_start();
        if let Some(rest) = item.strip_prefix("uses:") {
            let (target, comment) = match rest.split_once('#') {
                Some((t, c)) => (t.trim(), c.trim()),
                None => (rest.trim(), ""),
            };
            let pinned = target
                .split_once('@')
                .is_some_and(|(_, r)| r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit()));
            if !pinned || !comment.starts_with('v') {
                problems.push(format!(
                    "{n}: `uses: {target}` must be pinned to a commit SHA with `# vX.Y.Z`"
                ));
            }
            if target.starts_with("actions/checkout@") {
                let indent = line.len() - line.trim_start().len();
                let step: Vec<&str> = lines[i + 1..]
                    .iter()
                    .take_while(|l| {
                        let ind = l.len() - l.trim_start().len();
                        l.trim().is_empty() || (ind > indent && !l.trim_start().starts_with("- "))
                    })
                    .copied()
                    .collect();
                if !step
                    .iter()
                    .any(|l| l.trim() == "persist-credentials: false")
                {
                    problems.push(format!(
                        "{n}: checkout without `persist-credentials: false`"
                    ));
                }
            }
        }
    }
    problems
}

/// Every `run:` of a workflow: its line number and its command.
pub fn run_steps(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let item = line.trim_start().trim_start_matches("- ").trim_start();
            item.strip_prefix("run:").map(|cmd| (i + 1, cmd.trim()))
        })
        .collect()
}

/// Whether `cmd` is one `cargo xtask …` command: no block scalar, no shell
/// operators, no command substitution.
pub fn is_xtask_call(cmd: &str) -> bool {
    !cmd.starts_with('|')
        && !cmd.starts_with('>')
        && cmd.starts_with("cargo xtask ")
        && !cmd.contains(['&', ';', '|', '`', '\n'])
        && !cmd.contains("$(")
}

/// `cargo xtask ci audit`: every locked package comes from crates.io or the
/// workspace (no git or other registries), then `cargo audit` against the
/// RustSec advisory database when it is installed.
///
/// Errors: a package from another source, or advisories found.
pub fn audit(ws: &Workspace) -> Result<()> {
    let lock_path = ws.root.join("Cargo.lock");
    let text = std::fs::read_to_string(&lock_path)
        .with_context(|| format!("cannot read {}", lock_path.display()))?;
    let lock: toml::Table =
        toml::from_str(&text).with_context(|| format!("invalid {}", lock_path.display()))?;
    let packages = lock
        .get("package")
        .and_then(|p| p.as_array())
        .context("Cargo.lock has no [[package]]")?;
    let mut foreign = Vec::new();
    for p in packages {
        let name = p.get("name").and_then(|v| v.as_str()).unwrap_or("?");
        if let Some(source) = p.get("source").and_then(|v| v.as_str())
            && source != "registry+https://github.com/rust-lang/crates.io-index"
        {
            foreign.push(format!("{name} from {source}"));
        }
    }
    if !foreign.is_empty() {
        bail!(
            "Cargo.lock has packages from outside crates.io:\n  {}",
            foreign.join("\n  ")
        );
    }
    println!(
        "lockfile: {} packages, all from crates.io or the workspace",
        packages.len()
    );
    if which::which("cargo-audit").is_err() {
        println!("cargo audit: skipped: not installed (cargo install cargo-audit --locked)");
        return Ok(());
    }
    let sh = shell(&ws.root)?;
    let cargo = cargo();
    cmd!(sh, "{cargo} audit --deny warnings")
        .quiet()
        .run()
        .context("cargo audit failed")
}

#[cfg(test)]
mod tests {
    use super::policy;

    const GOOD: &str = "\
name: ci
on: push
permissions:
  contents: read
jobs:
  a:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803 # v6.1.0
        with:
          persist-credentials: false
      - run: cargo xtask ci --job lint
";

    #[test]
    fn good_workflow_passes() {
        assert_eq!(policy(GOOD), Vec::<String>::new());
    }

    #[test]
    fn each_rule_is_enforced() {
        let shell = GOOD.replace("cargo xtask ci --job lint", "curl x | sh");
        assert!(policy(&shell)[0].contains("not a single `cargo xtask"));
        let chained = GOOD.replace("--job lint", "--job lint && rm -rf /");
        assert_eq!(policy(&chained).len(), 1);
        let tag = GOOD.replace("d23441a48e516b6c34aea4fa41551a30e30af803 # v6.1.0", "v6");
        assert!(policy(&tag)[0].contains("pinned"));
        let creds = GOOD.replace("persist-credentials: false", "fetch-depth: 1");
        assert!(policy(&creds)[0].contains("persist-credentials"));
        let perms = GOOD.replace("contents: read", "contents: write");
        assert!(policy(&perms)[0].contains("contents: read"));
    }
}
