//! Keeping the checkout path out of firmware images. Debug info (`DW_AT_comp_dir`,
//! file names) and panic locations of files under `OUT_DIR` carry absolute
//! paths; rustc's `--remap-path-prefix` rewrites them, so images built from
//! any checkout path are byte-identical.

use crate::workspace::Workspace;

/// A `cargo --config` value that appends `--remap-path-prefix` flags to
/// `target.<triple>.rustflags` (cargo joins config arrays, so the
/// `-Tlink.x` from `.cargo/config.toml` stays): the workspace root becomes
/// `.`, and a target directory outside it becomes `target`. Later flags win
/// in rustc, so the more specific target directory comes last.
pub fn remap_path_config(ws: &Workspace, triple: &str) -> String {
    let mut flags = vec![format!("--remap-path-prefix={}=.", ws.root.display())];
    if !ws.target_dir.starts_with(&ws.root) {
        flags.push(format!(
            "--remap-path-prefix={}=target",
            ws.target_dir.display()
        ));
    }
    let list = toml::Value::Array(flags.into_iter().map(toml::Value::String).collect());
    format!("target.{triple}.rustflags={list}")
}

/// Whether `haystack` contains `path` (as UTF-8 bytes): the check Hubris
/// runs on its archives.
pub fn contains_path(haystack: &[u8], path: &std::path::Path) -> bool {
    let needle = path.as_os_str().as_encoded_bytes();
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
