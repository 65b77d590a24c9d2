//! Size budgets, read from `qemu/budgets.toml`:
//!
//! ```toml
//! max_growth = "1 %"                 # default growth threshold against the baseline
//!
//! [[budget]]
//! image = "lm3s6965evb/fw-tests/*"   # glob over `<board>/<package>/<bin>`; `*` stops at `/`
//! flash = "8 KiB"                    # bytes (integer), "N B", "N KiB", "N MiB", or "N %" of the region
//! ram = "50 %"
//! max_growth = "256 B"               # optional: "N %" of the baseline, or bytes
//! ```
//!
//! Every entry whose glob matches an image applies; the tightest limit wins.
//! A matching entry's `max_growth` replaces the file-wide default.
//!
//! `stack` (file-wide, and per entry) is the stack budget that
//! `cargo xtask qemu` holds every task of a test image to: the share of
//! its declared stack a task may peak at (`"75 %"`), or bytes. As with
//! `max_growth`, a matching entry's value replaces the file-wide one (so an
//! expected-failure image such as `stack_overflow` can be allowed `"100 %"`),
//! and the tightest matching entry wins.
//!
//! `[[coverage]]` entries are the line-coverage goals of
//! `cargo xtask qemu --coverage`, per source root:
//!
//! ```toml
//! [[coverage]]
//! root = "firmware/kernel/src"       # a source directory, relative to the workspace root
//! lines = "80 %"                     # share of its instrumented lines the suite must run
//! ```

use std::path::Path;

use anyhow::{Context, Result, bail};
use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;

use crate::qemu::stack::TaskStack;

/// A size: bytes, or a percentage of something (the region for a limit, the
/// baseline for a growth threshold).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    Bytes(u64),
    Percent(f64),
}

impl Amount {
    /// Parses `8192`, `8192 B`, `8 KiB`, `1.5 MiB` or `12.5 %`.
    ///
    /// Errors: an empty or negative number, or a unit other than B, KiB, MiB, %.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = (&t[..split], t[split..].trim());
        let value: f64 = num
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .with_context(|| format!("`{text}` does not start with a number"))?;
        let scale = match unit {
            "" | "B" => 1.0,
            "KiB" => 1024.0,
            "MiB" => 1024.0 * 1024.0,
            "%" => return Ok(Self::Percent(value)),
            other => {
                bail!("`{text}`: unknown unit `{other}`; use B, KiB, MiB or % (e.g. \"8 KiB\")")
            }
        };
        let bytes = value * scale;
        if bytes.fract() != 0.0 {
            bail!("`{text}` is not a whole number of bytes");
        }
        Ok(Self::Bytes(bytes as u64))
    }

    /// Parses an absolute limit: as [`Amount::parse`], and a percentage of
    /// the region must not exceed 100 %.
    ///
    /// Errors: see [`Amount::parse`], or a percentage over 100.
    pub fn parse_limit(text: &str) -> Result<Self> {
        let amount = Self::parse(text)?;
        if let Self::Percent(p) = amount
            && p > 100.0
        {
            bail!("`{text}` is more than the whole region (100 %)");
        }
        Ok(amount)
    }

    /// Bytes, with a percentage taken of `whole` (rounded down).
    pub fn bytes_of(self, whole: u64) -> u64 {
        match self {
            Self::Bytes(b) => b,
            Self::Percent(p) => ((whole as f64) * p / 100.0).floor() as u64,
        }
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bytes(b) => write!(f, "{b} B"),
            Self::Percent(p) => write!(f, "{p} %"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawAmount {
    Bytes(u64),
    Text(String),
}

impl RawAmount {
    fn parse(&self) -> Result<Amount> {
        match self {
            Self::Bytes(b) => Ok(Amount::Bytes(*b)),
            Self::Text(t) => Amount::parse(t),
        }
    }

    fn parse_limit(&self) -> Result<Amount> {
        match self {
            Self::Bytes(b) => Ok(Amount::Bytes(*b)),
            Self::Text(t) => Amount::parse_limit(t),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    max_growth: Option<RawAmount>,
    stack: Option<RawAmount>,
    #[serde(default)]
    budget: Vec<RawEntry>,
    #[serde(default)]
    coverage: Vec<RawGoal>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGoal {
    root: String,
    lines: RawAmount,
}

/// A line-coverage goal: at least `min_percent` of the instrumented lines
/// of the sources under `root` must run.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverageGoal {
    /// Relative to the workspace root, `/`-separated.
    pub root: String,
    pub min_percent: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    image: String,
    flash: Option<RawAmount>,
    ram: Option<RawAmount>,
    max_growth: Option<RawAmount>,
    stack: Option<RawAmount>,
}

#[derive(Debug)]
struct Entry {
    pattern: String,
    matcher: GlobMatcher,
    /// Limits with their text as written, for messages.
    flash: Option<(Amount, String)>,
    ram: Option<(Amount, String)>,
    max_growth: Option<Amount>,
    stack: Option<Amount>,
}

/// The parsed budgets file.
#[derive(Debug, Default)]
pub struct Budgets {
    max_growth: Option<Amount>,
    stack: Option<Amount>,
    entries: Vec<Entry>,
    coverage: Vec<CoverageGoal>,
}

/// The stack budget of one image: how much of its declared stack each task
/// may peak at, and where that was set.
#[derive(Debug, Clone, PartialEq)]
pub struct StackBudget {
    pub amount: Amount,
    /// `stack` (file-wide) or `budget "<glob>" stack`.
    pub source: String,
}

impl StackBudget {
    /// One failure line per task whose peak exceeds the budget, e.g.
    /// `stack: task monitor peaked at 248 of 1024 B (> 1 %)`.
    pub fn check(&self, tasks: &[TaskStack]) -> Vec<String> {
        tasks
            .iter()
            .filter(|t| t.peak_bytes > self.amount.bytes_of(t.size_bytes))
            .map(|t| {
                format!(
                    "stack: task {} peaked at {} of {} B (> {})",
                    t.task, t.peak_bytes, t.size_bytes, self.amount
                )
            })
            .collect()
    }
}

/// The limits that apply to one image and region, with where each came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Absolute limit in bytes, and its source (e.g. `budget "x/*" flash = 8 KiB`).
    pub limit: Option<(u64, String)>,
    pub max_growth: Option<Amount>,
}

impl Budgets {
    /// Reads a budgets file.
    ///
    /// Errors: the file does not exist (budgets that silently vanish would
    /// switch the checks off); errors name the file with line and column for
    /// TOML and schema errors, and the entry and field for a bad glob or
    /// amount (a limit over 100 % of the region included).
    pub fn load(path: &Path) -> Result<Self> {
        if !path.exists() {
            bail!(
                "budgets file {} does not exist; size checks need it (see README, \"Size check\"), or pass --budgets FILE",
                path.display()
            );
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid budgets file {}", path.display()))
    }

    fn parse(text: &str) -> Result<Self> {
        let file: File = toml::from_str(text)?;
        let max_growth = file
            .max_growth
            .as_ref()
            .map(RawAmount::parse)
            .transpose()
            .context("max_growth")?;
        let stack = file
            .stack
            .as_ref()
            .map(RawAmount::parse_limit)
            .transpose()
            .context("stack")?;
        let mut entries = Vec::new();
        for raw in file.budget {
            let pattern = raw.image.clone();
            let field = |name: &str, v: &Option<RawAmount>| -> Result<Option<Amount>> {
                let parse = if name == "max_growth" {
                    RawAmount::parse
                } else {
                    RawAmount::parse_limit
                };
                v.as_ref()
                    .map(parse)
                    .transpose()
                    .with_context(|| format!("budget `{pattern}`: {name}"))
            };
            let matcher = GlobBuilder::new(&raw.image)
                .literal_separator(true)
                .build()
                .with_context(|| format!("budget `{pattern}`: image is not a valid glob"))?
                .compile_matcher();
            let written = |v: &Option<RawAmount>| match v {
                Some(RawAmount::Bytes(b)) => format!("{b}"),
                Some(RawAmount::Text(t)) => format!("\"{t}\""),
                None => String::new(),
            };
            entries.push(Entry {
                flash: field("flash", &raw.flash)?.map(|a| (a, written(&raw.flash))),
                ram: field("ram", &raw.ram)?.map(|a| (a, written(&raw.ram))),
                max_growth: field("max_growth", &raw.max_growth)?,
                stack: field("stack", &raw.stack)?,
                pattern,
                matcher,
            });
        }
        let coverage = file
            .coverage
            .iter()
            .map(|g| match g.lines.parse() {
                Ok(Amount::Percent(min_percent)) => Ok(CoverageGoal {
                    root: g.root.clone(),
                    min_percent,
                }),
                _ => bail!(
                    "coverage `{}`: lines must be a percentage of the root's lines, e.g. \"80 %\"",
                    g.root
                ),
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            max_growth,
            stack,
            entries,
            coverage,
        })
    }

    /// The line-coverage goals, in file order.
    pub fn coverage(&self) -> &[CoverageGoal] {
        &self.coverage
    }

    /// The stack budget of `image` (`<board>/<package>/<bin>`): the
    /// tightest `stack` of the entries that match it, else the file-wide
    /// `stack`; `None` when neither is set. A percentage is compared with
    /// each task's own stack size.
    pub fn stack(&self, image: &str) -> Option<StackBudget> {
        let mut tightest: Option<StackBudget> = None;
        for e in self.entries.iter().filter(|e| e.matcher.is_match(image)) {
            let Some(amount) = e.stack else { continue };
            // Bytes and shares do not compare without a stack size; of two
            // kinds, the first entry's stays.
            let tighter = tightest.as_ref().is_none_or(|t| match (amount, t.amount) {
                (Amount::Percent(a), Amount::Percent(b)) => a < b,
                (Amount::Bytes(a), Amount::Bytes(b)) => a < b,
                _ => false,
            });
            if tighter {
                tightest = Some(StackBudget {
                    amount,
                    source: format!("budget `{}` stack", e.pattern),
                });
            }
        }
        tightest.or_else(|| {
            self.stack.map(|amount| StackBudget {
                amount,
                source: "stack".into(),
            })
        })
    }

    /// The patterns of the entries that match none of `names`.
    pub fn unmatched<'a>(&'a self, names: &[String]) -> Vec<&'a str> {
        self.entries
            .iter()
            .filter(|e| !names.iter().any(|n| e.matcher.is_match(n)))
            .map(|e| e.pattern.as_str())
            .collect()
    }

    /// Resolves the limits for `image` in `region` (`"flash"` or `"ram"`) of
    /// `region_len` bytes: the tightest matching absolute limit, and the
    /// tightest growth threshold for a baseline of `base` bytes.
    pub fn limits(&self, image: &str, region: &str, region_len: u64, base: u64) -> Limits {
        let mut out = Limits::default();
        // An entry's threshold replaces the file-wide default; between
        // matching entries the tightest wins.
        let mut growth_bytes: Option<u64> = None;
        for e in self.entries.iter().filter(|e| e.matcher.is_match(image)) {
            let amount = if region == "flash" { &e.flash } else { &e.ram };
            if let Some((a, a_text)) = amount {
                let bytes = a.bytes_of(region_len);
                if out.limit.as_ref().is_none_or(|(b, _)| bytes < *b) {
                    out.limit =
                        Some((bytes, format!("budget `{}` {region} = {a_text}", e.pattern)));
                }
            }
            if let Some(g) = e.max_growth {
                let bytes = g.bytes_of(base);
                if growth_bytes.is_none_or(|b| bytes < b) {
                    growth_bytes = Some(bytes);
                    out.max_growth = Some(g);
                }
            }
        }
        if out.max_growth.is_none() {
            out.max_growth = self.max_growth;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(Amount::parse("8192").unwrap(), Amount::Bytes(8192));
        assert_eq!(Amount::parse("8 KiB").unwrap(), Amount::Bytes(8192));
        assert_eq!(Amount::parse("1.5KiB").unwrap(), Amount::Bytes(1536));
        assert_eq!(Amount::parse("12.5 %").unwrap(), Amount::Percent(12.5));
        assert_eq!(Amount::Percent(50.0).bytes_of(16384), 8192);
        let e = Amount::parse("8 KB").unwrap_err().to_string();
        assert!(e.contains("unknown unit `KB`"), "{e}");
        assert!(Amount::parse("-1").is_err());
        assert!(Amount::parse("0.5 B").is_err());
        assert_eq!(
            Amount::parse_limit("100 %").unwrap(),
            Amount::Percent(100.0)
        );
        let e = Amount::parse_limit("100.5 %").unwrap_err().to_string();
        assert!(e.contains("more than the whole region"), "{e}");
        assert_eq!(Amount::parse("250 %").unwrap(), Amount::Percent(250.0));
    }

    #[test]
    fn limits_over_the_region_and_unmatched_globs_are_found() {
        let e = format!(
            "{:#}",
            Budgets::parse("[[budget]]\nimage = \"a/*/*\"\nram = \"150 %\"\n").unwrap_err()
        );
        assert!(
            e.contains("budget `a/*/*`: ram") && e.contains("100 %"),
            "{e}"
        );
        let b = Budgets::parse("max_growth = \"300 %\"\n[[budget]]\nimage = \"a/*/*\"\nflash = 1\n[[budget]]\nimage = \"lm3s/*/*\"\nflash = 1\n").unwrap();
        assert_eq!(b.unmatched(&["a/p/x".to_string()]), ["lm3s/*/*"]);
    }

    #[test]
    fn tightest_matching_limit_wins() {
        let b = Budgets::parse(
            r#"
max_growth = "1 %"
[[budget]]
image = "*/fw-tests/*"
flash = "50 %"
[[budget]]
image = "arm/fw-tests/sched"
flash = 4096
max_growth = "10 B"
"#,
        )
        .unwrap();
        let l = b.limits("arm/fw-tests/sched", "flash", 16384, 10_000);
        assert_eq!(l.limit.unwrap().0, 4096);
        assert_eq!(l.max_growth, Some(Amount::Bytes(10)));
        let l = b.limits("arm/fw-tests/other", "flash", 16384, 10_000);
        assert_eq!(l.limit.unwrap().0, 8192);
        assert_eq!(l.max_growth, Some(Amount::Percent(1.0)));
        assert!(
            b.limits("arm/fw-fixtures/pass", "ram", 1, 0)
                .limit
                .is_none()
        );
    }

    #[test]
    fn stack_budget_default_and_overrides() {
        let b = Budgets::parse(
            r#"
stack = "75 %"
[[budget]]
image = "*/fw-tests/stack_overflow"
stack = "100 %"
[[budget]]
image = "sifive_e/*/*"
stack = "90 %"
"#,
        )
        .unwrap();
        let s = b.stack("lm3s6965evb/fw-tests/sched").unwrap();
        assert_eq!(
            (s.amount, s.source.as_str()),
            (Amount::Percent(75.0), "stack")
        );
        // An override may loosen the default; the tightest override wins.
        let s = b.stack("lm3s6965evb/fw-tests/stack_overflow").unwrap();
        assert_eq!(s.amount, Amount::Percent(100.0));
        let s = b.stack("sifive_e/fw-tests/stack_overflow").unwrap();
        assert_eq!(
            (s.amount, s.source.as_str()),
            (Amount::Percent(90.0), "budget `sifive_e/*/*` stack")
        );
        assert!(Budgets::parse("").unwrap().stack("a/b/c").is_none());
        let task = |task: &str, peak_bytes, size_bytes| TaskStack {
            task: task.into(),
            peak_bytes,
            size_bytes,
        };
        let tasks = [task("monitor", 768, 1024), task("a", 769, 1024)];
        let default = b.stack("x/y/z").unwrap();
        assert_eq!(
            default.check(&tasks),
            ["stack: task a peaked at 769 of 1024 B (> 75 %)"]
        );
        let bytes = StackBudget {
            amount: Amount::Bytes(512),
            source: "--stack".into(),
        };
        assert_eq!(
            bytes.check(&[task("deep", 600, 1024)]),
            ["stack: task deep peaked at 600 of 1024 B (> 512 B)"]
        );
        let e = format!("{:#}", Budgets::parse("stack = \"lots\"").unwrap_err());
        assert!(e.contains("stack") && e.contains("lots"), "{e}");
        // A stack budget goes through the same checks as flash and RAM.
        for text in [
            "stack = \"101 %\"",
            "[[budget]]\nimage = \"a/*/*\"\nstack = \"150 %\"",
        ] {
            let e = format!("{:#}", Budgets::parse(text).unwrap_err());
            assert!(e.contains("stack") && e.contains("100 %"), "{text}: {e}");
        }
        let b = Budgets::parse("[[budget]]\nimage = \"nowhere/*/*\"\nstack = \"50 %\"\n").unwrap();
        assert_eq!(b.unmatched(&["a/p/x".to_string()]), ["nowhere/*/*"]);
    }

    #[test]
    fn coverage_goals_are_percentages() {
        let b = Budgets::parse("[[coverage]]\nroot = \"firmware/kernel/src\"\nlines = \"80 %\"\n")
            .unwrap();
        assert_eq!(
            b.coverage(),
            [CoverageGoal {
                root: "firmware/kernel/src".into(),
                min_percent: 80.0
            }]
        );
        let e = format!(
            "{:#}",
            Budgets::parse("[[coverage]]\nroot = \"k\"\nlines = 80\n").unwrap_err()
        );
        assert!(
            e.contains("coverage `k`") && e.contains("percentage"),
            "{e}"
        );
    }

    #[test]
    fn unknown_field_is_reported_with_line() {
        let e = format!(
            "{:#}",
            Budgets::parse("[[budget]]\nimage = \"x\"\nflsh = 1\n").unwrap_err()
        );
        assert!(e.contains("flsh") && e.contains("line 3"), "{e}");
    }
}
