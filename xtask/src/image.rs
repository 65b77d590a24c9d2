//! Typed identities of firmware images. An image is named
//! `<board>/<package>/<bin>` (a workspace build) or `<board>/<file>` (an ELF
//! given by path); budgets, baselines and reports use these names, and code
//! takes them apart only through [`ImageId`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One image on one board.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageId {
    /// The board's name in `qemu/boards.toml`.
    pub board: String,
    /// The cargo package that built it; `None` for an ELF given by path.
    pub package: Option<String>,
    /// The binary target's name, or the file name of an ELF given by path.
    pub bin: String,
}

impl ImageId {
    /// An image built from `package`'s binary `bin` for `board`.
    pub fn built(board: &str, package: &str, bin: &str) -> Self {
        Self {
            board: board.to_owned(),
            package: Some(package.to_owned()),
            bin: bin.to_owned(),
        }
    }

    /// An ELF given by path, checked against `board`.
    pub fn file(board: &str, file: &str) -> Self {
        Self {
            board: board.to_owned(),
            package: None,
            bin: file.to_owned(),
        }
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.package {
            Some(p) => write!(f, "{}/{p}/{}", self.board, self.bin),
            None => write!(f, "{}/{}", self.board, self.bin),
        }
    }
}

impl FromStr for ImageId {
    type Err = String;

    /// Parses `<board>/<package>/<bin>` or `<board>/<file>`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "image `{s}` is not <board>/<package>/<bin> or <board>/<file>"
            ));
        }
        match parts[..] {
            [board, package, bin] => Ok(Self::built(board, package, bin)),
            [board, file] => Ok(Self::file(board, file)),
            _ => Err(format!(
                "image `{s}` is not <board>/<package>/<bin> or <board>/<file>"
            )),
        }
    }
}

/// The SHA-256 of an image's bytes, in lowercase hex: how reports tell
/// whether they describe the same build of an image.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Serialize for ImageId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ImageId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_forms() {
        for s in ["lm3s6965evb/fw-tests/sched", "sifive_e/k.elf"] {
            assert_eq!(s.parse::<ImageId>().unwrap().to_string(), s);
        }
        let id: ImageId = "a/p/b".parse().unwrap();
        assert_eq!(id, ImageId::built("a", "p", "b"));
        for bad in ["", "a", "a//b", "a/b/c/d", "/x"] {
            assert!(bad.parse::<ImageId>().is_err(), "{bad}");
        }
    }
}
