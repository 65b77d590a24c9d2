//! QEMU release versions, `MAJOR.MINOR.PATCH`, as `min_qemu` states them
//! and `qemu-system-* --version` prints them.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// A QEMU release, ordered by major, minor, then patch number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct QemuVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl QemuVersion {
    /// The version in the first line of `qemu-system-* --version`, e.g.
    /// `QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`;
    /// a missing patch number (`8.2`) reads as 0. `None` if that line has
    /// no `version X.Y[.Z]`.
    pub fn from_banner(banner: &str) -> Option<Self> {
        let line = banner.lines().next()?;
        let (_, after) = line.split_once("version ")?;
        let word = after.split_whitespace().next()?;
        let mut parts = word.splitn(3, '.');
        let (major, minor) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
        // Development builds print e.g. `10.0.50` or `9.2.0-rc1`.
        let patch = match parts.next() {
            Some(p) => p
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()?,
            None => 0,
        };
        Some(Self {
            major,
            minor,
            patch,
        })
    }
}

impl FromStr for QemuVersion {
    type Err = String;

    /// Exactly `MAJOR.MINOR.PATCH`, three decimal numbers.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a QEMU version MAJOR.MINOR.PATCH, e.g. 8.2.0");
        let parts: Vec<u32> = s
            .split('.')
            .map(|p| p.parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        match parts[..] {
            [major, minor, patch] => Ok(Self {
                major,
                minor,
                patch,
            }),
            _ => Err(bad()),
        }
    }
}

impl TryFrom<String> for QemuVersion {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl fmt::Display for QemuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_of_distribution_and_development_builds() {
        let v = |s| QemuVersion::from_banner(s).map(|v| v.to_string());
        assert_eq!(
            v("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright"),
            Some("7.2.22".into())
        );
        assert_eq!(
            v("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)"),
            Some("10.0.2".into())
        );
        assert_eq!(v("QEMU emulator version 9.2.0-rc1"), Some("9.2.0".into()));
        assert_eq!(v("QEMU emulator version 8.2"), Some("8.2.0".into()));
        assert_eq!(v("not qemu"), None);
    }

    #[test]
    fn versions_order_numerically() {
        let v = |s: &str| s.parse::<QemuVersion>().unwrap();
        assert!(v("7.2.22") < v("8.2.0"));
        assert!(v("8.1.4") < v("8.2.0"));
        assert!(v("10.0.2") > v("8.2.0"));
        for bad in ["8.2", "8.2.0.1", "v8.2.0", "8.x.0", ""] {
            assert!(bad.parse::<QemuVersion>().is_err(), "{bad}");
        }
    }
}
