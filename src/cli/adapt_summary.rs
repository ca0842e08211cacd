//! The table `dak adapt` prints at the end of a run: one column per method.

use crate::train::RunSummary;

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v))
}

fn num(v: Option<f64>, d: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.d$}"))
}

/// Prints the summary table: one column per run.
pub fn print_summary(runs: &[RunSummary]) {
    let mut header = vec!["".to_string()];
    header.extend(runs.iter().map(|r| r.method.clone()));
    let row = |name: &str, f: &dyn Fn(&RunSummary) -> String| -> Vec<String> {
        let mut r = vec![name.to_string()];
        r.extend(runs.iter().map(f));
        r
    };
    let rows = vec![
        row("target acc (last epoch)", &|r| pct(r.last.target_acc)),
        row("target acc (selected)", &|r| pct(r.target_test_acc)),
        row("selected epoch", &|r| {
            format!("{} ({})", r.selected.epoch, r.select)
        }),
        row("source acc (held-out)", &|r| pct(r.source_test_acc)),
        row("source acc (train, last)", &|r| pct(Some(r.last.train_acc))),
        row("domain acc (last)", &|r| pct(r.last.domain_acc)),
        row("target entropy (last)", &|r| num(r.last.entropy, 3)),
        row("target IM (last)", &|r| num(r.last.im, 3)),
        row("target SND (last)", &|r| num(r.last.snd, 3)),
        row("PAD before", &|r| num(r.pad_before.map(|p| p.pad), 3)),
        row("PAD after", &|r| num(r.pad_after.map(|p| p.pad), 3)),
        row("seconds / epoch", &|r| {
            format!("{:.1}", r.seconds_per_epoch)
        }),
        // A one-step run's rate includes the kernel compile: small, but not zero.
        row("images / s", &|r| match r.images_per_s {
            v if v < 10.0 => format!("{v:.2}"),
            v => format!("{v:.0}"),
        }),
        row("one-time warm-up (s)", &|r| {
            format!("{:.1}", r.warmup_seconds)
        }),
    ];
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    super::print_table(&header, &rows);
}
