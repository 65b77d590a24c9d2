//! Line coverage merged over runs and images, and its lcov and Markdown
//! forms.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    io::Write as _,
    path::Path,
};

use crate::{Executed, Image, SourcePaths};

/// Per source file (report path), per line: how often it ran; every line
/// any row of any image maps to is present, with 0 when it never ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    files: BTreeMap<String, BTreeMap<u32, u64>>,
}

/// Lines of one file, or of all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Instrumented lines: lines some DWARF row maps code to (lcov `LF`).
    pub found: usize,
    /// Instrumented lines that ran at least once (lcov `LH`).
    pub hit: usize,
}

impl Counts {
    /// `hit` as a percentage of `found` (0 when nothing was found).
    pub fn percent(&self) -> f64 {
        if self.found == 0 {
            0.0
        } else {
            100.0 * self.hit as f64 / self.found as f64
        }
    }
}

impl Coverage {
    /// Adds one run of `image` whose log gave `executed`.
    ///
    /// Within the run, a line's count is the largest count of any executed
    /// instruction that overlaps one of its rows (so a line that ran is
    /// counted at least once, and a loop line about as often as the loop
    /// ran); across runs and images, counts of the same report path and line
    /// add up, as `lcov --add-tracefile` adds them. Files `paths` does not
    /// keep are left out.
    pub fn add_run(&mut self, image: &Image, executed: &Executed, paths: &SourcePaths) {
        let mut run: HashMap<(usize, u32), u64> = HashMap::new();
        for row in image.rows() {
            let count = executed.max_count(row.start..row.end);
            let entry = run.entry((row.file, row.line)).or_default();
            *entry = (*entry).max(count);
        }
        let report_paths: Vec<String> = image
            .files()
            .iter()
            .map(|raw| paths.report_path(raw))
            .collect();
        for ((file, line), count) in run {
            let path = &report_paths[file];
            if paths.keep(path) {
                let lines = self.files.entry(path.clone()).or_default();
                *lines.entry(line).or_default() += count;
            }
        }
    }

    /// Per file: line → count, by report path.
    pub fn files(&self) -> &BTreeMap<String, BTreeMap<u32, u64>> {
        &self.files
    }

    /// Counts for one file's lines.
    pub fn counts(lines: &BTreeMap<u32, u64>) -> Counts {
        Counts {
            found: lines.len(),
            hit: lines.values().filter(|&&count| count > 0).count(),
        }
    }

    /// Counts over all files.
    pub fn total(&self) -> Counts {
        self.files
            .values()
            .map(Self::counts)
            .fold(Counts { found: 0, hit: 0 }, |a, b| Counts {
                found: a.found + b.found,
                hit: a.hit + b.hit,
            })
    }

    /// The lcov tracefile (geninfo(1), "TRACEFILE FORMAT"): per file
    /// `TN:<test_name>`, `SF:<report path>`, `DA:<line>,<count>` by line,
    /// `LF:`, `LH:`, `end_of_record`. Relative `SF` paths are resolved by
    /// genhtml from its working directory, so run it where the strip prefix
    /// pointed (the workspace root).
    pub fn to_lcov(&self, test_name: &str) -> String {
        let mut out = String::new();
        for (path, lines) in &self.files {
            let counts = Self::counts(lines);
            let _ = writeln!(out, "TN:{test_name}\nSF:{path}");
            for (line, count) in lines {
                let _ = writeln!(out, "DA:{line},{count}");
            }
            let _ = writeln!(out, "LF:{}\nLH:{}\nend_of_record", counts.found, counts.hit);
        }
        out
    }

    /// A Markdown table: one row per file (path, lines hit, lines, %), then
    /// the total.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("| file | lines hit | lines | % |\n|---|---:|---:|---:|\n");
        let row = |out: &mut String, name: &str, c: Counts| {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {:.1} |",
                c.hit,
                c.found,
                c.percent()
            );
        };
        for (path, lines) in &self.files {
            row(&mut out, &format!("`{path}`"), Self::counts(lines));
        }
        row(&mut out, "**total**", self.total());
        out
    }
}

/// Writes `contents` to `path` atomically: a unique temporary file in the
/// same directory (created if missing), then a rename over `path`, so a
/// reader sees the old file or the new one, never part of one.
///
/// # Errors
///
/// The I/O error of creating the directory, or of creating, writing or
/// renaming the temporary file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    // A report is for everyone to read, not private like a temporary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
