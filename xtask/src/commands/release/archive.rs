//! Reproducible `.tar.gz` archives and the checks that make one safe to
//! extract.
//!
//! Writing: entries sorted by name under one root folder, uid/gid 0 with
//! empty user/group names (numeric owner), modes 0755 for directories and
//! 0644 for files, every mtime the same `SOURCE_DATE_EPOCH`, and a gzip
//! header without file name or timestamp (RFC 1952 MTIME = 0, OS = 255).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path};

use anyhow::{Context, Result, anyhow, bail};
use flate2::Compression;
use flate2::read::GzDecoder;
use tar::{EntryType, Header};

use super::links::{Node, Tree};

/// Builds `<root>.tar.gz` bytes holding `<root>/` and `<root>/<name>` for
/// every file, with `mtime` in seconds since the Unix epoch.
///
/// Errors: a file name that is not a plain relative path.
pub fn write_tar_gz(root: &str, files: &BTreeMap<String, Vec<u8>>, mtime: u64) -> Result<Vec<u8>> {
    let gz = flate2::GzBuilder::new()
        .operating_system(255)
        .write(Vec::new(), Compression::best());
    let mut tar = tar::Builder::new(gz);
    let mut dir = header(EntryType::Directory, 0o755, 0, mtime)?;
    tar.append_data(&mut dir, format!("{root}/"), std::io::empty())
        .context("writing the archive's root folder")?;
    for (name, data) in files {
        if Path::new(name)
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            bail!("archive member `{name}` is not a plain relative path");
        }
        let mut h = header(EntryType::Regular, 0o644, data.len() as u64, mtime)?;
        tar.append_data(&mut h, format!("{root}/{name}"), data.as_slice())
            .with_context(|| format!("writing {name} into the archive"))?;
    }
    let gz = tar.into_inner().context("finishing the tar stream")?;
    let mut bytes = gz.finish().context("finishing the gzip stream")?;
    bytes.flush()?;
    Ok(bytes)
}

fn header(kind: EntryType, mode: u32, size: u64, mtime: u64) -> Result<Header> {
    let mut h = Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_username("")?;
    h.set_groupname("")?;
    Ok(h)
}

/// One regular file read back from an archive: its path relative to the
/// root folder and its bytes.
pub type Members = BTreeMap<String, Vec<u8>>;

/// Reads an archive and checks that extracting it cannot write outside one
/// root folder named `root`: no absolute paths, no `..` components, no
/// entry outside `root/`, no entry that lands outside `root/` or on an
/// earlier entry through links, no symbolic or hard link that leads outside
/// `root/` (links resolved as extraction resolves them, see
/// [`super::links`]), no device, FIFO or other special entry, and no
/// duplicate path.
///
/// Returns the regular files, and the paths (relative to `root/`) of the
/// other entries below the root folder: folders and links. Errors name the
/// entry and the rule it breaks.
pub fn read_checked(bytes: &[u8], root: &str) -> Result<(Members, Vec<String>)> {
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    let mut members = Members::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut tree = Tree::new(root);
    let mut others = Vec::new();
    for entry in archive
        .entries()
        .context("not a gzip-compressed tar archive")?
    {
        let mut entry = entry.context("corrupt tar entry")?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let rel = checked_member_path(&raw, root)?;
        if !seen.insert(rel.clone()) {
            bail!("entry `{raw}` appears twice");
        }
        let node = match entry.header().entry_type() {
            EntryType::Directory => Node::Dir,
            EntryType::Regular | EntryType::Continuous => {
                let mut data = Vec::new();
                entry
                    .read_to_end(&mut data)
                    .with_context(|| format!("entry `{raw}` is truncated"))?;
                if !rel.is_empty() {
                    members.insert(rel.clone(), data);
                }
                Node::File
            }
            EntryType::Symlink => Node::Symlink(link_target(&entry, &raw)?),
            // A hard link names a path from the extraction folder (POSIX
            // pax, "typeflag") and becomes that file.
            EntryType::Link => {
                let target = link_target(&entry, &raw)?;
                tree.add(&rel, Node::File, Some(&target))
                    .map_err(|e| anyhow!("entry `{raw}`: {e}"))?;
                others.push(rel);
                continue;
            }
            other => bail!(
                "entry `{raw}` has unsafe type {other:?}: only files, folders and links are allowed"
            ),
        };
        tree.add(&rel, node.clone(), None)
            .map_err(|e| anyhow!("entry `{raw}`: {e}"))?;
        if node != Node::File && !rel.is_empty() {
            others.push(rel);
        }
    }
    tree.check_links().map_err(|e| anyhow!("{e}"))?;
    Ok((members, others))
}

fn link_target<R: Read>(entry: &tar::Entry<'_, R>, raw: &str) -> Result<String> {
    entry
        .link_name_bytes()
        .map(|t| String::from_utf8_lossy(&t).into_owned())
        .with_context(|| format!("link `{raw}` has no target"))
}

/// Checks one member path and returns it relative to `root/` ("" for the
/// root folder itself).
fn checked_member_path(raw: &str, root: &str) -> Result<String> {
    if raw.starts_with('/') || raw.starts_with('\\') || raw.get(1..2) == Some(":") {
        bail!("entry `{raw}` has an absolute path");
    }
    let path = Path::new(raw);
    if path.components().any(|c| c == Component::ParentDir) || raw.contains("..\\") {
        bail!("entry `{raw}` contains `..` (path traversal)");
    }
    let mut parts = path
        .components()
        .filter(|c| *c != Component::CurDir)
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    if parts.next().as_deref() != Some(root) {
        bail!("entry `{raw}` is outside the archive's root folder `{root}/`");
    }
    Ok(parts.collect::<Vec<_>>().join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            ("b.bin".to_string(), vec![1, 2, 3]),
            ("a.json".to_string(), b"{}".to_vec()),
        ])
    }

    #[test]
    fn same_input_gives_same_bytes_and_reads_back() {
        let a = write_tar_gz("r", &files(), 1_700_000_000).unwrap();
        assert_eq!(a, write_tar_gz("r", &files(), 1_700_000_000).unwrap());
        assert_ne!(a, write_tar_gz("r", &files(), 1_700_000_001).unwrap());
        // RFC 1952: MTIME (bytes 4..8) zero, no FNAME flag, OS unknown.
        assert_eq!(&a[3..8], &[0, 0, 0, 0, 0]);
        assert_eq!(a[9], 255);
        assert_eq!(read_checked(&a, "r").unwrap(), (files(), Vec::new()));
    }

    #[test]
    fn entries_are_sorted_with_numeric_owner_and_normal_modes() {
        let bytes = write_tar_gz("r", &files(), 42).unwrap();
        let mut archive = tar::Archive::new(GzDecoder::new(bytes.as_slice()));
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            assert_eq!(h.username_bytes(), Some(&b""[..]));
            assert_eq!(h.mtime().unwrap(), 42);
            let mode = h.mode().unwrap();
            seen.push((entry.path().unwrap().display().to_string(), mode));
        }
        assert_eq!(
            seen,
            [
                ("r/".to_string(), 0o755),
                ("r/a.json".to_string(), 0o644),
                ("r/b.bin".to_string(), 0o644)
            ]
        );
    }

    #[test]
    fn member_paths_outside_the_root_are_rejected() {
        for (raw, why) in [
            ("/etc/passwd", "absolute"),
            ("r/../../x", "path traversal"),
            ("../x", "path traversal"),
            ("other/x", "outside the archive's root folder"),
        ] {
            let err = checked_member_path(raw, "r").unwrap_err().to_string();
            assert!(err.contains(why), "{raw}: {err}");
        }
        assert_eq!(checked_member_path("r/a/b", "r").unwrap(), "a/b");
        assert_eq!(checked_member_path("./r/", "r").unwrap(), "");
    }

    /// An archive of `root/` holding `links` (path, target, hard link?).
    fn with_links(links: &[(&str, &str, bool)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut dir = header(EntryType::Directory, 0o755, 0, 0).unwrap();
        tar.append_data(&mut dir, "r/", std::io::empty()).unwrap();
        let mut sub = header(EntryType::Directory, 0o755, 0, 0).unwrap();
        tar.append_data(&mut sub, "r/a/", std::io::empty()).unwrap();
        let mut h = header(EntryType::Regular, 0o644, 1, 0).unwrap();
        tar.append_data(&mut h, "r/a.bin", &b"x"[..]).unwrap();
        for (path, target, hard) in links {
            let kind = if *hard {
                EntryType::Link
            } else {
                EntryType::Symlink
            };
            let mut h = header(kind, 0o777, 0, 0).unwrap();
            tar.append_link(&mut h, path, target).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&tar.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn link_targets_must_stay_inside() {
        let ok = |links: &[(&str, &str, bool)]| read_checked(&with_links(links), "r");
        assert!(ok(&[("r/a/l", "../b", false)]).is_ok());
        assert!(ok(&[("r/a/l", "../../b", false)]).is_err());
        assert!(ok(&[("r/l", "../r/../../etc", false)]).is_err());
        assert!(ok(&[("r/l", "/etc/passwd", false)]).is_err());
        // Hard links resolve from the extraction folder.
        assert!(ok(&[("r/h", "r/a.bin", true)]).is_ok());
        assert!(ok(&[("r/h", "other/a.bin", true)]).is_err());
        // Through a chain: `s1` is `r`, so `s1/..` is the extraction folder.
        let e = ok(&[("r/s1", ".", false), ("r/up", "s1/..", false)]).unwrap_err();
        assert!(
            format!("{e:#}").contains("entry `r/up`: link to `s1/..` leads outside"),
            "{e:#}"
        );
    }
}
