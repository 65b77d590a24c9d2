//! What a suite report records about where it ran: the QEMU version per
//! binary, `rustc -V`, the commit (with `-dirty`), host, jobs and profile.

use xshell::cmd;

use super::super::report::Environment;
use crate::boards::Board;
use crate::boards::qemu_version::Installed;
use crate::cargo::Profile;
use crate::cmd::{first_line, shell};
use crate::git;
use crate::workspace::Workspace;

/// Gathers the environment; a tool that cannot run is recorded as such.
/// The QEMU versions are the ones the run read before it started.
pub fn capture(
    ws: &Workspace,
    qemu: &Installed,
    boards: &[&Board],
    jobs: usize,
    profile: Profile,
) -> Environment {
    let qemu = qemu.by_name(boards);
    let toolchain = shell(&ws.root)
        .ok()
        .and_then(|sh| first_line(cmd!(sh, "rustc -V")))
        .unwrap_or_else(|| "unknown".into());
    let commit = git::head(&ws.root).unwrap_or_else(|_| "unknown".into());
    let dirty = git::tracked_changes(&ws.root).unwrap_or(false);
    Environment {
        qemu,
        toolchain,
        commit: if dirty {
            format!("{commit}-dirty")
        } else {
            commit
        },
        host: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        jobs,
        profile: Some(profile),
    }
}
