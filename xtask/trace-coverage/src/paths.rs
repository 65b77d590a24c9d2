//! Source paths as reports key them: prefixes stripped, lexically
//! normalised, optionally limited to source roots.

/// How DWARF file paths become report paths.
#[derive(Debug, Clone, Default)]
pub struct SourcePaths {
    /// Normalised prefixes, longest first.
    strip: Vec<String>,
    /// Normalised roots; empty means every file.
    roots: Vec<String>,
}

impl SourcePaths {
    /// `strip`: prefixes to remove from the start of paths, such as the
    /// `TO` of a build's `--remap-path-prefix FROM=TO` or the checkout's
    /// absolute path; the longest that matches whole path components wins.
    /// `roots`: report only files under one of these (after stripping); no
    /// roots, every file.
    pub fn new(
        strip: impl IntoIterator<Item = String>,
        roots: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut strip: Vec<String> = strip.into_iter().map(|p| normalise(&p)).collect();
        strip.sort_by_key(|p| std::cmp::Reverse(p.len()));
        SourcePaths {
            strip,
            roots: roots.into_iter().map(|p| normalise(&p)).collect(),
        }
    }

    /// The report path of DWARF path `raw`: normalised (`.` and empty
    /// components dropped, `a/../` folded), then the longest matching strip
    /// prefix removed, leaving a relative path.
    pub fn report_path(&self, raw: &str) -> String {
        let path = normalise(raw);
        self.strip
            .iter()
            .find_map(|prefix| strip_components(&path, prefix))
            .map(|rest| {
                if rest.is_empty() {
                    ".".into()
                } else {
                    rest.to_owned()
                }
            })
            .unwrap_or(path)
    }

    /// Whether report path `path` is under one of the roots.
    pub fn keep(&self, path: &str) -> bool {
        self.roots.is_empty()
            || self
                .roots
                .iter()
                .any(|root| strip_components(path, root).is_some())
    }
}

/// `path` without `prefix` when `prefix` is a run of whole leading
/// components of it (`"."` is a prefix of every relative path).
fn strip_components<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix == "." {
        return (!path.starts_with('/')).then_some(path);
    }
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() || prefix.ends_with('/') {
        Some(rest)
    } else {
        rest.strip_prefix('/')
    }
}

/// Lexical normalisation, `/`-separated, without touching the file system.
fn normalise(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|last| *last != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            part => parts.push(part),
        }
    }
    match (absolute, parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".into(),
        (false, false) => parts.join("/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_and_stripping() {
        let paths = SourcePaths::new(["/build/ws".into(), "/build".into()], []);
        assert_eq!(
            paths.report_path("/build/ws/firmware/kernel/src/sched.rs"),
            "firmware/kernel/src/sched.rs"
        );
        assert_eq!(paths.report_path("/build/other/x.rs"), "other/x.rs");
        // Whole components only.
        assert_eq!(paths.report_path("/build/wsx/y.rs"), "wsx/y.rs");
        // What `--remap-path-prefix=<root>=.` leaves in the DWARF.
        assert_eq!(
            paths.report_path("./firmware/kernel/src/../src/lib.rs"),
            "firmware/kernel/src/lib.rs"
        );
        assert_eq!(
            paths.report_path("/rustc/abc/library/core/src/fmt/mod.rs"),
            "/rustc/abc/library/core/src/fmt/mod.rs"
        );
    }

    #[test]
    fn roots_keep_whole_components() {
        let paths = SourcePaths::new([], ["./firmware/kernel/src/".into()]);
        assert!(paths.keep("firmware/kernel/src/sched.rs"));
        assert!(!paths.keep("firmware/kernel/srcx/a.rs"));
        assert!(!paths.keep("/rustc/abc/library/core/src/lib.rs"));
        assert!(SourcePaths::default().keep("anything"));
    }
}
