//! `RELEASE_NOTES.md`: the Conventional Commits 1.0.0 changes since the
//! previous `v*` tag (breaking changes, features, fixes, performance) and a
//! table of image sizes with deltas against a previous release.

use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use regex::Regex;

use super::manifest::{DIST_MANIFEST, DistManifest, ImageSize, Provenance, SCHEMA_VERSION};
use crate::git::{git, previous_tag};

pub const FILE_NAME: &str = "RELEASE_NOTES.md";

/// One commit subject parsed as `type(scope)!: description`.
#[derive(Debug, PartialEq, Eq)]
struct Change {
    kind: String,
    scope: Option<String>,
    breaking: bool,
    description: String,
    short: String,
}

/// Parses `subject` (and `body` for a `BREAKING CHANGE:` footer); `None`
/// for commits that do not follow the convention.
fn parse(subject: &str, body: &str, short: &str) -> Option<Change> {
    let re = Regex::new(r"^([a-zA-Z]+)(?:\(([^)]+)\))?(!)?: (.+)$").expect("valid regex");
    let caps = re.captures(subject.trim())?;
    let footer = body
        .lines()
        .any(|l| l.starts_with("BREAKING CHANGE:") || l.starts_with("BREAKING-CHANGE:"));
    Some(Change {
        kind: caps[1].to_ascii_lowercase(),
        scope: caps.get(2).map(|m| m.as_str().to_string()),
        breaking: caps.get(3).is_some() || footer,
        description: caps[4].to_string(),
        short: short.to_string(),
    })
}

/// Renders the notes for `provenance` from the commits of `root` since the
/// previous tag, with sizes `images` compared against `previous` (a release
/// directory), if given.
///
/// Errors: git fails, or the previous release's manifest is unreadable.
pub fn render(
    root: &Path,
    provenance: &Provenance,
    images: &[ImageSize],
    previous: Option<&Path>,
) -> Result<String> {
    let since = previous_tag(root)?;
    let range = match &since {
        Some(tag) => format!("{tag}..HEAD"),
        None => "HEAD".to_string(),
    };
    let log = git(
        root,
        &["log", "--no-merges", "--format=%h%x1f%s%x1f%b%x1e", &range],
    )?;
    let changes: Vec<Change> = log
        .split('\x1e')
        .filter_map(|rec| {
            let mut f = rec.trim_start_matches('\n').splitn(3, '\x1f');
            let (short, subject, body) = (f.next()?, f.next()?, f.next().unwrap_or(""));
            parse(subject, body, short)
        })
        .collect();

    let mut out = String::new();
    writeln!(out, "# {} {}\n", provenance.name, provenance.version)?;
    writeln!(
        out,
        "Commit `{}`, built with {}.",
        provenance.git_revision, provenance.toolchain
    )?;
    match &since {
        Some(tag) => writeln!(out, "Changes since {tag}.")?,
        None => writeln!(out, "Changes since the first commit.")?,
    }
    type Pick = fn(&Change) -> bool;
    let sections: [(&str, Pick); 4] = [
        ("Breaking changes", |c| c.breaking),
        ("Features", |c| c.kind == "feat"),
        ("Fixes", |c| c.kind == "fix"),
        ("Performance", |c| c.kind == "perf"),
    ];
    for (title, wanted) in sections {
        let picked: Vec<&Change> = changes.iter().filter(|c| wanted(c)).collect();
        if picked.is_empty() {
            continue;
        }
        writeln!(out, "\n## {title}\n")?;
        for c in picked {
            match &c.scope {
                Some(scope) => writeln!(out, "- **{scope}:** {} ({})", c.description, c.short)?,
                None => writeln!(out, "- {} ({})", c.description, c.short)?,
            }
        }
    }
    let before = match previous {
        Some(dir) => Some(previous_images(dir)?),
        None => None,
    };
    out.push_str(&size_table(images, before.as_deref()));
    Ok(out)
}

fn previous_images(dir: &Path) -> Result<Vec<ImageSize>> {
    let path = dir.join(DIST_MANIFEST);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("--previous: cannot read {}", path.display()))?;
    let manifest: DistManifest = serde_json::from_str(&text)
        .with_context(|| format!("--previous: {} is not a dist manifest", path.display()))?;
    if manifest.schema_version != SCHEMA_VERSION {
        bail!(
            "--previous: {} has schema_version {}, this xtask reads {SCHEMA_VERSION}",
            path.display(),
            manifest.schema_version
        );
    }
    Ok(manifest.images)
}

/// A Markdown table of flash and RAM bytes per image, with the change
/// against `before` (`new` for images it lacks).
fn size_table(images: &[ImageSize], before: Option<&[ImageSize]>) -> String {
    let mut out = String::from("\n## Image sizes\n\n");
    let delta = |now: u64, then: Option<u64>| match then {
        None => "new".to_string(),
        Some(then) if then == now => "±0".to_string(),
        Some(then) => {
            let d = now as i64 - then as i64;
            let pct = if then == 0 {
                0.0
            } else {
                d as f64 * 100.0 / then as f64
            };
            format!("{d:+} ({pct:+.1}%)")
        }
    };
    if before.is_some() {
        out.push_str(
            "| image | target | profile | flash (bytes) | Δ flash | RAM (bytes) | Δ RAM |\n",
        );
        out.push_str("|---|---|---|---:|---:|---:|---:|\n");
    } else {
        out.push_str("| image | target | profile | flash (bytes) | RAM (bytes) |\n");
        out.push_str("|---|---|---|---:|---:|\n");
    }
    for i in images {
        let row = format!(
            "| {} | {} | {} | {} ",
            i.name, i.target, i.profile, i.flash_bytes
        );
        out.push_str(&row);
        match before {
            Some(before) => {
                let old = before
                    .iter()
                    .find(|b| (&b.name, &b.target, &b.profile) == (&i.name, &i.target, &i.profile));
                out.push_str(&format!(
                    "| {} | {} | {} |\n",
                    delta(i.flash_bytes, old.map(|o| o.flash_bytes)),
                    i.ram_bytes,
                    delta(i.ram_bytes, old.map(|o| o.ram_bytes))
                ));
            }
            None => out.push_str(&format!("| {} |\n", i.ram_bytes)),
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A git repository in a fresh temporary folder with `commits` (subject,
    /// body, tag) made in order.
    pub fn repo(name: &str, commits: &[(&str, &str, Option<&str>)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        let git = |args: &[&str]| {
            let id = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"];
            crate::git::git(&dir, &[&id[..], args].concat()).unwrap();
        };
        git(&["init", "-q"]);
        for (subject, body, tag) in commits {
            let msg = format!("{subject}\n\n{body}");
            git(&["commit", "-q", "--allow-empty", "-m", &msg]);
            if let Some(tag) = tag {
                git(&["tag", tag]);
            }
        }
        dir
    }

    #[test]
    fn notes_group_commits_since_the_previous_tag() {
        let dir = repo(
            "notes",
            &[
                ("feat: before the tag", "", Some("v0.1.0")),
                ("fix(qemu): reap the process group", "", None),
                ("perf: faster switch", "", None),
                ("feat(api)!: new manifest", "", None),
                ("refactor: tidy", "BREAKING CHANGE: drops --old", None),
                ("chore: bump", "", Some("v0.2.0")),
            ],
        );
        let provenance = Provenance {
            name: "p".into(),
            version: "0.2.0".into(),
            git_revision: "abc".into(),
            toolchain: "rustc".into(),
            source_date_epoch: 0,
        };
        let notes = render(&dir, &provenance, &[], None).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(notes.contains("Changes since v0.1.0."), "{notes}");
        assert!(
            !notes.contains("before the tag") && !notes.contains("bump"),
            "{notes}"
        );
        let section = |title: &str| {
            let start = notes
                .find(&format!("## {title}"))
                .unwrap_or_else(|| panic!("{notes}"));
            notes[start..].split("\n\n").nth(1).unwrap().to_string()
        };
        assert!(section("Breaking changes").contains("**api:** new manifest"));
        assert!(section("Breaking changes").contains("tidy"));
        assert!(section("Features").contains("new manifest"));
        assert!(section("Fixes").contains("**qemu:** reap the process group"));
        assert!(section("Performance").contains("faster switch"));
    }

    #[test]
    fn parses_conventional_subjects_and_breaking_footers() {
        let c = parse("feat(qemu)!: new runner", "", "abc").unwrap();
        assert_eq!(
            (c.kind.as_str(), c.scope.as_deref(), c.breaking),
            ("feat", Some("qemu"), true)
        );
        let c = parse("fix: off by one", "details\nBREAKING CHANGE: api", "abc").unwrap();
        assert!(c.breaking && c.scope.is_none() && c.description == "off by one");
        assert!(parse("Merge branch main", "", "abc").is_none());
    }

    #[test]
    fn size_table_shows_deltas_and_new_images() {
        let img = |name: &str, flash, ram| ImageSize {
            name: name.into(),
            target: "t".into(),
            profile: crate::cargo::Profile::Release,
            flash_bytes: flash,
            ram_bytes: ram,
        };
        let table = size_table(
            &[img("a", 1100, 200), img("b", 5, 5)],
            Some(&[img("a", 1000, 200)]),
        );
        assert!(
            table.contains("| a | t | release | 1100 | +100 (+10.0%) | 200 | ±0 |"),
            "{table}"
        );
        assert!(
            table.contains("| b | t | release | 5 | new | 5 | new |"),
            "{table}"
        );
    }
}
