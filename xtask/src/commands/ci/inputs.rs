//! What cargo and rustup read besides the workspace's files, and so what
//! every step's cache key covers (cargo's "Configuration" and "Environment
//! Variables" chapters; rustup's "Overrides"):
//!
//! - every environment variable named `CARGO_*` or `RUST*` (`RUSTFLAGS`,
//!   `RUSTC_WRAPPER`, `RUSTUP_TOOLCHAIN`, `CARGO_PROFILE_*`, …), except
//!   [`IGNORED_ENV`];
//! - the configuration files cargo loads for a command run in the workspace
//!   root: `.cargo/config.toml` and `.cargo/config` in the root and in
//!   every directory above it up to `/`, then `$CARGO_HOME/config.toml` and
//!   `$CARGO_HOME/config` (`$CARGO_HOME` defaults to `$HOME/.cargo`);
//! - the toolchain files rustup looks for in the same directories,
//!   `rust-toolchain.toml` and `rust-toolchain`, and its
//!   `$RUSTUP_HOME/settings.toml` (defaults, overrides).
//!
//! A file that is absent is an input too, so creating one changes the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Variables with a matching name that cannot change what a step produces:
/// `CARGO_MAKEFLAGS` names the jobserver's pipe or FIFO, which only bounds
/// how many jobs run at once, and differs between invocations.
pub const IGNORED_ENV: &[&str] = &["CARGO_MAKEFLAGS"];

/// One input that every step's key includes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// An environment variable and its value (lossily decoded).
    Env(String, String),
    /// A file cargo or rustup would read, whether or not it exists.
    File(PathBuf),
}

/// Whether a variable named `name` is an input.
pub fn is_input_env(name: &str) -> bool {
    (name.starts_with("CARGO_") || name.starts_with("RUST")) && !IGNORED_ENV.contains(&name)
}

/// Every input for commands run in `root` with environment `env`, sorted:
/// the variables of [`is_input_env`], then the files of the module docs.
pub fn sources(root: &Path, env: &BTreeMap<String, String>) -> Vec<Source> {
    let mut out: Vec<Source> = env
        .iter()
        .filter(|(k, _)| is_input_env(k))
        .map(|(k, v)| Source::Env(k.clone(), v.clone()))
        .collect();
    for dir in root.ancestors() {
        for name in [".cargo/config.toml", ".cargo/config"] {
            out.push(Source::File(dir.join(name)));
        }
        for name in ["rust-toolchain.toml", "rust-toolchain"] {
            out.push(Source::File(dir.join(name)));
        }
    }
    let home = env
        .get("HOME")
        .or_else(|| env.get("USERPROFILE"))
        .map(PathBuf::from);
    let under_home = |var: &str, default: &str| {
        env.get(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    if let Some(cargo_home) = under_home("CARGO_HOME", ".cargo") {
        out.push(Source::File(cargo_home.join("config.toml")));
        out.push(Source::File(cargo_home.join("config")));
    }
    if let Some(rustup_home) = under_home("RUSTUP_HOME", ".rustup") {
        out.push(Source::File(rustup_home.join("settings.toml")));
    }
    out
}

/// This process's environment, lossily decoded.
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect()
}
