//! The failure rules. Each failure is one line naming the image and the
//! region with used, limit and overshoot in bytes and %, e.g.
//! `lm3s6965evb/fw-tests/sched: flash 8193 B > limit 8192 B (+1 B, +0.01 %)`.

use super::baseline::Record;
use super::budget::Amount;

/// `part` as a percentage of `whole`; 0 when `whole` is 0.
pub fn percent(part: f64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part * 100.0 / whole as f64
    }
}

/// `image`'s `region` uses `used` bytes against an absolute `limit` whose
/// origin is `source`; a failure when `used > limit`.
pub fn over_limit(
    image: &str,
    region: &str,
    used: u64,
    limit: u64,
    source: &str,
) -> Option<String> {
    (used > limit).then(|| {
        let over = used - limit;
        format!(
            "{image}: {region} {used} B > limit {limit} B (+{over} B, +{:.2} %) [{source}]",
            percent(over as f64, limit)
        )
    })
}

/// Growth from `base` to `now` bytes against `threshold` (bytes, or % of
/// `base`); a failure when `now > base + threshold`. The limit is stated as
/// the absolute size it allows.
pub fn over_growth(
    image: &str,
    region: &str,
    now: u64,
    base: u64,
    threshold: Amount,
    baseline: &str,
) -> Option<String> {
    let limit = base.saturating_add(threshold.bytes_of(base));
    (now > limit).then(|| {
        let over = now - limit;
        let growth = now - base;
        format!(
            "{image}: {region} {now} B > limit {limit} B (+{over} B, +{:.2} %) [grew +{growth} B (+{:.2} %) from {base} B in {baseline}, max growth {threshold}]",
            percent(over as f64, limit),
            percent(growth as f64, base),
        )
    })
}

/// An image of the baseline that the build no longer produces.
pub fn missing(record: &Record, baseline: &str) -> String {
    format!(
        "{}: in {baseline} (flash {} B, ram {} B) but missing from the build; run `cargo xtask size-check --update-baseline` if it was removed on purpose",
        record.image, record.flash_bytes, record.ram_bytes
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_overshoot_is_stated_exactly() {
        let m = over_limit("arm/x", "flash", 8193, 8192, "--flash-limit").unwrap();
        assert_eq!(
            m,
            "arm/x: flash 8193 B > limit 8192 B (+1 B, +0.01 %) [--flash-limit]"
        );
        assert_eq!(over_limit("arm/x", "flash", 8192, 8192, "b"), None);
    }

    #[test]
    fn growth_states_the_limit_it_allows() {
        let m = over_growth("a/x", "ram", 1020, 1000, Amount::Percent(1.0), "base.json").unwrap();
        assert!(
            m.starts_with("a/x: ram 1020 B > limit 1010 B (+10 B, +0.99 %)"),
            "{m}"
        );
        assert!(m.contains("grew +20 B (+2.00 %) from 1000 B"), "{m}");
        assert_eq!(
            over_growth("a/x", "ram", 1010, 1000, Amount::Percent(1.0), "b"),
            None
        );
        assert_eq!(
            over_growth("a/x", "ram", 900, 1000, Amount::Bytes(0), "b"),
            None
        );
    }
}
