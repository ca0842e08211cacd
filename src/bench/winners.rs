//! `dak tune`'s decision: the winning variant per tuning-cache key from benchmark rows (the
//! cache itself, [`crate::tune`], sits below the ops and knows nothing of benchmarks).

use super::BenchRow;
use std::collections::BTreeMap;

/// Winners from benchmark rows: `group(row)` gives the keys a row counts toward and the name
/// recorded for its variant there. Per key, the variant with the smallest total median time
/// among those that ran and validated on every shape of that key wins.
pub fn winners(
    rows: &[BenchRow],
    group: impl Fn(&BenchRow) -> Vec<(String, String)>,
) -> (
    BTreeMap<String, String>,
    BTreeMap<String, BTreeMap<String, f64>>,
) {
    // key -> shapes seen; key -> variant -> (ok shapes, total ms)
    let mut shapes: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut per: BTreeMap<String, BTreeMap<String, (usize, f64)>> = BTreeMap::new();
    for r in rows {
        for (key, name) in group(r) {
            shapes.entry(key.clone()).or_default().insert(format!(
                "{}|{}",
                r.shape,
                kernel_pass(&r.kernel)
            ));
            if r.ok() {
                let e = per.entry(key).or_default().entry(name).or_insert((0, 0.0));
                e.0 += 1;
                e.1 += r.median_ms;
            }
        }
    }
    let mut choices = BTreeMap::new();
    let mut totals = BTreeMap::new();
    for (key, variants) in per {
        let need = shapes.get(&key).map_or(0, |s| s.len());
        let complete: BTreeMap<String, f64> = variants
            .into_iter()
            .filter(|(_, (n, _))| *n == need)
            .map(|(v, (_, ms))| (v, ms))
            .collect();
        if let Some((best, _)) = complete.iter().min_by(|a, b| a.1.total_cmp(b.1)) {
            choices.insert(key.clone(), best.clone());
        }
        totals.insert(key, complete);
    }
    (choices, totals)
}

/// The pass part of a conv id (`conv2d.fwd.direct` -> `fwd`), empty for others: rows of one
/// shape but different passes are different measurements.
fn kernel_pass(id: &str) -> &str {
    let mut parts = id.split('.');
    match (parts.next(), parts.next()) {
        (Some("conv2d"), Some(pass)) => pass,
        _ => "",
    }
}
