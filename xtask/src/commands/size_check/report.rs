//! What a size check reports, per image: the JSON object (`--json`, and
//! `<target_dir>/reports/size.json`), the terminal table and the Markdown
//! table for a pull-request comment. All sizes are in bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::check::percent;
use super::stack::top;
use super::symbols::{Delta, Named, by_crate};
use crate::cargo::Profile;
use crate::elf::{Section, SectionKind, Segment, Usage};
use crate::image::ImageId;
use crate::qemu::stack::TaskStack;

#[derive(Debug, Serialize)]
pub struct ImageReport {
    /// `<board>/<package>/<bin>` for workspace images, `<board>/<file>` for `--elf`.
    pub image: ImageId,
    pub board: String,
    /// The build profile of a workspace image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    pub elf: String,
    /// `EM_ARM` or `EM_RISCV`.
    pub machine: &'static str,
    pub flash_bytes: u64,
    pub ram_bytes: u64,
    /// `flash` and `ram`.
    pub regions: BTreeMap<&'static str, RegionReport>,
    pub sections: Sections,
    pub segments: Vec<Segment>,
    /// Against the baseline or `--compare-to`, when it lists this image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deltas: Option<Deltas>,
    /// With `--symbols N`: the top N symbols.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbols: Option<Vec<Named>>,
    /// Each task's peak stack use, when the suite report `stack_source`
    /// ran this very ELF (empty then means: no tasks).
    pub stack: Vec<TaskStack>,
    /// The suite report the peaks come from; `None`: not measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_source: Option<String>,
    pub failures: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RegionReport {
    pub origin: u64,
    pub length: u64,
    pub used: u64,
    /// The tightest absolute limit (at most the region's length).
    pub limit: u64,
    pub limit_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Sections {
    pub text: u64,
    pub rodata: u64,
    pub data: u64,
    pub bss: u64,
    /// `.stack`, `.heap`, `.uninit`: RAM reserved without variables in it.
    pub reserved: u64,
    pub list: Vec<Section>,
}

#[derive(Debug, Serialize)]
pub struct Deltas {
    /// Where the base sizes came from.
    pub baseline: String,
    pub flash_bytes: i64,
    pub ram_bytes: i64,
    /// Change of the largest task peak, when both sides measured one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_peak_bytes: Option<i64>,
    /// Per-symbol changes, when both ELFs were available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbols: Option<Vec<Delta>>,
}

impl Sections {
    pub fn of(usage: &Usage) -> Self {
        Self {
            text: usage.split(SectionKind::Text),
            rodata: usage.split(SectionKind::Rodata),
            data: usage.split(SectionKind::Data),
            bss: usage.split(SectionKind::Bss),
            reserved: usage.split(SectionKind::Reserved),
            list: usage.sections.clone(),
        }
    }
}

fn signed(v: i64) -> String {
    if v > 0 {
        format!("+{v}")
    } else {
        v.to_string()
    }
}

fn delta_cells(r: &RegionReport) -> (String, String, String) {
    match r.base {
        Some(base) => {
            let d = r.used as i64 - base as i64;
            (
                base.to_string(),
                signed(d),
                format!(
                    "{}{:.2} %",
                    if d > 0 { "+" } else { "" },
                    percent(d as f64, base)
                ),
            )
        }
        None => ("—".into(), "—".into(), "—".into()),
    }
}

/// Every failure line of `reports`, then the images `missing` from the build.
pub fn all_failures<'a>(reports: &'a [ImageReport], missing: &'a [String]) -> Vec<&'a String> {
    reports
        .iter()
        .flat_map(|r| &r.failures)
        .chain(missing)
        .collect()
}

/// The terminal table: one row per image and region, then the section split.
pub fn table(reports: &[ImageReport]) -> String {
    let width = reports
        .iter()
        .map(|r| r.image.to_string().len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:width$}  {:6} {:>9} {:>9} {:>6} {:>9} {:>8} {:>9}",
        "image", "region", "used B", "limit B", "use", "base B", "Δ B", "Δ %"
    );
    for r in reports {
        let image = r.image.to_string();
        for (i, (name, region)) in r.regions.iter().enumerate() {
            let (base, d, dp) = delta_cells(region);
            let _ = writeln!(
                out,
                "{:width$}  {:6} {:>9} {:>9} {:>5.1}% {:>9} {:>8} {:>9}",
                if i == 0 { image.as_str() } else { "" },
                name,
                region.used,
                region.limit,
                percent(region.used as f64, region.limit),
                base,
                d,
                dp
            );
        }
        let s = &r.sections;
        let reserved: Vec<String> = s
            .list
            .iter()
            .filter(|x| x.kind == SectionKind::Reserved)
            .map(|x| format!("{} {}", x.name, x.size))
            .collect();
        let _ = writeln!(out, "{:width$}  stack {}", "", stack_cell(r));
        let _ = writeln!(
            out,
            "{:width$}  text {}  rodata {}  data {}  bss {}  reserved {}{}",
            "",
            s.text,
            s.rodata,
            s.data,
            s.bss,
            s.reserved,
            if reserved.is_empty() {
                String::new()
            } else {
                format!(" ({})", reserved.join(", "))
            }
        );
    }
    out
}

/// The top symbols of each report that has them, and their bytes per crate.
pub fn symbol_tables(reports: &[ImageReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let Some(symbols) = &r.symbols else { continue };
        let _ = writeln!(out, "\n{}: top {} symbols", r.image, symbols.len());
        let _ = writeln!(out, "{:>8}  {:6} {:20} name", "bytes", "region", "crate");
        for s in symbols {
            let _ = writeln!(
                out,
                "{:>8}  {:6} {:20} {}",
                s.size,
                s.region.unwrap_or("-"),
                s.krate,
                s.name
            );
        }
        let _ = writeln!(out, "{:>8}  by crate (top symbols only)", "bytes");
        for (krate, bytes) in by_crate(symbols) {
            let _ = writeln!(out, "{bytes:>8}  {krate}");
        }
    }
    out
}

/// The image's stack peak in words: `monitor 248 of 1024 B (Δ +8 B)`,
/// `no tasks`, or `not measured`.
fn stack_cell(r: &ImageReport) -> String {
    if r.stack_source.is_none() {
        return "not measured".into();
    }
    let Some(t) = top(&r.stack) else {
        return "no tasks".into();
    };
    let delta = r
        .deltas
        .as_ref()
        .and_then(|d| d.stack_peak_bytes)
        .map(|d| format!(" (Δ {} B)", signed(d)))
        .unwrap_or_default();
    format!("{} {} of {} B{delta}", t.task, t.peak_bytes, t.size_bytes)
}

/// The stack peaks section of the pull-request comment: the suite report
/// `source` the peaks come from, the images whose peak changed (the rest
/// folded away), and the images without tasks or not measured.
fn stack_section(out: &mut String, reports: &[ImageReport], source: &str) {
    if reports.iter().all(|r| r.stack_source.is_none()) {
        let _ = writeln!(
            out,
            "\n### Stack peaks\n\nNot measured: `{source}` ran none of these ELFs \
             (run `cargo xtask qemu` before `cargo xtask size-check`)."
        );
        return;
    }
    let _ = writeln!(
        out,
        "\n### Stack peaks\n\nThe largest task peak per image, from `{source}`, \
         for the ELFs it ran that are byte for byte the ones checked here.\n"
    );
    let measured: Vec<&ImageReport> = reports
        .iter()
        .filter(|r| r.stack_source.is_some() && !r.stack.is_empty())
        .collect();
    let (shown, unchanged): (Vec<&ImageReport>, Vec<&ImageReport>) = measured
        .iter()
        .partition(|r| r.deltas.as_ref().and_then(|d| d.stack_peak_bytes) != Some(0));
    if !shown.is_empty() {
        stack_rows(out, &shown);
    }
    if !unchanged.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>{} image(s) with unchanged peaks</summary>\n",
            unchanged.len()
        );
        stack_rows(out, &unchanged);
        out.push_str("\n</details>\n");
    }
    for (what, names) in [
        (
            "No tasks (exit before `kernel::start`)",
            names(reports, |r| r.stack_source.is_some() && r.stack.is_empty()),
        ),
        (
            "Not measured (not run by that suite report, or another build)",
            names(reports, |r| r.stack_source.is_none()),
        ),
    ] {
        if !names.is_empty() {
            let _ = writeln!(out, "\n{what}: {}.", names.join(", "));
        }
    }
}

fn names(reports: &[ImageReport], pick: impl Fn(&ImageReport) -> bool) -> Vec<String> {
    reports
        .iter()
        .filter(|r| pick(r))
        .map(|r| format!("`{}`", r.image))
        .collect()
}

fn stack_rows(out: &mut String, reports: &[&ImageReport]) {
    let _ = writeln!(
        out,
        "| image | task | peak B | stack B | use | base B | Δ B |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|");
    for r in reports {
        let Some(t) = top(&r.stack) else { continue };
        let delta = r.deltas.as_ref().and_then(|d| d.stack_peak_bytes);
        let (base, d) = match delta {
            Some(d) => ((t.peak_bytes as i64 - d).to_string(), signed(d)),
            None => ("—".into(), "—".into()),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {:.0} % | {base} | {d} |",
            r.image,
            t.task,
            t.peak_bytes,
            t.size_bytes,
            percent(t.peak_bytes as f64, t.size_bytes)
        );
    }
}

fn size_rows(out: &mut String, reports: &[&ImageReport]) {
    let _ = writeln!(out, "| image | region | base | now | Δ bytes | Δ % |");
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|");
    for r in reports {
        for (name, region) in &r.regions {
            let (base, d, dp) = delta_cells(region);
            let _ = writeln!(
                out,
                "| `{}` | {name} | {base} | {} | {d} | {dp} |",
                r.image, region.used
            );
        }
    }
}

/// The pull-request comment: a table of image, region, base, now, Δ bytes
/// and Δ % (unchanged images folded into a `<details>` block), the failures, and the top symbol deltas where both ELFs were
/// available.
pub fn markdown(reports: &[ImageReport], missing: &[String], peaks: &str) -> String {
    // Changed, new and failing images first; the rest folded away.
    let (shown, unchanged): (Vec<&ImageReport>, Vec<&ImageReport>) =
        reports.iter().partition(|r| {
            !r.failures.is_empty() || r.regions.values().any(|g| g.base != Some(g.used))
        });
    let mut out = String::from("## Firmware size\n\n");
    if shown.is_empty() {
        out.push_str("No image changed size.\n");
    } else {
        size_rows(&mut out, &shown);
    }
    if !unchanged.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>{} unchanged image(s)</summary>\n",
            unchanged.len()
        );
        size_rows(&mut out, &unchanged);
        out.push_str("\n</details>\n");
    }
    stack_section(&mut out, reports, peaks);
    let failures = all_failures(reports, missing);
    if failures.is_empty() {
        out.push_str("\n✅ All images are within their budgets.\n");
    } else {
        let _ = writeln!(out, "\n❌ {} size check(s) failed:\n", failures.len());
        for f in failures {
            let _ = writeln!(out, "- `{f}`");
        }
    }
    for r in reports {
        let Some(deltas) = r.deltas.as_ref().and_then(|d| d.symbols.as_ref()) else {
            continue;
        };
        let _ = writeln!(out, "\n### Top symbol deltas: `{}`\n", r.image);
        if deltas.is_empty() {
            out.push_str("No symbol changed size.\n");
            continue;
        }
        let _ = writeln!(out, "| symbol | crate | base | now | Δ bytes |");
        let _ = writeln!(out, "|---|---|--:|--:|--:|");
        for d in deltas {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                d.name.replace('|', "\\|").replace('`', "'"),
                d.krate,
                d.base,
                d.now,
                signed(d.bytes())
            );
        }
    }
    out
}
