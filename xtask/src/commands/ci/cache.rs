//! The step cache: a SHA-256 key over everything a step declares as input
//! (the files its globs match, tool versions, environment variables and its
//! command lines) and over what cargo and rustup read for every step (see
//! [`super::inputs`]), and the stored record of its last successful run.
//!
//! Only successful runs are stored. A hit also needs the step's outputs to
//! be exactly as that run left them. Cargo's own fingerprints stay in charge
//! of compilation; this cache only skips whole steps.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::inputs::{self, Source};
use super::plan::{Step, Tool};
use crate::boards::Boards;
use crate::cmd::{describe, shell};
use crate::toolkits;
use crate::workspace::{Workspace, write_atomic};

/// A stored successful run of one step.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Entry {
    pub key: String,
    /// Wall time of the run that was stored, in seconds.
    pub duration_s: f64,
    /// SHA-256 of every output file, by path.
    pub outputs: BTreeMap<String, String>,
    /// Test cases parsed from the run's output.
    #[serde(default)]
    pub tests: Vec<super::exec::TestRecord>,
}

/// Hashes inputs for one ci run; file digests and tool versions are computed
/// once and shared by every step.
pub struct Hasher<'a> {
    ws: &'a Workspace,
    files: Vec<String>,
    digests: HashMap<String, String>,
    tools: HashMap<Tool, String>,
    /// `HEAD`'s commit, read when a step first needs it.
    head: Option<String>,
    /// The inputs of every step: environment variables and cargo and
    /// rustup files, as `(tag, value)` fields.
    common: Vec<(&'static str, String)>,
}

impl<'a> Hasher<'a> {
    /// Lists the workspace's files: what git tracks plus untracked files it
    /// does not ignore, or, outside a git checkout, every file except the
    /// target directory, `.git` and `.cache`.
    ///
    /// Errors: the workspace cannot be listed, or a cargo configuration
    /// file exists but cannot be read.
    pub fn new(ws: &'a Workspace) -> Result<Self> {
        let files = list_files(ws)?;
        Ok(Self {
            ws,
            files,
            digests: HashMap::new(),
            tools: HashMap::new(),
            head: None,
            common: common_fields(&ws.root, &inputs::process_env())?,
        })
    }

    /// The step's cache key: lowercase hex SHA-256.
    ///
    /// Errors: a glob is malformed or a matched file cannot be read.
    pub fn key(&mut self, step: &Step) -> Result<String> {
        let include = globset(&step.inputs.include)?;
        let exclude = globset(&step.inputs.exclude)?;
        let mut h = Sha256::new();
        let field = |h: &mut Sha256, tag: &str, value: &str| {
            h.update(tag.as_bytes());
            h.update([0]);
            h.update((value.len() as u64).to_le_bytes());
            h.update(value.as_bytes());
        };
        field(&mut h, "step", step.name);
        for argv in &step.commands {
            field(&mut h, "command", &argv.join("\u{1f}"));
        }
        for (tag, value) in &self.common {
            field(&mut h, tag, value);
        }
        for var in &step.inputs.env {
            let value = std::env::var(var).unwrap_or_default();
            field(&mut h, "env", &format!("{var}={value}"));
        }
        for &tool in &step.inputs.tools {
            let version = self.tool_version(tool);
            field(&mut h, "tool", &version);
        }
        if step.inputs.head {
            let head = self.head.get_or_insert_with(|| head_commit(&self.ws.root));
            field(&mut h, "head", head);
        }
        let matched: Vec<String> = self
            .files
            .iter()
            .filter(|f| include.is_match(f.as_str()) && !exclude.is_match(f.as_str()))
            .cloned()
            .collect();
        for file in matched {
            let digest = self.digest(&file)?;
            field(&mut h, "file", &format!("{file}:{digest}"));
        }
        Ok(hex(&h.finalize()))
    }

    fn digest(&mut self, rel: &str) -> Result<String> {
        if let Some(d) = self.digests.get(rel) {
            return Ok(d.clone());
        }
        let path = self.ws.root.join(rel);
        // A listed file that is gone (deleted but not yet staged) hashes as
        // absent rather than failing the run.
        let d = match std::fs::read(&path) {
            Ok(bytes) => hex(&Sha256::digest(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "absent".into(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        self.digests.insert(rel.to_string(), d.clone());
        Ok(d)
    }

    fn tool_version(&mut self, tool: Tool) -> String {
        if let Some(v) = self.tools.get(&tool) {
            return v.clone();
        }
        let version = tool_version(self.ws, tool);
        self.tools.insert(tool, version.clone());
        version
    }
}

/// `HEAD`'s full commit hash in `root`, or a marker saying why there is
/// none: the step then fails on its own (`release --reproducible` needs a
/// commit), and a failure is never stored.
fn head_commit(root: &Path) -> String {
    crate::git::head(root).unwrap_or_else(|e| format!("no HEAD: {e:#}"))
}

/// The `(tag, value)` fields of [`inputs::sources`] for commands run in
/// `root` under `env`: `env` with `NAME=value`, `file` with the path and the
/// file's SHA-256 or `absent`.
///
/// Errors: a file exists but cannot be read.
fn common_fields(
    root: &Path,
    env: &BTreeMap<String, String>,
) -> Result<Vec<(&'static str, String)>> {
    inputs::sources(root, env)
        .into_iter()
        .map(|source| match source {
            Source::Env(k, v) => Ok(("env", format!("{k}={v}"))),
            Source::File(path) => {
                let digest = match std::fs::read(&path) {
                    Ok(bytes) => hex(&Sha256::digest(&bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => "absent".into(),
                    // A directory where a file would be: cargo fails on it too.
                    Err(_) if path.is_dir() => "directory".into(),
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot read {}", path.display()));
                    }
                };
                Ok(("file", format!("{}:{digest}", path.display())))
            }
        })
        .collect()
}

/// The tool's version output, or a marker saying why there is none, so an
/// install or removal changes the key.
fn tool_version(ws: &Workspace, tool: Tool) -> String {
    let Ok(sh) = shell(&ws.root) else {
        return "no shell".into();
    };
    let version = |program: &std::path::Path| describe(sh.cmd(program).arg("--version"));
    match tool {
        Tool::Rustc => describe(sh.cmd("rustc").arg("-vV")),
        Tool::Qemu => match Boards::load(ws) {
            Ok(b) => {
                let mut bins: Vec<&str> = b.all().iter().map(|b| b.qemu.as_str()).collect();
                bins.sort();
                bins.dedup();
                let versions: Vec<String> = bins
                    .iter()
                    .map(|q| version(std::path::Path::new(q)))
                    .collect();
                versions.join("\n")
            }
            Err(e) => format!("boards: {e}"),
        },
        Tool::Nvcc => toolkits::find_nvcc(ws)
            .map(|n| version(&n.path))
            .unwrap_or_else(|| "nvcc: absent".into()),
        Tool::Actionlint | Tool::Zizmor | Tool::Hadolint => {
            let name = tool.linter().unwrap_or_default();
            toolkits::find_linter(ws, name)
                .map(|p| version(&p))
                .unwrap_or_else(|| format!("{name}: absent"))
        }
    }
}

fn globset(globs: &[&str]) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(Glob::new(g).with_context(|| format!("invalid ci input glob `{g}`"))?);
    }
    Ok(b.build()?)
}

fn list_files(ws: &Workspace) -> Result<Vec<String>> {
    let mut files = match crate::git::files(&ws.root) {
        Some(files) => files,
        None => walk(ws)?,
    };
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(ws: &Workspace) -> Result<Vec<String>> {
    let skip = [
        ws.target_dir.clone(),
        ws.root.join(".git"),
        ws.cache_dir(),
        ws.root.join("target"),
    ];
    let mut files = Vec::new();
    let mut stack = vec![ws.root.clone()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if skip.contains(&path) {
                continue;
            }
            let ty = entry.file_type()?;
            if ty.is_dir() {
                stack.push(path);
            } else if ty.is_file()
                && let Ok(rel) = path.strip_prefix(&ws.root)
            {
                files.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(files)
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache for one workspace: `<target_dir>/xtask-cache/ci/<root hash>/`,
/// keyed by the workspace root so checkouts that share a target directory
/// never share results.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(ws: &Workspace) -> Self {
        let root = ws.root.to_string_lossy();
        let tag = &hex(&Sha256::digest(root.as_bytes()))[..16];
        Self {
            dir: ws.target_dir.join("xtask-cache").join("ci").join(tag),
        }
    }

    fn path(&self, step: &str) -> PathBuf {
        self.dir.join(format!("{step}.json"))
    }

    /// The stored entry for `step` when its key matches and its outputs are
    /// unchanged; `None` otherwise, including for an unreadable entry.
    pub fn lookup(&self, step: &Step, key: &str) -> Option<Entry> {
        let text = std::fs::read_to_string(self.path(step.name)).ok()?;
        let entry: Entry = serde_json::from_str(&text).ok()?;
        if entry.key != key {
            return None;
        }
        let now = output_digests(&step.outputs).ok()?;
        (now == entry.outputs).then_some(entry)
    }

    /// Stores a successful run.
    ///
    /// Errors: an output cannot be read or the entry cannot be written.
    pub fn store(
        &self,
        step: &Step,
        key: &str,
        duration_s: f64,
        tests: Vec<super::exec::TestRecord>,
    ) -> Result<()> {
        let entry = Entry {
            key: key.to_string(),
            duration_s,
            outputs: output_digests(&step.outputs)?,
            tests,
        };
        write_atomic(
            &self.path(step.name),
            serde_json::to_string_pretty(&entry)?.as_bytes(),
        )
    }

    /// Forgets `step`, so a failed run can never be mistaken for a pass.
    pub fn forget(&self, step: &str) {
        let _ = std::fs::remove_file(self.path(step));
    }
}

/// SHA-256 of every file under the given paths; a missing output is recorded
/// as missing, so a later run that finds it again does not match.
fn output_digests(outputs: &[PathBuf]) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for out in outputs {
        let mut stack = vec![out.clone()];
        while let Some(p) = stack.pop() {
            let key = p.to_string_lossy().into_owned();
            match std::fs::metadata(&p) {
                Ok(m) if m.is_dir() => {
                    for e in std::fs::read_dir(&p)? {
                        stack.push(e?.path());
                    }
                }
                Ok(_) => {
                    let bytes = std::fs::read(&p)
                        .with_context(|| format!("cannot read {}", p.display()))?;
                    map.insert(key, hex(&Sha256::digest(&bytes)));
                }
                Err(_) => {
                    map.insert(key, "missing".into());
                }
            }
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::ci::plan::{Inputs, Job};

    /// A step whose key holds nothing but its name and the common inputs.
    fn bare_step() -> Step {
        Step {
            name: "probe",
            job: Job::Lint,
            commands: vec![vec!["cargo".into(), "build".into()]],
            inputs: Inputs::default(),
            outputs: Vec::new(),
            junit: None,
            libtest: false,
            after: &[],
        }
    }

    /// A workspace root three directories below a scratch folder, a home
    /// folder beside it, and an environment pointing there.
    fn layout(tag: &str) -> (PathBuf, PathBuf, BTreeMap<String, String>) {
        let base = std::env::temp_dir().join(format!("xtask-cache-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("above/ws");
        std::fs::create_dir_all(&root).unwrap();
        let env = BTreeMap::from([
            ("HOME".to_string(), base.join("home").display().to_string()),
            ("RUSTFLAGS".to_string(), String::new()),
            (
                "CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS".to_string(),
                "false".to_string(),
            ),
            ("RUSTUP_TOOLCHAIN".to_string(), "1.95.0".to_string()),
            ("PATH".to_string(), "/usr/bin".to_string()),
        ]);
        (base, root, env)
    }

    /// Changes `source` on disk or in `env`.
    fn change(source: &Source, env: &mut BTreeMap<String, String>) {
        match source {
            Source::Env(k, v) => {
                env.insert(k.clone(), format!("{v}-changed"));
            }
            Source::File(path) => {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                let old = std::fs::read(path).unwrap_or_default();
                std::fs::write(path, [old.as_slice(), b"# changed\n"].concat()).unwrap();
            }
        }
    }

    #[test]
    fn changing_any_cargo_input_changes_the_key() {
        let ws = Workspace::load().unwrap();
        let (base, root, mut env) = layout("inputs");
        let mut hasher = Hasher::new(&ws).unwrap();
        let mut key = |env: &BTreeMap<String, String>| {
            hasher.common = common_fields(&root, env).unwrap();
            hasher.key(&bare_step()).unwrap()
        };
        let sources = inputs::sources(&root, &env);
        let has = |s: Source| assert!(sources.contains(&s), "{s:?} is not an input");
        has(Source::Env(
            "CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS".into(),
            "false".into(),
        ));
        has(Source::Env("RUSTFLAGS".into(), String::new()));
        has(Source::File(root.join("rust-toolchain.toml")));
        has(Source::File(root.join("rust-toolchain")));
        has(Source::File(base.join("above/.cargo/config.toml")));
        has(Source::File(base.join(".cargo/config")));
        has(Source::File(PathBuf::from("/.cargo/config.toml")));
        has(Source::File(base.join("home/.cargo/config.toml")));
        assert!(
            !sources
                .iter()
                .any(|s| matches!(s, Source::Env(k, _) if k == "PATH"))
        );

        let mut changed = 0;
        for source in &sources {
            // Files outside the scratch folder are the machine's; each kind
            // of source is still changed below the scratch folder.
            if matches!(source, Source::File(p) if !p.starts_with(&base)) {
                continue;
            }
            let before = key(&env);
            change(source, &mut env);
            assert_ne!(
                key(&env),
                before,
                "changing {source:?} left the key as it was"
            );
            changed += 1;
        }
        assert!(changed >= 14, "only {changed} inputs changed");
        // A variable that was not set before is an input once set.
        let before = key(&env);
        env.insert(
            "CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS".into(),
            "true".into(),
        );
        assert_ne!(key(&env), before);
        let before = key(&env);
        env.insert(
            "CARGO_HOME".into(),
            base.join("cargo-home").display().to_string(),
        );
        assert_ne!(key(&env), before, "CARGO_HOME moves the config file");
        // The jobserver handle is not an input.
        let before = key(&env);
        env.insert(
            "CARGO_MAKEFLAGS".into(),
            "-j --jobserver-auth=fifo:/tmp/x".into(),
        );
        assert_eq!(key(&env), before);
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// `git` in `dir`, which must succeed.
    fn git(dir: &Path, args: &[&str]) {
        let identity = [
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ];
        crate::git::git(dir, &[&identity[..], args].concat()).unwrap();
    }

    #[test]
    fn a_head_input_follows_commits_not_the_working_tree() {
        let ws = Workspace::load().unwrap();
        let (base, root, _) = layout("head");
        git(&root, &["init", "-q"]);
        std::fs::write(root.join("kernel.rs"), "fn main() {}\n").unwrap();
        git(&root, &["add", "kernel.rs"]);
        git(&root, &["commit", "-q", "-m", "first"]);
        let step = Step {
            inputs: Inputs {
                head: true,
                ..Inputs::default()
            },
            ..bare_step()
        };
        let key = || {
            let mut hasher = Hasher::new(&ws).unwrap();
            hasher.head = Some(head_commit(&root));
            hasher.key(&step).unwrap()
        };
        let committed = key();
        assert_ne!(
            committed,
            Hasher::new(&ws).unwrap().key(&bare_step()).unwrap()
        );
        std::fs::write(root.join("kernel.rs"), "fn main() {}\n// edit\n").unwrap();
        assert_eq!(key(), committed, "an uncommitted edit is not HEAD");
        git(&root, &["commit", "-q", "-am", "second"]);
        assert_ne!(key(), committed, "a new commit is");
        let bare = base.join("bare");
        std::fs::create_dir_all(&bare).unwrap();
        assert!(head_commit(&bare).starts_with("no HEAD"));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
