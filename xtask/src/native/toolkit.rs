//! Where the CUDA toolkit is: nvcc on `PATH`, under `$CUDA_HOME` or
//! `$CUDA_PATH`, or the CUDA 13.0 wheels that `cargo xtask setup --cuda`
//! installs from PyPI into a virtual environment under `.cache/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace::Workspace;

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

/// The virtual environment `setup --cuda` creates.
pub fn venv_dir(ws: &Workspace) -> PathBuf {
    ws.cache_dir().join("cuda-venv")
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
    site_packages(&venv_dir(ws))
        .map(|sp| sp.join("nvidia").join("cu13"))
        .filter(|p| p.is_dir())
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
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

/// What `find_nvcc` searched, for "not found" messages.
pub fn search_description(ws: &Workspace) -> String {
    format!(
        "nvcc not found on PATH, in $CUDA_HOME/bin, $CUDA_PATH/bin or {}; \
         run `cargo xtask setup --cuda`",
        venv_dir(ws)
            .strip_prefix(&ws.root)
            .unwrap_or(&venv_dir(ws))
            .display()
    )
}

/// `nvcc --version`'s last line, e.g. `Build cuda_13.0.r13.0/compiler.36424714_0`.
pub fn nvcc_version(nvcc: &Path) -> Result<String> {
    let out = Command::new(nvcc)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", nvcc.display()))?;
    if !out.status.success() {
        bail!(
            "`{} --version` failed: {}",
            nvcc.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_string())
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

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// `setup --cuda`: creates `.cache/cuda-venv` and installs [`CUDA_WHEELS`]
/// into it; skips what is already there.
///
/// Errors: no Python 3 with the `venv` module, pip fails (no network to
/// PyPI), or nvcc is missing or does not run afterwards.
pub fn setup(ws: &Workspace) -> Result<()> {
    let venv = venv_dir(ws);
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
    let python = venv_python(&venv);
    if !python.is_file() {
        let host = ["python3", "python"]
            .into_iter()
            .find_map(|p| which::which(p).ok())
            .context("Python 3 is needed to install the CUDA toolkit from PyPI; install python3 and python3-venv")?;
        run(
            Command::new(&host).args(["-m", "venv"]).arg(&venv),
            "creating the virtual environment (on Debian/Ubuntu install python3-venv)",
        )?;
    }
    let specs: Vec<String> = CUDA_WHEELS
        .iter()
        .map(|(n, v)| format!("{n}=={v}"))
        .collect();
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
            ])
            .args(&specs),
        "installing the CUDA wheels from PyPI",
    )?;
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

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let shown = format!("{cmd:?}");
    println!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("{what}: cannot run {shown}"))?;
    if !status.success() {
        bail!("{what}: {shown} failed with {status}");
    }
    Ok(())
}
