//! `sbom.cdx.json`: a CycloneDX 1.5 SBOM (JSON) of the shipped firmware's
//! dependency tree, from `cargo metadata` resolved for the firmware targets
//! and the checksums in `Cargo.lock`. Normal and build dependencies are
//! included, dev-dependencies are not. Nothing in it depends on the checkout
//! path or the clock: path crates are named by their workspace-relative
//! folder, the timestamp is `SOURCE_DATE_EPOCH`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, Package, PackageId};
use serde_json::{Value, json};

use super::config::Config;
use super::manifest::Provenance;
use crate::boards::Board;
use crate::cargo;
use crate::workspace::Workspace;

pub const FILE_NAME: &str = "sbom.cdx.json";

/// Builds the SBOM for `config.packages` on every board of `boards`.
///
/// Errors: `cargo metadata` fails or `Cargo.lock` does not parse.
pub fn generate(
    ws: &Workspace,
    config: &Config,
    provenance: &Provenance,
    boards: &[&Board],
) -> Result<Vec<u8>> {
    let mut targets: Vec<&str> = Vec::new();
    for b in boards {
        if !targets.contains(&b.target.as_str()) {
            targets.push(&b.target);
        }
    }
    let mut options: Vec<String> = targets
        .iter()
        .flat_map(|t| ["--filter-platform".to_string(), t.to_string()])
        .collect();
    let features = cargo::facade_features(ws, boards);
    if !features.is_empty() {
        options.extend(["--features".to_string(), features.join(",")]);
    }
    let metadata = MetadataCommand::new()
        .manifest_path(ws.root.join("Cargo.toml"))
        .other_options(options)
        .exec()
        .context("`cargo metadata` for the SBOM failed")?;
    let graph = Graph::walk(&metadata, config)?;
    let checksums = lock_checksums(ws)?;
    let mut components: Vec<Value> = graph
        .reached
        .iter()
        .map(|id| component(ws, graph.packages[*id], config, &checksums))
        .collect();
    components.sort_by_key(|c| c["bom-ref"].as_str().unwrap_or_default().to_string());
    let root_ref = format!("{}@{}", provenance.name, provenance.version);
    let mut dependencies = vec![json!({
        "ref": root_ref,
        "dependsOn": config.packages.iter().filter_map(|name| {
            metadata.packages.iter().find(|p| p.name.as_str() == name).map(bom_ref)
        }).collect::<Vec<_>>(),
    })];
    dependencies.extend(
        graph
            .edges
            .into_iter()
            .map(|(r, deps)| json!({ "ref": r, "dependsOn": deps })),
    );
    let timestamp = rfc3339(provenance.source_date_epoch)?;
    let sbom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": { "components": [{
                "type": "application",
                "name": "cargo-xtask",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "firmware",
                "bom-ref": root_ref,
                "name": provenance.name,
                "version": provenance.version,
                "properties": [
                    { "name": "git:revision", "value": provenance.git_revision },
                    { "name": "rust:toolchain", "value": provenance.toolchain },
                    { "name": "cargo:targets", "value": targets.join(" ") },
                ],
            },
        },
        "components": components,
        "dependencies": dependencies,
    });
    Ok(super::manifest::to_json(&sbom))
}

/// The packages reached from the shipped ones over normal and build edges.
struct Graph<'m> {
    packages: BTreeMap<&'m PackageId, &'m Package>,
    reached: BTreeSet<&'m PackageId>,
    /// `bom-ref` → the `bom-ref`s it depends on.
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl<'m> Graph<'m> {
    /// Errors: `cargo metadata` returned no dependency graph.
    fn walk(metadata: &'m Metadata, config: &Config) -> Result<Self> {
        let resolve = metadata
            .resolve
            .as_ref()
            .context("`cargo metadata` returned no dependency graph")?;
        let nodes: BTreeMap<&PackageId, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
        let packages: BTreeMap<&PackageId, &Package> =
            metadata.packages.iter().map(|p| (&p.id, p)).collect();
        let mut todo: Vec<&PackageId> = metadata
            .packages
            .iter()
            .filter(|p| config.packages.iter().any(|s| s == p.name.as_str()))
            .map(|p| &p.id)
            .collect();
        let mut reached = BTreeSet::new();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        while let Some(id) = todo.pop() {
            if !reached.insert(id) {
                continue;
            }
            let deps = edges.entry(bom_ref(packages[id])).or_default();
            for dep in nodes.get(id).map(|n| n.deps.as_slice()).unwrap_or_default() {
                if dep
                    .dep_kinds
                    .iter()
                    .any(|k| k.kind != DependencyKind::Development)
                {
                    deps.insert(bom_ref(packages[&dep.pkg]));
                    todo.push(&dep.pkg);
                }
            }
        }
        Ok(Self {
            packages,
            reached,
            edges,
        })
    }
}

/// `name@version`: unique in a resolved graph unless two sources ship the
/// same version, which cargo's lockfile also forbids for one workspace.
fn bom_ref(p: &Package) -> String {
    format!("{}@{}", p.name, p.version)
}

fn component(
    ws: &Workspace,
    p: &Package,
    config: &Config,
    checksums: &BTreeMap<(String, String), String>,
) -> Value {
    let kind = if config.packages.iter().any(|s| s == p.name.as_str()) {
        "firmware"
    } else {
        "library"
    };
    let source = match &p.source {
        Some(s) => s.repr.clone(),
        // A path crate: its folder relative to the workspace, never a host path.
        None => p
            .manifest_path
            .parent()
            .and_then(|dir| dir.as_std_path().strip_prefix(&ws.root).ok())
            .map(|rel| format!("path+{}", rel.display()))
            .unwrap_or_else(|| "path".to_string()),
    };
    let mut c = json!({
        "type": kind,
        "bom-ref": bom_ref(p),
        "name": p.name.as_str(),
        "version": p.version.to_string(),
        "properties": [{ "name": "cargo:source", "value": source }],
    });
    if let Some(license) = &p.license {
        c["licenses"] = json!([{ "expression": license }]);
    }
    if p.source.as_ref().is_some_and(|s| s.is_crates_io()) {
        c["purl"] = json!(format!("pkg:cargo/{}@{}", p.name, p.version));
    }
    if let Some(sum) = checksums.get(&(p.name.to_string(), p.version.to_string())) {
        c["hashes"] = json!([{ "alg": "SHA-256", "content": sum }]);
    }
    c
}

/// `(name, version) → sha256` of registry packages from `Cargo.lock`.
fn lock_checksums(ws: &Workspace) -> Result<BTreeMap<(String, String), String>> {
    let path = ws.root.join("Cargo.lock");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let lock: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} does not parse", path.display()))?;
    let mut sums = BTreeMap::new();
    for pkg in lock
        .get("package")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
    {
        let field = |k: &str| pkg.get(k).and_then(|v| v.as_str()).map(str::to_string);
        if let (Some(n), Some(v), Some(sum)) = (field("name"), field("version"), field("checksum"))
        {
            sums.insert((n, v), sum);
        }
    }
    Ok(sums)
}

/// `YYYY-MM-DDThh:mm:ssZ` (RFC 3339, UTC, whole seconds), as CycloneDX
/// 1.5's `metadata.timestamp` takes it, for `secs` seconds since the Unix
/// epoch.
///
/// Errors: `secs` lies past the last date chrono represents (the year
/// 262 142).
fn rfc3339(secs: u64) -> Result<String> {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .with_context(|| {
            format!("SOURCE_DATE_EPOCH={secs} is past the last date an SBOM timestamp can hold")
        })
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps_match_known_dates() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn an_epoch_past_the_calendar_is_an_error_naming_it() {
        let err = rfc3339(u64::MAX).unwrap_err().to_string();
        assert!(
            err.contains(&format!("SOURCE_DATE_EPOCH={}", u64::MAX)),
            "{err}"
        );
    }
}
