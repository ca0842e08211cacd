//! The safety rule of `--select safe`, the default pick of `dak adapt --compare`: source-only
//! (the baseline) is always a candidate, and an adapted method replaces it only when the
//! evidence says so.
//!
//! Rule: the candidates are every run's selected model (its EnsV epoch), the baseline first.
//! 1. Every candidate votes on each target score-set image; the class with most votes is the
//!    pseudo-label `ŷ_i` (hard-vote EnsV, [`super::ensv_hard`]: confidence buys no vote).
//! 2. Challengers are the other candidates, best EnsV agreement first. A challenger `k`
//!    replaces the baseline `b` only if both hold:
//!    - **the margin exceeds the noise**: with `z_i = [v_ki = ŷ_i] − [v_bi = ŷ_i]` per image,
//!      `mean(z) > 2 · sd(z) / √N` — a paired test on the same images, about 97.5% one-sided:
//!      the challenger agrees with the ensemble more than the baseline by more than chance;
//!    - **an independent validator agrees**: MixVal (which reads only the candidate's own
//!      predictions on mixup probes, not the other candidates) scores the challenger at least
//!      as high as the baseline.
//! 3. The first challenger that passes both is picked; if none does, the baseline is.
//!
//! Why it is sound: hard-vote EnsV alone can still be led by a majority of adapted models that
//! fail the same way; MixVal alone rewards any model whose boundaries are consistent. Their
//! failure modes differ (a shared mistake across methods vs. a self-consistent wrong model),
//! so requiring both, plus a margin that a paired test calls real, leaves the baseline in
//! place exactly when the evidence for change is weak — where a wrong switch would cost most.

use super::ensv_hard;

/// What the rule decided, and why (for the run's output and metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Index of the picked candidate.
    pub picked: usize,
    /// Every candidate's hard-vote EnsV agreement.
    pub agreement: Vec<f64>,
    /// One line: why the pick is what it is.
    pub why: String,
}

/// Mean and standard error of the paired per-image difference in agreement with `labels`
/// between candidates `k` and `b`.
pub fn paired_margin(k: &[usize], b: &[usize], labels: &[usize]) -> (f64, f64) {
    let n = labels.len();
    if n < 2 {
        return (0.0, f64::INFINITY);
    }
    let z: Vec<f64> = (0..n)
        .map(|i| (k[i] == labels[i]) as i32 as f64 - (b[i] == labels[i]) as i32 as f64)
        .collect();
    let mean = z.iter().sum::<f64>() / n as f64;
    let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, (var / n as f64).sqrt())
}

/// Applies the rule to `probs` (each candidate's score-set probabilities, rows of `classes`)
/// with each candidate's MixVal score; `baseline` is the index of source-only.
pub fn decide(
    probs: &[&[f32]],
    classes: usize,
    mixval: &[Option<f64>],
    baseline: usize,
) -> Decision {
    let agreement = ensv_hard::agreement(probs, classes);
    if probs.is_empty() || baseline >= probs.len() {
        return Decision {
            picked: 0,
            agreement,
            why: "no baseline among the candidates".into(),
        };
    }
    let labels = ensv_hard::pseudo_labels(probs, classes);
    let votes: Vec<Vec<usize>> = probs
        .iter()
        .map(|p| ensv_hard::argmax_rows(p, classes))
        .collect();
    let mut order: Vec<usize> = (0..probs.len()).filter(|&k| k != baseline).collect();
    order.sort_by(|&a, &b| agreement[b].total_cmp(&agreement[a]).then(a.cmp(&b)));
    let mut refused = Vec::new();
    for k in order {
        let (margin, se) = paired_margin(&votes[k], &votes[baseline], &labels);
        if margin <= 2.0 * se {
            refused.push(format!(
                "candidate {k}: EnsV margin {:+.3} within the noise (2 se = {:.3})",
                margin,
                2.0 * se
            ));
            continue;
        }
        if let (Some(m), Some(mb)) = (mixval[k], mixval[baseline]) {
            if m < mb {
                refused.push(format!(
                    "candidate {k}: EnsV margin {margin:+.3} but MixVal {m:.3} < baseline {mb:.3}"
                ));
                continue;
            }
        }
        return Decision {
            picked: k,
            why: format!(
                "EnsV margin {margin:+.3} over the baseline (2 se = {:.3}) and MixVal agrees",
                2.0 * se
            ),
            agreement,
        };
    }
    Decision {
        picked: baseline,
        why: match refused.first() {
            Some(first) => format!("kept the baseline: {first}"),
            None => "kept the baseline: no other candidate".into(),
        },
        agreement,
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

    #[test]
    fn a_challenger_needs_a_real_margin_and_mixval() {
        // 40 rows of 2 classes. Truth-like majority: rows 0..40 class r % 2. The baseline is
        // right on 30 rows, candidates 1 and 2 on all 40 (they form the majority).
        let truth: Vec<usize> = (0..40).map(|r| r % 2).collect();
        let base: Vec<usize> = truth
            .iter()
            .enumerate()
            .map(|(r, &c)| if r < 10 { 1 - c } else { c })
            .collect();
        let (b, good) = (one_hot(&base, 2), one_hot(&truth, 2));
        let probs: Vec<&[f32]> = vec![&b, &good, &good];
        // Margin 0.25 with se ≈ 0.069: real. MixVal agrees → candidate 1 (ties keep the first).
        let d = decide(&probs, 2, &[Some(0.5), Some(0.6), Some(0.6)], 0);
        assert_eq!(d.picked, 1, "{}", d.why);
        // MixVal disagrees for both → the baseline stays.
        let d = decide(&probs, 2, &[Some(0.7), Some(0.6), Some(0.6)], 0);
        assert_eq!(d.picked, 0, "{}", d.why);
    }

    #[test]
    fn a_margin_within_the_noise_keeps_the_baseline() {
        // The challenger differs from the baseline on 2 of 40 rows only.
        let truth: Vec<usize> = (0..40).map(|r| r % 2).collect();
        let near: Vec<usize> = truth
            .iter()
            .enumerate()
            .map(|(r, &c)| if r < 2 { 1 - c } else { c })
            .collect();
        let (b, k) = (one_hot(&near, 2), one_hot(&truth, 2));
        let probs: Vec<&[f32]> = vec![&b, &k, &k];
        let (m, se) = paired_margin(
            &ensv_hard::argmax_rows(&k, 2),
            &ensv_hard::argmax_rows(&b, 2),
            &truth,
        );
        assert!((m - 0.05).abs() < 1e-12 && m <= 2.0 * se, "{m} {se}");
        let d = decide(&probs, 2, &[None, None, None], 0);
        assert_eq!(d.picked, 0, "{}", d.why);
    }
}
