//! The report of one image: its regions against their limits and the
//! baseline, its sections and segments, and its symbols.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow};

use super::budget::Budgets;
use super::report::{Deltas, ImageReport, RegionReport, Sections};
use super::stack::{Peaks, Source, top};
use super::symbols::{self, Delta, Named};
use super::{Args, Base, Target, check};
use crate::boards::Region;
use crate::elf::{Elf, Usage};

/// How many symbol deltas the Markdown report lists per image.
const TOP_SYMBOL_DELTAS: usize = 10;

/// Checks `t` against the budgets and `base` and builds its report, with
/// its stack peaks when `peaks` ran this very ELF.
///
/// Errors: a symbol table that cannot be read, when symbols are needed.
pub fn report(
    args: &Args,
    budgets: &Budgets,
    base: Option<&Base>,
    (t, usage): (&Target, &Usage),
    peaks: &Source,
) -> Result<ImageReport> {
    let record = base.and_then(|b| b.records.get(&t.image));
    let mut failures = Vec::new();
    let mut regions = BTreeMap::new();
    for (region, used, cli) in [
        (Region::Flash, usage.flash_bytes, args.flash_limit),
        (Region::Ram, usage.ram_bytes, args.ram_limit),
    ] {
        let base_bytes = record.map(|r| match region {
            Region::Flash => r.flash_bytes,
            Region::Ram => r.ram_bytes,
        });
        let check = RegionCheck {
            args,
            budgets,
            base,
            t,
        };
        let (report, failed) = check.region(region, used, cli, base_bytes);
        failures.extend(failed);
        regions.insert(region.name(), report);
    }
    let base_elf = record.and_then(|r| r.elf.as_ref()).filter(|p| p.is_file());
    let (named_now, symbol_deltas) = symbol_parts(args, t, base_elf)?;
    let (stack, stack_source) = match peaks.peaks(&crate::image::digest(&t.data)) {
        Peaks::Measured(tasks) => (tasks, Some(peaks.label.clone())),
        Peaks::NotMeasured => (Vec::new(), None),
    };
    let deltas = match (base, record) {
        (Some(b), Some(r)) => Some(Deltas {
            baseline: b.label.clone(),
            flash_bytes: usage.flash_bytes as i64 - r.flash_bytes as i64,
            ram_bytes: usage.ram_bytes as i64 - r.ram_bytes as i64,
            stack_peak_bytes: top(&stack)
                .zip(top(&r.stack))
                .map(|(now, was)| now.peak_bytes as i64 - was.peak_bytes as i64),
            symbols: symbol_deltas,
        }),
        _ => None,
    };
    Ok(ImageReport {
        image: t.image.clone(),
        board: t.board.name.clone(),
        profile: t.profile,
        elf: t.elf.display().to_string(),
        machine: usage.machine.name(),
        flash_bytes: usage.flash_bytes,
        ram_bytes: usage.ram_bytes,
        regions,
        sections: Sections::of(usage),
        segments: usage.segments.clone(),
        deltas,
        symbols: args.symbols.and_then(|n| {
            named_now.map(|mut v| {
                v.truncate(n);
                v
            })
        }),
        stack,
        stack_source,
        failures,
    })
}

/// What one region of one image is checked against.
struct RegionCheck<'a> {
    args: &'a Args,
    budgets: &'a Budgets,
    base: Option<&'a Base>,
    t: &'a Target,
}

impl RegionCheck<'_> {
    /// The region's report and its failures: the tightest absolute limit
    /// (`--flash-limit`/`--ram-limit`, else the budgets, never more than
    /// the region), and the growth over the baseline.
    fn region(
        &self,
        region: Region,
        used: u64,
        cli: Option<super::budget::Amount>,
        base_bytes: Option<u64>,
    ) -> (RegionReport, Vec<String>) {
        let (t, name) = (self.t, region.name());
        let span = t.board.memory_map().span(region);
        let image = t.image.to_string();
        let limits = self
            .budgets
            .limits(&image, name, span.length, base_bytes.unwrap_or(0));
        let whole = (span.length, format!("{name} region of {}", t.board.name));
        let (mut limit, mut source) = match cli {
            Some(a) => (a.bytes_of(span.length), format!("--{name}-limit {a}")),
            None => limits.limit.unwrap_or_else(|| whole.clone()),
        };
        if span.length < limit {
            (limit, source) = whole;
        }
        let mut failures: Vec<String> = check::over_limit(&image, name, used, limit, &source)
            .into_iter()
            .collect();
        if let (Some(b), Some(base_bytes), Some(threshold)) = (
            self.base,
            base_bytes,
            self.args.max_growth.or(limits.max_growth),
        ) {
            failures.extend(check::over_growth(
                &image, name, used, base_bytes, threshold, &b.label,
            ));
        }
        let report = RegionReport {
            origin: span.origin,
            length: span.length,
            used,
            limit,
            limit_source: source,
            base: base_bytes,
        };
        (report, failures)
    }
}

/// The image's named symbols, and their deltas against a base ELF.
type SymbolParts = (Option<Vec<Named>>, Option<Vec<Delta>>);

/// The image's named symbols (when `--symbols` or a base ELF needs them)
/// and the per-symbol deltas against the base ELF.
///
/// Errors: a symbol table that cannot be read, or an unreadable base ELF.
fn symbol_parts(
    args: &Args,
    t: &Target,
    base_elf: Option<&std::path::PathBuf>,
) -> Result<SymbolParts> {
    if args.symbols.is_none() && base_elf.is_none() {
        return Ok((None, None));
    }
    let map = t.board.memory_map();
    let list = t
        .parse()?
        .symbols(map)
        .map_err(|e| anyhow!("{}: {e}", t.elf.display()))?;
    let now = symbols::named(&list);
    let Some(path) = base_elf else {
        return Ok((Some(now), None));
    };
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let base = Elf::parse(&data)
        .and_then(|e| e.symbols(map))
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let top = args.symbols.unwrap_or(TOP_SYMBOL_DELTAS);
    let deltas = symbols::deltas(&symbols::named(&base), &now, top);
    Ok((Some(now), Some(deltas)))
}
