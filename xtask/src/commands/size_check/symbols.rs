//! Where the bytes go: symbols with demangled Rust names, grouped by crate
//! the way cargo-bloat does, and per-symbol deltas between two ELFs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::elf::Symbol;

/// A symbol ready to show: demangled name (without the hash) and its crate.
#[derive(Debug, Clone, Serialize)]
pub struct Named {
    pub name: String,
    #[serde(rename = "crate")]
    pub krate: String,
    pub size: u64,
    pub addr: u64,
    pub region: Option<&'static str>,
}

/// Crate name for symbols that are not Rust-mangled (C, assembly, linker).
pub const UNMANGLED: &str = "[unmangled]";

/// Demangles legacy and v0 Rust symbols; other names are returned as is.
pub fn name(mangled: &str) -> (String, bool) {
    match rustc_demangle::try_demangle(mangled) {
        Ok(d) => (format!("{d:#}"), true),
        Err(_) => (mangled.to_string(), false),
    }
}

/// Crate name for methods of primitive types (`<[T]>::sort`).
pub const PRIMITIVE: &str = "[primitive]";

/// The crate a demangled Rust path belongs to: its first segment. For an
/// impl `<A as Trait>::f` it is the crate of `A` when `A` is a path, else
/// the trait's crate (`<usize as core::fmt::Display>::fmt` is `core`).
pub fn crate_of(demangled: &str) -> String {
    let Some(inner) = demangled.strip_prefix('<') else {
        return first_segment(demangled).unwrap_or(UNMANGLED).to_string();
    };
    // Split `A as Trait>` at depth 0 of the angle brackets.
    let (mut depth, mut self_end, mut close) = (0usize, None, inner.len());
    for (i, c) in inner.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if depth == 0 => {
                close = i;
                break;
            }
            '>' => depth -= 1,
            _ if depth == 0 && self_end.is_none() && inner[i..].starts_with(" as ") => {
                self_end = Some(i)
            }
            _ => {}
        }
    }
    let self_ty = &inner[..self_end.unwrap_or(close)];
    let trait_path = self_end.map(|i| &inner[i + 4..close]);
    first_segment(self_ty)
        .or_else(|| trait_path.and_then(first_segment))
        .unwrap_or(PRIMITIVE)
        .to_string()
}

/// `krate` of `krate::a::b` (after any `&`, `mut`, `dyn`), if it is a path.
fn first_segment(ty: &str) -> Option<&str> {
    let mut s = ty.trim_start_matches(['&', '*', '(', '[', '<']);
    for prefix in ["mut ", "const ", "dyn ", "impl "] {
        s = s.strip_prefix(prefix).unwrap_or(s);
    }
    let (head, _) = s.split_once("::")?;
    (!head.is_empty() && head.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(head)
}

/// Demangles and classifies `symbols` (largest first, as given).
pub fn named(symbols: &[Symbol]) -> Vec<Named> {
    symbols
        .iter()
        .map(|s| {
            let (name, rust) = name(&s.name);
            let krate = if rust {
                crate_of(&name)
            } else {
                UNMANGLED.to_string()
            };
            Named {
                name,
                krate,
                size: s.size,
                addr: s.addr,
                region: s.region.map(|r| r.name()),
            }
        })
        .collect()
}

/// Bytes per crate, largest first.
pub fn by_crate(symbols: &[Named]) -> Vec<(String, u64)> {
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for s in symbols {
        *totals.entry(&s.krate).or_default() += s.size;
    }
    let mut out: Vec<(String, u64)> = totals
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// One symbol's change between a base and a new ELF, in bytes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Delta {
    pub name: String,
    #[serde(rename = "crate")]
    pub krate: String,
    pub base: u64,
    pub now: u64,
}

impl Delta {
    pub fn bytes(&self) -> i64 {
        self.now as i64 - self.base as i64
    }
}

/// The `top` largest per-symbol changes (by absolute bytes) from `base` to
/// `now`, symbols matched by demangled name; unchanged symbols are left out.
pub fn deltas(base: &[Named], now: &[Named], top: usize) -> Vec<Delta> {
    let mut map: BTreeMap<&str, Delta> = BTreeMap::new();
    for (list, is_base) in [(base, true), (now, false)] {
        for s in list {
            let d = map.entry(&s.name).or_insert_with(|| Delta {
                name: s.name.clone(),
                krate: s.krate.clone(),
                base: 0,
                now: 0,
            });
            if is_base {
                d.base += s.size;
            } else {
                d.now += s.size;
            }
        }
    }
    let mut out: Vec<Delta> = map.into_values().filter(|d| d.base != d.now).collect();
    out.sort_by(|a, b| {
        b.bytes()
            .unsigned_abs()
            .cmp(&a.bytes().unsigned_abs())
            .then_with(|| a.name.cmp(&b.name))
    });
    out.truncate(top);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_of_paths_and_impls() {
        assert_eq!(crate_of("core::fmt::write"), "core");
        assert_eq!(
            crate_of("<fw_tests::Foo as core::fmt::Debug>::fmt"),
            "fw_tests"
        );
        assert_eq!(crate_of("<&mut T as core::fmt::Write>::write_str"), "core");
        assert_eq!(crate_of("<usize as core::fmt::Display>::fmt"), "core");
        assert_eq!(crate_of("<[T]>::sort"), PRIMITIVE);
        assert_eq!(
            crate_of("<kernel::Vec<u8, 4> as core::ops::Drop>::drop"),
            "kernel"
        );
        assert_eq!(crate_of("kernel::arch::Shared<T>::with"), "kernel");
        assert_eq!(crate_of("kernel::sched::switch"), "kernel");
    }

    #[test]
    fn demangles_legacy_names_without_hash() {
        let (n, rust) = name("_ZN4core3fmt5write17h0123456789abcdefE");
        assert!(rust);
        assert_eq!(n, "core::fmt::write");
        assert_eq!(name("memcpy"), ("memcpy".to_string(), false));
    }
}
