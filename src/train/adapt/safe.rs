//! The safety rule of `--select safe`, the default pick of `dak adapt --compare`: source-only
//! (the baseline) is always a candidate, and an adapted method replaces it only when two
//! independent kinds of evidence say it is better.
//!
//! Rule: each run's candidate is its model after the last epoch (the learning rate has
//! decayed; an ensemble of epochs favours the middle of training, which measured worse).
//! 0. **Is there a shift?** If source-only is as sure of the target images as of held-out
//!    source images (mean top probability, `src − tgt ≤ 2·√(se_src² + se_tgt²)`) *and* its
//!    features tell the two apart no better than its class probabilities do
//!    ([`DomainShift::covariate`]: under label shift alone the best domain classifier reads the
//!    predicted class), the target looks like its own domain: adaptation corrects covariate
//!    shift and has nothing to correct, while every alignment method shares the same risk
//!    (pulling frequent target classes into rare ones under label shift, measured 1.4-3.5
//!    points under source-only). Keep it. The second test is there because confidence alone is
//!    fooled by a model that is confidently wrong on a shifted domain (measured: a colour
//!    overlay the source never had, 31% accurate at source-level confidence).
//! 1. **Proposal** — the challengers are the adapted runs whose target predictions carry more
//!    information than the baseline's, by information maximisation `IM = H(mean p) − mean H(p)`
//!    (confident *and* class-diverse).
//! 2. **Corroboration** — on the score-set images where a challenger `k` changed the
//!    baseline's answer (`D = {i : v_ki ≠ v_bi}`), another adapted run `j` witnesses it when it
//!    sides with the challenger more than with the baseline beyond the noise: with
//!    `z_i = [v_ji = v_ki] − [v_ji = v_bi]` over `D`, `mean(z) > 2 · sd(z) / √|D|` (a paired
//!    test, about 97.5% one-sided). `mean(z)` is the net share of the changed answers the
//!    witness confirms.
//! 3. The pick is the witnessed proposal with the strongest witness (the largest `mean(z)`),
//!    unless other witnessed proposals are as strongly witnessed within the noise
//!    (`mean(z*) − mean(z_k) ≤ 2·√(se*² + se_k²)`): among those, the higher IM. With no
//!    witnessed proposal, the baseline. Evidence decides who wins, and where it cannot tell
//!    two proposals apart, the proposal order does: ranking by IM alone let a confident MCC
//!    with a barely significant witness win where a better-corroborated method was 9 points
//!    better; ranking by the witnesses' means alone let a difference of 0.008 (2 se 0.06)
//!    pick a method 7.6 points under one with twice its IM (docs/selection.md).
//!
//! Why it is sound: a method that fails in its own way — MCC collapsing the target onto a few
//! confident clusters, an adversarial run that diverged — wins confidence scores (entropy,
//! IM, SND) but changes the baseline's answers in ways no other method repeats, so it is not
//! corroborated. A correction towards the true classes is a fixed point that independently
//! trained methods find too. Requiring both (a proposal from the target's own cluster
//! structure, a witness from another run) keeps the baseline when the evidence for a change is
//! weak, the cheap error: not adapting costs the gain that was available, a wrong switch can
//! cost far more. What it cannot see: a mistake every adapted method shares while a real
//! covariate shift is present (step 0 covers label shift without one); `docs/selection.md`
//! measures the rule on pairs of both kinds.

use super::ensv_hard;
use crate::train::metrics::DomainShift;

/// One run's candidate as the rule reads it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The method's name (for the reason line).
    pub method: &'a str,
    /// Class probabilities on the score set, rows of the model's classes.
    pub probs: &'a [f32],
    /// Information maximisation of those predictions.
    pub im: f64,
}

/// What the rule decided, and why (for the run's output and metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Index of the picked candidate.
    pub picked: usize,
    /// One line: why the pick is what it is.
    pub why: String,
}

/// Mean and standard error of `z_i = [j_i = k_i] − [j_i = b_i]` over the rows where `k` and
/// `b` differ, and how many rows that is.
pub fn corroboration(j: &[usize], k: &[usize], b: &[usize]) -> (f64, f64, usize) {
    let z: Vec<f64> = (0..k.len())
        .filter(|&i| k[i] != b[i])
        .map(|i| (j[i] == k[i]) as i32 as f64 - (j[i] == b[i]) as i32 as f64)
        .collect();
    let n = z.len();
    if n < 2 {
        return (0.0, f64::INFINITY, n);
    }
    let mean = z.iter().sum::<f64>() / n as f64;
    let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, (var / n as f64).sqrt(), n)
}

/// Applies the rule; `baseline` is the index of source-only among `candidates`,
/// `source_confidence` its mean top probability (and standard error) on held-out source images
/// and `shift` its domain classifier's errors on them against the target score set.
pub fn decide(
    candidates: &[Candidate],
    classes: usize,
    baseline: usize,
    source_confidence: Option<(f64, f64)>,
    shift: Option<DomainShift>,
) -> Decision {
    let Some(base) = candidates.get(baseline) else {
        return Decision {
            picked: 0,
            why: "no baseline among the candidates".into(),
        };
    };
    if let (Some((src, se_src)), Some((tgt, se_tgt))) = (
        source_confidence,
        super::scores::confidence(base.probs, classes),
    ) {
        let noise = 2.0 * (se_src * se_src + se_tgt * se_tgt).sqrt();
        let covariate = shift.is_some_and(|s| s.covariate());
        if src - tgt <= noise && !covariate {
            let features = match shift {
                Some(s) => format!(
                    ", and its features tell the domains apart no better than its predicted classes (domain classifier error {:.3} vs {:.3})",
                    s.feature_error, s.class_error
                ),
                None => String::new(),
            };
            return Decision {
                picked: baseline,
                why: format!(
                    "kept source-only: it is as sure of the target images as of held-out source images (top probability {tgt:.3} vs {src:.3}, 2 se {noise:.3}){features}: no shift for adaptation to correct"
                ),
            };
        }
    }
    let votes: Vec<Vec<usize>> = candidates
        .iter()
        .map(|c| ensv_hard::argmax_rows(c.probs, classes))
        .collect();
    // Every proposal (IM above the baseline's) with its strongest witness, if any.
    let mut witnessed: Vec<(usize, usize, (f64, f64, usize))> = Vec::new();
    let mut refused = Vec::new();
    for k in (0..candidates.len()).filter(|&k| k != baseline && candidates[k].im > base.im) {
        let witness = (0..candidates.len())
            .filter(|&j| j != k && j != baseline)
            .map(|j| (j, corroboration(&votes[j], &votes[k], &votes[baseline])))
            .filter(|(_, (m, se, _))| *m > 2.0 * se)
            .max_by(|a, b| (a.1 .0).total_cmp(&b.1 .0));
        match witness {
            Some((j, w)) => witnessed.push((k, j, w)),
            None => refused.push(format!(
                "{} (IM {:.3}) is corroborated by no other method",
                candidates[k].method, candidates[k].im
            )),
        }
    }
    // The strongest witness, and the proposals witnessed as strongly within the noise; of
    // those, the one with the highest IM.
    let strongest = witnessed.iter().max_by(|a, b| {
        (a.2 .0)
            .total_cmp(&b.2 .0)
            .then(candidates[a.0].im.total_cmp(&candidates[b.0].im))
    });
    let best = strongest.and_then(|&(_, _, (top, top_se, _))| {
        witnessed
            .iter()
            .filter(|(_, _, (m, se, _))| top - m <= 2.0 * (se * se + top_se * top_se).sqrt())
            .max_by(|a, b| candidates[a.0].im.total_cmp(&candidates[b.0].im))
            .map(|&(k, j, w)| (k, j, w, top))
    });
    match best {
        Some((k, j, (m, se, n), top)) => Decision {
            picked: k,
            why: format!(
                "{}: IM {:.3} > source-only's {:.3}, and of the {n} answers it changed {} confirms a net {:.0}% (2 se {:.0}%), {}",
                candidates[k].method,
                candidates[k].im,
                base.im,
                candidates[j].method,
                100.0 * m,
                200.0 * se,
                match m == top {
                    true => "the strongest witness of any challenger".to_string(),
                    false => format!(
                        "as strong as the strongest ({:.0}%) within the noise, and the highest IM of those",
                        100.0 * top
                    ),
                }
            ),
        },
        None => Decision {
            picked: baseline,
            why: match refused.is_empty() {
                true => format!(
                    "kept source-only: no method's IM exceeds its {:.3}",
                    base.im
                ),
                false => format!("kept source-only: {}", refused.join("; ")),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot(classes: &[usize], width: usize) -> Vec<f32> {
        classes
            .iter()
            .flat_map(|&c| (0..width).map(move |j| (j == c) as u8 as f32))
            .collect()
    }

    fn cand<'a>(method: &'a str, probs: &'a [f32], im: f64) -> Candidate<'a> {
        Candidate { method, probs, im }
    }

    #[test]
    fn no_drop_in_confidence_keeps_the_baseline() {
        // Corroborated challenger, but source-only is as sure of the target (top probability
        // 1.0 on one-hot rows) as of its held-out source images: nothing to adapt to.
        let truth: Vec<usize> = (0..40).map(|r| r % 4).collect();
        let base: Vec<usize> = (0..40).map(|r| if r < 12 { 3 } else { r % 4 }).collect();
        let (b, t) = (one_hot(&base, 4), one_hot(&truth, 4));
        let c = [
            cand("source-only", &b, 1.0),
            cand("fix", &t, 1.2),
            cand("also", &t, 1.1),
        ];
        let d = decide(&c, 4, 0, Some((0.99, 0.01)), None);
        assert_eq!(d.picked, 0, "{}", d.why);
        assert!(d.why.contains("no shift"), "{}", d.why);
        // Much surer of its own domain than of the target: the rule goes on.
        let soft: Vec<f32> = b
            .iter()
            .map(|&v| if v > 0.5 { 0.55 } else { 0.15 })
            .collect();
        let c = [
            cand("source-only", &soft, 1.0),
            cand("fix", &t, 1.2),
            cand("also", &t, 1.1),
        ];
        assert_eq!(decide(&c, 4, 0, Some((0.99, 0.01)), None).picked, 1);
        // As sure, but its features separate the domains far better than its classes do: a
        // covariate shift it is confidently wrong about; the rule goes on.
        let c = [
            cand("source-only", &b, 1.0),
            cand("fix", &t, 1.2),
            cand("also", &t, 1.1),
        ];
        let shifted = DomainShift {
            feature_error: 0.02,
            class_error: 0.30,
            rows: (500, 1000),
        };
        assert_eq!(
            decide(&c, 4, 0, Some((0.99, 0.01)), Some(shifted)).picked,
            1
        );
        // Features no better than classes (label shift): kept.
        let label_only = DomainShift {
            feature_error: 0.28,
            class_error: 0.30,
            rows: (500, 1000),
        };
        let d = decide(&c, 4, 0, Some((0.99, 0.01)), Some(label_only));
        assert_eq!(d.picked, 0, "{}", d.why);
        assert!(d.why.contains("0.280 vs 0.300"), "{}", d.why);
    }

    #[test]
    fn covariate_shift_needs_a_gap_beyond_the_noise() {
        // 500 + 1000 rows: 2 se of the difference at errors near 0.3 is about 0.035.
        let shift = |f, c| DomainShift {
            feature_error: f,
            class_error: c,
            rows: (500, 1000),
        };
        assert!(!shift(0.28, 0.30).covariate());
        assert!(!shift(0.47, 0.50).covariate());
        assert!(shift(0.20, 0.30).covariate());
        assert!(shift(0.01, 0.45).covariate());
        // Fewer rows, more noise: the same gap is no longer enough.
        let few = DomainShift {
            feature_error: 0.20,
            class_error: 0.30,
            rows: (20, 20),
        };
        assert!(!few.covariate());
    }

    #[test]
    fn witnesses_within_the_noise_leave_the_pick_to_im() {
        // 400 rows of 4 classes; the baseline is wrong on rows 0..200. "a" corrects rows
        // 0..100, "b" rows 100..200. Witness "wa" repeats a's correction on `na` of its 100
        // rows, "wb" b's on 95 (each keeps the baseline's answer elsewhere).
        let n = 400;
        let truth: Vec<usize> = (0..n).map(|r| r % 4).collect();
        let base: Vec<usize> = (0..n)
            .map(|r| if r < 200 { (r + 1) % 4 } else { r % 4 })
            .collect();
        let fixed = |rows: std::ops::Range<usize>| -> Vec<f32> {
            let v: Vec<usize> = (0..n)
                .map(|r| if rows.contains(&r) { truth[r] } else { base[r] })
                .collect();
            one_hot(&v, 4)
        };
        let (pb, pa, pbb, pwb) = (
            one_hot(&base, 4),
            fixed(0..100),
            fixed(100..200),
            fixed(100..195),
        );
        let pick = |na: usize| {
            let pwa = fixed(0..na);
            let c = [
                cand("source-only", &pb, 1.0),
                cand("a", &pa, 1.5),
                cand("b", &pbb, 1.2),
                cand("wa", &pwa, 0.5),
                cand("wb", &pwb, 0.5),
            ];
            decide(&c, 4, 0, None, None)
        };
        // a: net 0.86 (2 se ~0.10), b: net 0.90: within the noise, the higher IM (a) wins.
        let d = pick(93);
        assert_eq!(d.picked, 1, "{}", d.why);
        assert!(d.why.contains("within the noise"), "{}", d.why);
        // a: net 0.20: b is the better witnessed beyond the noise and wins with less IM.
        let d = pick(60);
        assert_eq!(d.picked, 2, "{}", d.why);
        assert!(d.why.contains("strongest witness"), "{}", d.why);
    }

    #[test]
    fn corroboration_by_hand() {
        // k changed b's answer on rows 0..4; j sides with k on 3 of them, with b on 1.
        let b = [0, 0, 0, 0, 1, 1];
        let k = [1, 1, 1, 1, 1, 1];
        let j = [1, 1, 1, 0, 0, 1];
        let (m, se, n) = corroboration(&j, &k, &b);
        assert_eq!(n, 4);
        // z = [1, 1, 1, -1]: mean 0.5, sd = sqrt(((0.5)^2 * 3 + (1.5)^2) / 3) = 1.
        assert!(
            (m - 0.5).abs() < 1e-12 && (se - 0.5).abs() < 1e-12,
            "{m} {se}"
        );
    }

    #[test]
    fn a_confident_outlier_is_not_corroborated_a_shared_correction_is() {
        // 40 rows of 4 classes. The baseline says r % 4 except on rows 0..12, where it says
        // class 3. "fix" and "also" both correct rows 0..12 to r % 4; "odd" moves rows 20..40
        // to class (r + 1) % 4, which nobody repeats.
        let truth: Vec<usize> = (0..40).map(|r| r % 4).collect();
        let base: Vec<usize> = (0..40).map(|r| if r < 12 { 3 } else { r % 4 }).collect();
        let odd: Vec<usize> = (0..40)
            .map(|r| if r >= 20 { (r + 1) % 4 } else { base[r] })
            .collect();
        let (b, t, o) = (one_hot(&base, 4), one_hot(&truth, 4), one_hot(&odd, 4));
        // "odd" has the highest IM but no witness; "fix" is next and "also" repeats it.
        let c = [
            cand("source-only", &b, 1.0),
            cand("odd", &o, 1.5),
            cand("fix", &t, 1.2),
            cand("also", &t, 1.1),
        ];
        let d = decide(&c, 4, 0, None, None);
        assert_eq!(d.picked, 2, "{}", d.why);
        // Without "also" no one corroborates anything: the baseline stays.
        let d = decide(&c[..3], 4, 0, None, None);
        assert_eq!(d.picked, 0, "{}", d.why);
        // A challenger whose IM does not exceed the baseline's is never proposed.
        let c = [
            cand("source-only", &b, 2.0),
            cand("fix", &t, 1.2),
            cand("also", &t, 1.1),
        ];
        assert_eq!(decide(&c, 4, 0, None, None).picked, 0);
    }
}
