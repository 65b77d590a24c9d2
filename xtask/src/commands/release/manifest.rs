//! The two JSON manifests: `manifest.json` inside each archive, and
//! `dist-manifest.json` beside the archives. Both carry `schema_version`;
//! a reader rejects versions it does not know.

use serde::{Deserialize, Serialize};

use crate::cargo::Profile;

/// Bumped on any incompatible change to either manifest. 2: the `.hex` of
/// each image, the `intel-hex` artifacts and `copy_of`.
pub const SCHEMA_VERSION: u32 = 2;
pub const DIST_MANIFEST: &str = "dist-manifest.json";
pub const ARCHIVE_MANIFEST: &str = "manifest.json";

/// Facts shared by every manifest of one release.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Provenance {
    pub name: String,
    /// `[workspace.package] version`, e.g. `0.1.0`.
    pub version: String,
    /// Full commit hash, with `-dirty` when the tree had changes.
    pub git_revision: String,
    /// `rustc -V` of the toolchain that built the images.
    pub toolchain: String,
    /// Seconds since the Unix epoch; every archive entry's mtime.
    pub source_date_epoch: u64,
}

/// `manifest.json` in the root folder of one archive.
#[derive(Debug, Serialize, Deserialize)]
pub struct ArchiveManifest {
    pub schema_version: u32,
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Target triple, e.g. `thumbv7m-none-eabi`.
    pub target: String,
    /// QEMU board name from `qemu/boards.toml`, e.g. `lm3s6965evb`.
    pub board: String,
    pub profile: Profile,
    pub images: Vec<ImageEntry>,
    /// Every other file of the archive but this manifest (the README, the
    /// licenses), so that an archive holds exactly what its manifest lists.
    pub files: Vec<FileEntry>,
}

/// One firmware image in an archive.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageEntry {
    /// The binary target's name, e.g. `sched`.
    pub name: String,
    pub package: String,
    pub elf: FileEntry,
    /// Raw image of the file-backed PT_LOAD segments.
    pub bin: FileEntry,
    /// The `.bin` as Intel HEX at `load_address`, with `entry` as its start
    /// linear address.
    pub hex: FileEntry,
    /// Address of the `.bin`'s first byte (LMA), e.g. `0x20010000`.
    pub load_address: String,
    /// ELF entry point, hex.
    pub entry: String,
    /// Flash used, bytes: file-backed PT_LOAD bytes.
    pub flash_bytes: u64,
    /// RAM used, bytes: PT_LOAD `p_memsz` with the VMA in RAM.
    pub ram_bytes: u64,
}

/// A file inside an archive, relative to its root folder.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    /// Bytes.
    pub size: u64,
    pub sha256: String,
}

/// `dist-manifest.json`: every artifact of the release except itself,
/// `SHA256SUMS` and the signature (which cover this file in turn).
#[derive(Debug, Serialize, Deserialize)]
pub struct DistManifest {
    pub schema_version: u32,
    #[serde(flatten)]
    pub provenance: Provenance,
    pub artifacts: Vec<Artifact>,
    /// Sizes of every shipped image, for release notes' deltas.
    pub images: Vec<ImageSize>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// A `.tar.gz` of one target and profile.
    Archive,
    /// The CycloneDX SBOM.
    Sbom,
    ReleaseNotes,
    /// An image's `.hex`, also shipped inside its archive.
    IntelHex,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub kind: ArtifactKind,
    /// Target triple, for archives.
    pub target: Option<String>,
    /// Build profile, for archives.
    pub profile: Option<Profile>,
    /// File name in the release directory.
    pub path: String,
    /// Bytes.
    pub size: u64,
    pub sha256: String,
    /// The archive member this file is a byte-for-byte copy of (for
    /// `intel-hex`), `null` for other files.
    #[serde(default)]
    pub copy_of: Option<ArchiveMember>,
}

/// A file inside one of the release's archives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ArchiveMember {
    /// The archive's file name in the release directory.
    pub archive: String,
    /// The member's path relative to the archive's root folder.
    pub member: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ImageSize {
    pub name: String,
    pub target: String,
    pub profile: Profile,
    pub flash_bytes: u64,
    pub ram_bytes: u64,
}

/// Pretty JSON with a final newline: stable bytes for stable input.
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("manifests serialise");
    bytes.push(b'\n');
    bytes
}
