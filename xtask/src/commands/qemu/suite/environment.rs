//! What a suite report records about where it ran: the QEMU version per
//! binary, `rustc -V`, the commit (with `-dirty`), host, jobs and profile.

use std::collections::BTreeMap;

use xshell::cmd;

use super::super::report::Environment;
use crate::boards::Board;
use crate::cargo::Profile;
use crate::cmd::{first_line, shell};
use crate::git;
use crate::workspace::Workspace;

/// Gathers the environment; a tool that cannot run is recorded as such.
pub fn capture(ws: &Workspace, boards: &[&Board], jobs: usize, profile: Profile) -> Environment {
    let qemu: BTreeMap<String, String> = match shell(&ws.root) {
        Ok(sh) => boards
            .iter()
            .map(|b| {
                let qemu = &b.qemu;
                let v = first_line(cmd!(sh, "{qemu} --version"))
                    .unwrap_or_else(|| "not installed".into());
                (b.qemu.clone(), v)
            })
            .collect(),
        Err(_) => BTreeMap::new(),
    };
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
