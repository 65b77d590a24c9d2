//! For build scripts: a board crate's writes the board's `memory.x` into
//! `OUT_DIR` ([`emit`]); `board-rt`'s puts the link script of the build's
//! architecture there as `link.x` ([`emit_link_script`]); both tell cargo
//! to search there, so that `-C link-arg=-Tlink.x` finds both. The `board`
//! facade's checks that the board selected by feature is built for its
//! target ([`check_selected`]). (The Cargo book, "Build Scripts":
//! `rustc-link-search`, `rerun-if-changed`, `CARGO_FEATURE_<name>`,
//! `CARGO_CFG_TARGET_ARCH`, `TARGET`.)
//!
//! ```no_run
//! // build.rs of the board crate for `[board.sifive_e]`
//! fn main() -> Result<(), board_map::Error> {
//!     board_map::build_script::emit("sifive_e")
//! }
//! ```

use std::path::{Path, PathBuf};

use crate::{Board, Boards, Error, ErrorKind};

/// The boards file, relative to the workspace root.
const BOARDS_FILE: &str = "qemu/boards.toml";

/// Generates `memory.x` for `board` in `OUT_DIR` from the workspace's
/// `qemu/boards.toml` (the first one found from the crate's directory
/// upwards), and prints the cargo directives for it.
///
/// Errors: `CARGO_MANIFEST_DIR` or `OUT_DIR` is unset (not run by cargo);
/// no `qemu/boards.toml` above the crate; the file is invalid or has no
/// `[board.<board>]` (see [`Boards::from_file`], [`Boards::get`]); the
/// output cannot be written.
pub fn emit(board: &str) -> Result<(), Error> {
    let manifest_dir = env_dir("CARGO_MANIFEST_DIR")?;
    let out_dir = env_dir("OUT_DIR")?;
    let boards_file = find_boards_file(&manifest_dir)?;
    println!("cargo::rerun-if-changed={}", boards_file.display());
    let boards = Boards::from_file(&boards_file)?;
    let memory = boards
        .get(board)
        .map_err(|e| e.in_file(&boards_file))?
        .memory
        .memory_x(board);
    write_atomic(&out_dir.join("memory.x"), memory.as_bytes())?;
    println!("cargo::rustc-link-search={}", out_dir.display());
    Ok(())
}

/// Copies the crate's `link/<arch>.x`, for the build's
/// `CARGO_CFG_TARGET_ARCH` (`arm`, `riscv32`), to `OUT_DIR/link.x` and
/// prints the cargo directives for it. A build for an architecture without
/// a script (the host) gets none.
///
/// Errors: `CARGO_MANIFEST_DIR`, `OUT_DIR` or `CARGO_CFG_TARGET_ARCH` is
/// unset; the script cannot be read or written.
pub fn emit_link_script() -> Result<(), Error> {
    let manifest_dir = env_dir("CARGO_MANIFEST_DIR")?;
    let out_dir = env_dir("OUT_DIR")?;
    let arch = env_var("CARGO_CFG_TARGET_ARCH")?;
    let script = manifest_dir.join("link").join(format!("{arch}.x"));
    println!("cargo::rerun-if-changed={}", script.display());
    if !script.is_file() {
        return Ok(());
    }
    let text = std::fs::read(&script).map_err(|e| build_file(&script, e))?;
    write_atomic(&out_dir.join("link.x"), &text)?;
    println!("cargo::rustc-link-search={}", out_dir.display());
    Ok(())
}

/// Checks the board whose cargo feature (named like the board's table) is
/// on: it must be built for its table's `target`. With no board feature
/// or several this passes, and the facade's `compile_error!`s say which.
///
/// Errors: `CARGO_MANIFEST_DIR` or `TARGET` is unset; no or an invalid
/// `qemu/boards.toml` (see [`emit`]); a selected board's `target` is not
/// the build's, which the error names with the `--target` to use.
pub fn check_selected() -> Result<(), Error> {
    let boards_file = find_boards_file(&env_dir("CARGO_MANIFEST_DIR")?)?;
    println!("cargo::rerun-if-changed={}", boards_file.display());
    let build_target = env_var("TARGET")?;
    let boards = Boards::from_file(&boards_file)?;
    let selected: Vec<&Board> = boards
        .all()
        .iter()
        .filter(|b| {
            let feature = b.name.to_uppercase().replace('-', "_");
            std::env::var_os(format!("CARGO_FEATURE_{feature}")).is_some()
        })
        .collect();
    match selected[..] {
        [board] if board.target != build_target => Err(Error::new(ErrorKind::WrongTarget {
            board: board.name.clone(),
            target: board.target.clone(),
            build_target,
        })
        .in_file(&boards_file)),
        _ => Ok(()),
    }
}

fn env_var(var: &str) -> Result<String, Error> {
    std::env::var(var).map_err(|_| not_set(var))
}

fn env_dir(var: &str) -> Result<PathBuf, Error> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .ok_or_else(|| not_set(var))
}

fn not_set(var: &str) -> Error {
    Error::new(ErrorKind::BuildFile {
        path: PathBuf::from(format!("${var}")),
        what: "not set: run this from a build script, under cargo".into(),
    })
}

/// `qemu/boards.toml` in `dir` or the nearest of its ancestors.
fn find_boards_file(dir: &Path) -> Result<PathBuf, Error> {
    dir.ancestors()
        .map(|d| d.join(BOARDS_FILE))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::new(ErrorKind::BuildFile {
                path: dir.to_path_buf(),
                what: format!("no {BOARDS_FILE} here or in any parent directory"),
            })
        })
}

/// Writes `bytes` to `path` through a temporary file in the same
/// directory, so that a reader never sees a partial file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| build_file(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| build_file(path, e))
}

fn build_file(path: &Path, e: std::io::Error) -> Error {
    Error::new(ErrorKind::BuildFile {
        path: path.to_path_buf(),
        what: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_workspace_boards_file_from_a_board_crate() {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let found = find_boards_file(&crate_dir.join("../board-rt")).unwrap();
        assert!(found.ends_with(BOARDS_FILE), "{}", found.display());
        assert!(Boards::from_file(&found).is_ok());
    }

    #[test]
    fn a_crate_outside_any_workspace_is_told_what_is_missing() {
        let err = find_boards_file(Path::new("/")).unwrap_err().to_string();
        assert!(err.contains("no qemu/boards.toml"), "{err}");
    }

    #[test]
    fn written_files_replace_the_old_ones_whole() {
        let dir = std::env::temp_dir().join(format!("board-map-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("memory.x");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp file left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
