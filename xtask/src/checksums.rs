//! SHA-256 digests and the `SHA256SUMS` file in GNU coreutils' format: one
//! `<64 lowercase hex digits><two spaces><file name>` line per file, which
//! `sha256sum -c --strict` accepts. Releases list plain file names
//! ([`parse`]); test bundles list paths relative to the bundle
//! ([`parse_paths`]).

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use sha2::{Digest, Sha256};

pub const FILE_NAME: &str = "SHA256SUMS";

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Renders the file; a `BTreeMap` keeps the lines sorted by name (bytewise).
pub fn render(sums: &BTreeMap<String, String>) -> String {
    sums.iter()
        .map(|(name, hex)| format!("{hex}  {name}\n"))
        .collect()
}

/// Parses the file strictly: every line must be `<hex>  <name>`, names must
/// be plain file names (no directory part) and unique.
///
/// Errors name the 1-based line and what is wrong with it.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>> {
    parse_with(text, "a plain file name", |name| {
        !(name.is_empty() || name.contains(['/', '\\']) || name == "." || name == "..")
    })
}

/// Like [`parse`], but names are relative paths with `/` between
/// components (`elf/sifive_e/sched.elf`): no empty, `.` or `..` component,
/// no leading `/` and no `\`.
///
/// Errors name the 1-based line and what is wrong with it.
pub fn parse_paths(text: &str) -> Result<BTreeMap<String, String>> {
    parse_with(text, "a relative path inside the folder", |name| {
        !name.contains('\\')
            && name
                .split('/')
                .all(|c| !(c.is_empty() || c == "." || c == ".."))
    })
}

fn parse_with(
    text: &str,
    what: &str,
    valid: impl Fn(&str) -> bool,
) -> Result<BTreeMap<String, String>> {
    let mut sums = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let Some((hex, name)) = line.split_once("  ") else {
            bail!("{FILE_NAME} line {n}: expected `<sha256 hex>  <file name>`, got `{line}`");
        };
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            bail!("{FILE_NAME} line {n}: `{hex}` is not 64 lowercase hex digits");
        }
        if !valid(name) {
            bail!("{FILE_NAME} line {n}: `{name}` is not {what}");
        }
        if sums.insert(name.to_string(), hex.to_string()).is_some() {
            bail!("{FILE_NAME} line {n}: `{name}` is listed twice");
        }
    }
    Ok(sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_the_fips_180_2_example() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn render_sorts_and_parse_round_trips() {
        let sums = BTreeMap::from([
            ("b.tar.gz".to_string(), sha256_hex(b"b")),
            ("a.json".to_string(), sha256_hex(b"a")),
        ]);
        let text = render(&sums);
        assert!(text.starts_with(&format!("{}  a.json\n", sha256_hex(b"a"))));
        assert_eq!(parse(&text).unwrap(), sums);
    }

    #[test]
    fn parse_rejects_paths_and_bad_digests() {
        let hex = sha256_hex(b"x");
        for bad in [
            format!("{hex}  ../x"),
            format!("{hex} x"),
            format!("{}  x", &hex[1..]),
            format!("{}  x", hex.to_uppercase()),
            format!("{hex}  x\n{hex}  x"),
        ] {
            assert!(parse(&bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn paths_stay_inside_the_folder() {
        let hex = sha256_hex(b"x");
        let ok = parse_paths(&format!(
            "{hex}  elf/sifive_e/sched.elf\n{hex}  tests.toml\n"
        ))
        .unwrap();
        assert_eq!(ok.len(), 2);
        for bad in ["../x", "/x", "a//b", "a/./b", "a\\b", "a/"] {
            let e = parse_paths(&format!("{hex}  {bad}"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("line 1") && e.contains("relative path"),
                "{bad}: {e}"
            );
        }
        assert!(
            parse(&format!("{hex}  elf/x")).is_err(),
            "releases list plain names"
        );
    }
}
