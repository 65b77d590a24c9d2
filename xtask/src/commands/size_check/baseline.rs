//! Baselines: the last accepted sizes per image. The checked-in baseline
//! (`qemu/size-baseline.json`) and the JSON report of a run share one shape,
//! so `--compare-to` takes either:
//!
//! ```json
//! { "images": [ { "image": "lm3s6965evb/fw-tests/sched", "flash_bytes": 5432, "ram_bytes": 9216,
//!                 "stack": [ { "task": "monitor", "peak_bytes": 248, "size_bytes": 1024 } ] } ] }
//! ```
//!
//! `stack` (optional) holds each task's peak stack use as the suite measured
//! it on this very ELF (see `stack.rs`); it is absent for an image without
//! tasks or one the suite did not run.
//!
//! A stream of such objects, or of bare image objects (the `--json` output),
//! is accepted too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::image::ImageId;
use crate::qemu::stack::TaskStack;

/// One image's accepted sizes, in bytes. `elf` (reports only) lets a later
/// comparison diff the symbols of both ELFs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub image: ImageId,
    pub flash_bytes: u64,
    pub ram_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elf: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<TaskStack>,
}

#[derive(Serialize)]
struct File<'a> {
    images: Vec<&'a Record>,
}

/// Records by image name.
pub type Records = BTreeMap<ImageId, Record>;

/// Reads a baseline or a saved report to compare with.
///
/// Errors: see [`read`], and a file that lists no image (an empty file,
/// `[]` or `{"images": []}`), with which every growth check would be off.
pub fn load(path: &Path) -> Result<Records> {
    let records = read(path)?;
    if records.is_empty() {
        bail!(
            "size baseline or report {} lists no image, so no growth could be checked; \
             record one with `cargo xtask size-check --update-baseline`, or pass --no-baseline",
            path.display()
        );
    }
    Ok(records)
}

/// Reads a baseline or a saved report; an empty one gives no records.
///
/// Errors: the file cannot be read, is not JSON, or an entry lacks `image`,
/// `flash_bytes` or `ram_bytes` (the message names the file and entry).
pub fn read(path: &Path) -> Result<Records> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text).with_context(|| format!("invalid size baseline or report {}", path.display()))
}

fn parse(text: &str) -> Result<Records> {
    let mut values = Vec::new();
    for value in serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>() {
        let value = value?;
        match value {
            serde_json::Value::Array(items) => values.extend(items),
            serde_json::Value::Object(mut map) => match map.remove("images") {
                Some(serde_json::Value::Array(items)) => values.extend(items),
                Some(_) => bail!("`images` is not an array"),
                None => values.push(serde_json::Value::Object(map)),
            },
            _ => bail!("expected a JSON object with an `images` array"),
        }
    }
    let mut out = Records::new();
    for (i, v) in values.into_iter().enumerate() {
        let r: Record = serde_json::from_value(v).with_context(|| format!("entry {i}"))?;
        if out.insert(r.image.clone(), r).is_some() {
            bail!("entry {i}: image listed twice");
        }
    }
    Ok(out)
}

/// The baseline file's text for `records`: sorted by image, without ELF
/// paths (they are host paths), with a trailing newline.
pub fn render(records: &Records) -> Result<String> {
    let images = records
        .values()
        .map(|r| Record {
            elf: None,
            ..r.clone()
        })
        .collect::<Vec<_>>();
    let file = File {
        images: images.iter().collect(),
    };
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_baseline_report_and_json_lines() {
        let base = r#"{"images":[{"image":"a/x","flash_bytes":1,"ram_bytes":2}]}"#;
        let id: ImageId = "a/x".parse().unwrap();
        assert_eq!(parse(base).unwrap()[&id].ram_bytes, 2);
        let lines = "{\"image\":\"a/x\",\"flash_bytes\":1,\"ram_bytes\":2,\"board\":\"a\"}\n{\"image\":\"a/y\",\"flash_bytes\":3,\"ram_bytes\":4}\n";
        assert_eq!(parse(lines).unwrap().len(), 2);
        let records = parse(base).unwrap();
        assert_eq!(parse(&render(&records).unwrap()).unwrap(), records);
        let with_stack = r#"{"images":[{"image":"a/x","flash_bytes":1,"ram_bytes":2,
            "stack":[{"task":"t","peak_bytes":8,"size_bytes":64}]}]}"#;
        let records = parse(with_stack).unwrap();
        assert_eq!(records[&id].stack[0].peak_bytes, 8);
        assert_eq!(parse(&render(&records).unwrap()).unwrap(), records);
        let e = format!(
            "{:#}",
            parse(r#"{"images":[{"image":"a/x"}]}"#).unwrap_err()
        );
        assert!(e.contains("entry 0") && e.contains("flash_bytes"), "{e}");
    }
}
