//! Builds the CUDA fatbin of `native/cuda/fir.cu` with nvcc and checks what
//! it holds.
//!
//! One fatbin carries SASS (cubins) for every architecture we ship and PTX
//! for the oldest, which newer GPUs JIT-compile: sm_75 (Turing), sm_80
//! (A100), sm_86 (Ampere consumer), sm_89 (Ada), sm_90 (Hopper), and PTX for
//! compute_75.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use xshell::cmd;

use crate::cmd::shell;
use crate::fault;
use crate::toolkits;
use crate::workspace::{Workspace, temp_beside, write_atomic};

/// Architectures with SASS in the fatbin.
pub const SASS_ARCHES: [u32; 5] = [75, 80, 86, 89, 90];
/// The virtual architecture whose PTX is embedded for JIT on newer GPUs.
pub const PTX_ARCH: u32 = 75;

/// The kernel source, relative to the workspace root.
pub const SOURCE: &str = "native/cuda/fir.cu";
/// The headers [`SOURCE`] includes (by a path relative to itself, so nvcc
/// needs no `-I`); they are part of the cache stamp.
pub const HEADERS: [&str; 1] = ["native/kernels/fir_q15.h"];

/// `-gencode` options: SASS per [`SASS_ARCHES`] and PTX for [`PTX_ARCH`].
pub fn gencode_args() -> Vec<String> {
    SASS_ARCHES
        .iter()
        .map(|a| format!("-gencode=arch=compute_{a},code=sm_{a}"))
        .chain([format!(
            "-gencode=arch=compute_{PTX_ARCH},code=compute_{PTX_ARCH}"
        )])
        .collect()
}

/// One image in a fatbin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    /// PTX for `compute_<arch>`.
    Ptx(u32),
    /// A cubin (SASS) for `sm_<arch>`.
    Sass(u32),
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ptx(a) => write!(f, "PTX compute_{a}"),
            Self::Sass(a) => write!(f, "SASS sm_{a}"),
        }
    }
}

/// A built fatbin.
#[derive(Debug)]
pub struct Fatbin {
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: usize,
    /// Sorted images.
    pub entries: Vec<Entry>,
    /// Whether nvcc ran (false: the cached build matched).
    pub rebuilt: bool,
}

impl Fatbin {
    /// e.g. `SASS sm_75, 80, 86, 89, 90 + PTX compute_75`.
    pub fn arches(&self) -> String {
        let sass: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Sass(a) => Some(a.to_string()),
                Entry::Ptx(_) => None,
            })
            .collect();
        let ptx: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Ptx(a) => Some(format!("compute_{a}")),
                Entry::Sass(_) => None,
            })
            .collect();
        format!("SASS sm_{} + PTX {}", sass.join(", "), ptx.join(", "))
    }
}

const FATBIN_MAGIC: u32 = 0xBA55_ED50;
const KIND_PTX: u16 = 1;
const KIND_ELF: u16 = 2;

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Lists the images of a fatbin file. NVIDIA does not document the layout;
/// this is the one `cuobjdump` and the driver read: containers of
/// `{u32 magic 0xBA55ED50, u16 version, u16 header size, u64 payload size}`,
/// each payload a run of entries `{u16 kind (1 PTX, 2 ELF), u16, u32 header
/// size, u64 payload size, …, u32 arch at +0x1C}`, all little-endian.
///
/// Errors: a bad magic, an unknown kind, or sizes that run past the end.
pub fn parse_entries(bytes: &[u8]) -> Result<Vec<Entry>> {
    let bad = |what: &str, at: usize| anyhow::anyhow!("not a valid fatbin: {what} at byte {at}");
    let mut entries = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        if le_u32(bytes, at) != Some(FATBIN_MAGIC) {
            return Err(bad("bad magic", at));
        }
        let header = le_u16(bytes, at + 6).ok_or_else(|| bad("truncated header", at))? as usize;
        let size = le_u64(bytes, at + 8).ok_or_else(|| bad("truncated header", at))? as usize;
        let end = at
            .checked_add(header)
            .and_then(|s| s.checked_add(size))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad("container larger than the file", at))?;
        let mut e = at + header;
        while e < end {
            let kind = le_u16(bytes, e).ok_or_else(|| bad("truncated entry", e))?;
            let head = le_u32(bytes, e + 4).ok_or_else(|| bad("truncated entry", e))? as usize;
            let payload = le_u64(bytes, e + 8).ok_or_else(|| bad("truncated entry", e))? as usize;
            let arch = le_u32(bytes, e + 0x1C).ok_or_else(|| bad("truncated entry", e))?;
            entries.push(match kind {
                KIND_PTX => Entry::Ptx(arch),
                KIND_ELF => Entry::Sass(arch),
                other => return Err(bad(&format!("unknown entry kind {other}"), e)),
            });
            e = e
                .checked_add(head)
                .and_then(|s| s.checked_add(payload))
                .filter(|&n| n <= end && head > 0)
                .ok_or_else(|| bad("entry larger than its container", e))?;
        }
        // Containers are padded to 8 bytes.
        at = end.next_multiple_of(8);
    }
    entries.sort();
    Ok(entries)
}

/// The images the fatbin must hold.
pub fn expected_entries() -> Vec<Entry> {
    let mut v: Vec<Entry> = SASS_ARCHES.iter().map(|&a| Entry::Sass(a)).collect();
    v.push(Entry::Ptx(PTX_ARCH));
    v.sort();
    v
}

/// Builds `<target_dir>/native/fir.fatbin` with `nvcc`, unless a previous
/// build from the same source, nvcc and options is there (a SHA-256 stamp
/// beside it), and checks that it holds exactly [`expected_entries`].
///
/// Errors: nvcc fails (its stderr is included: a missing host compiler, a
/// kernel error) or the fatbin lacks an architecture.
pub fn build(ws: &Workspace, nvcc: &Path) -> Result<Fatbin> {
    let source = ws.root.join(SOURCE);
    let text =
        std::fs::read(&source).with_context(|| format!("cannot read {}", source.display()))?;
    let dir = ws.target_dir.join("native");
    let out = dir.join("fir.fatbin");
    let stamp_path = dir.join("fir.fatbin.sha256");
    let version = toolkits::nvcc_version(nvcc)?;
    let args = gencode_args();
    let mut h = Sha256::new();
    h.update(&text);
    for header in HEADERS.map(|p| ws.root.join(p)) {
        h.update(
            std::fs::read(&header).with_context(|| format!("cannot read {}", header.display()))?,
        );
    }
    h.update(nvcc.as_os_str().as_encoded_bytes());
    h.update(version.as_bytes());
    for a in &args {
        h.update(a.as_bytes());
    }
    let stamp: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let cached =
        out.is_file() && std::fs::read_to_string(&stamp_path).is_ok_and(|s| s.trim() == stamp);
    if !cached {
        // nvcc writes to a unique name beside the fatbin, moved into place
        // once complete.
        let partial = temp_beside(&out)?.into_temp_path();
        let sh = shell(&ws.root)?;
        let output = cmd!(sh, "{nvcc} --fatbin {args...} -o {partial} {source}")
            .quiet()
            .ignore_status()
            .output()
            .with_context(|| format!("cannot run {}", nvcc.display()))?;
        if !output.status.success() {
            bail!(
                "nvcc ({}) failed on {SOURCE} with {}:\n{}{}",
                nvcc.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        fault::point("fatbin-persist", &out);
        partial
            .persist(&out)
            .map_err(|e| anyhow::Error::new(e.error))
            .with_context(|| format!("cannot write {}", out.display()))?;
        write_atomic(&stamp_path, stamp.as_bytes())?;
    }
    let bytes = std::fs::read(&out).with_context(|| format!("cannot read {}", out.display()))?;
    let entries = parse_entries(&bytes).with_context(|| format!("{}", out.display()))?;
    if entries != expected_entries() {
        bail!(
            "{} holds {:?}; expected {:?}",
            out.display(),
            entries,
            expected_entries()
        );
    }
    Ok(Fatbin {
        path: out,
        bytes: bytes.len(),
        entries,
        rebuilt: !cached,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_a_fatbin() {
        assert!(parse_entries(b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0").is_err());
        // A container that claims more payload than the file has.
        let mut b = FATBIN_MAGIC.to_le_bytes().to_vec();
        b.extend([1, 0, 16, 0]);
        b.extend(1000u64.to_le_bytes());
        assert!(parse_entries(&b).is_err());
    }

    /// Builds the real kernel with the nvcc that `cargo xtask native` would
    /// use and checks every architecture is in it.
    #[test]
    fn nvcc_builds_every_architecture() {
        let ws = Workspace::load().expect("workspace");
        let Some(nvcc) = toolkits::find_nvcc(&ws) else {
            eprintln!("skipped: {}", toolkits::nvcc_search_description(&ws));
            return;
        };
        let fatbin = build(&ws, &nvcc.path).expect("nvcc builds the fatbin");
        assert_eq!(fatbin.entries, expected_entries());
        assert!(fatbin.bytes > 1000);
    }
}
