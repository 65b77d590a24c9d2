//! What a release ships, read from `[workspace.metadata.release]` in the root
//! `Cargo.toml` (through cargo_metadata, so it is the manifest cargo sees).

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::cargo::Profile;
use crate::workspace::Workspace;

const TABLE: &str = "[workspace.metadata.release] in Cargo.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: String,
    packages: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    profiles: Vec<Profile>,
    include: Vec<String>,
}

/// The release table, validated against the workspace.
#[derive(Debug)]
pub struct Config {
    /// Project name, the first part of every archive name.
    pub name: String,
    /// Firmware packages whose binaries are shipped.
    pub packages: Vec<String>,
    /// Binaries of those packages that are not shipped.
    pub exclude: Vec<String>,
    pub profiles: Vec<Profile>,
    /// Workspace-relative files copied into each archive's root folder.
    pub include: Vec<String>,
    /// The shipped packages' common version (`[workspace.package] version`).
    pub version: String,
}

impl Config {
    /// Errors: the table is missing or malformed, a package is not a
    /// firmware image package, a profile is unknown, an included file is
    /// missing, or the shipped packages disagree on their version.
    pub fn load(ws: &Workspace) -> Result<Self> {
        let value = ws
            .metadata
            .workspace_metadata
            .get("release")
            .with_context(|| format!("{TABLE} is missing"))?;
        let raw = RawConfig::deserialize(value).with_context(|| format!("invalid {TABLE}"))?;
        if raw.name.is_empty() || !raw.name.bytes().all(is_name_byte) {
            bail!(
                "{TABLE}: name `{}` must be non-empty and use only A-Z a-z 0-9 . _ -",
                raw.name
            );
        }
        let firmware = ws.firmware_image_packages();
        let mut versions = Vec::new();
        for name in &raw.packages {
            let Some(p) = firmware.iter().find(|p| p.name.as_str() == name) else {
                let known: Vec<&str> = firmware.iter().map(|p| p.name.as_str()).collect();
                bail!(
                    "{TABLE}: packages lists `{name}`, which is not a firmware image package \
                     (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            };
            versions.push((name.as_str(), p.version.to_string()));
        }
        for bin in &raw.exclude {
            let known = firmware
                .iter()
                .filter(|p| raw.packages.iter().any(|s| s == p.name.as_str()))
                .flat_map(|p| &p.targets)
                .any(|t| t.is_bin() && t.name == *bin);
            if !known {
                bail!("{TABLE}: exclude lists `{bin}`, which is no binary of the shipped packages");
            }
        }
        let Some((_, version)) = versions.first().cloned() else {
            bail!("{TABLE}: packages is empty; list the firmware packages to ship");
        };
        if let Some((name, v)) = versions.iter().find(|(_, v)| *v != version) {
            bail!(
                "{TABLE}: shipped packages disagree on the version (`{name}` is {v}, \
                 `{}` is {version}); inherit `version.workspace = true`",
                versions[0].0
            );
        }
        let profiles = raw.profiles;
        if profiles.is_empty() {
            bail!("{TABLE}: profiles is empty");
        }
        for file in &raw.include {
            if !ws.root.join(file).is_file() {
                bail!("{TABLE}: include lists `{file}`, which is not a file in the workspace");
            }
        }
        Ok(Self {
            name: raw.name,
            packages: raw.packages,
            exclude: raw.exclude,
            profiles,
            include: raw.include,
            version,
        })
    }

    /// Whether `image` (a binary of `package`) goes into the archives.
    pub fn ships(&self, package: &str, image: &str) -> bool {
        self.packages.iter().any(|p| p == package) && !self.exclude.iter().any(|e| e == image)
    }

    /// `<name>-<version>-<target>`, plus `-<profile>` for profiles other than
    /// release: the archive's file stem and its single root folder.
    pub fn archive_stem(&self, target: &str, profile: Profile) -> String {
        match profile {
            Profile::Release => format!("{}-{}-{target}", self.name, self.version),
            other => format!("{}-{}-{target}-{}", self.name, self.version, other.name()),
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}
