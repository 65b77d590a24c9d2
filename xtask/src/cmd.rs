//! One-shot commands through xshell: probes, tool versions, captured
//! output, and commands that run with inherited stdio. Only the QEMU spawn
//! (`qemu::process`) and the ci step runner keep `std::process`, because
//! they stream, group or signal their children.

use std::ffi::OsString;
use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::{Cmd, Shell};

/// A shell whose commands run in `dir`.
///
/// Errors: the current directory cannot be read (xshell starts from it).
pub fn shell(dir: &Path) -> Result<Shell> {
    let sh = Shell::new().context("cannot start a shell for subcommands")?;
    sh.change_dir(dir);
    Ok(sh)
}

/// `argv` as one POSIX shell command line, each word quoted where needed
/// (shlex), so that pasting it runs exactly `argv` (a test named
/// `a;touch${IFS}x` stays one word).
pub fn shell_words(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str))
        .unwrap_or_else(|_| format!("{argv:?} (holds a NUL byte, so no shell can run it)"))
}

/// The cargo that runs xtask (`$CARGO`, set by `cargo xtask`), else `cargo`
/// on `PATH`.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO")
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "cargo".into())
}

/// Runs `cmd` quietly and returns its stdout, trimmed and lossily decoded.
///
/// Errors: it cannot start, or exits non-zero (its stderr is included).
pub fn capture(cmd: Cmd<'_>) -> Result<String> {
    let shown = cmd.to_string();
    let out = cmd
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("cannot run `{shown}`"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The first line of `cmd`'s stdout, or `None` when it cannot run or fails.
pub fn first_line(cmd: Cmd<'_>) -> Option<String> {
    let out = capture(cmd).ok()?;
    Some(out.lines().next().unwrap_or("").trim().to_owned())
}

/// Everything `program --version`-like prints, prefixed with the program,
/// or why it could not run: so that an install or a removal shows up.
pub fn describe(cmd: Cmd<'_>) -> String {
    let shown = cmd.to_string();
    match cmd.quiet().ignore_status().output() {
        Ok(out) => format!(
            "{shown}: {}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("{shown}: {e}"),
    }
}

/// Prints `$ <cmd>` to stdout, then runs it with inherited stdio.
///
/// Errors: it cannot start or exits non-zero.
pub fn run(cmd: Cmd<'_>) -> Result<()> {
    println!("$ {cmd}");
    let shown = cmd.to_string();
    cmd.quiet()
        .run()
        .with_context(|| format!("`{shown}` failed"))
}
