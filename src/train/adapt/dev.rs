//! DEV — deep embedded validation.
//!
//! Paper: You, Wang, Long, Jordan, *Towards Accurate Model Selection in Deep Unsupervised
//! Domain Adaptation* (ICML 2019).
//!
//! Formula: the target risk is estimated from held-out *labelled source* images, each weighted
//! by the density ratio `w(x) = p_t(x) / p_s(x)` of its feature. A domain classifier `D`
//! (logistic regression on the candidate's features, source training images against target
//! images, class-balanced) gives `w(x) = D(x) / (1 − D(x))`. With per-image losses `ℓ_i`
//! (cross-entropy of the true source label) on `n` validation images:
//! `L = w ⊙ ℓ`, `η = −Cov(L, w) / Var(w)` (sample covariance and variance, `n − 1`),
//! `DEV = mean(L) + η · mean(w) − η` (lower is better; dak scores `−DEV`). The control variate
//! `η (mean(w) − 1)` uses `E[w] = 1` to cancel much of the weights' variance.
//!
//! Shapes: features `[n_s, d]` (a seeded sample of the source training images), `[n_t, d]`
//! (the target score set) and `[n_v, d]` (the held-out source images: the
//! `--source-val-split` part, or `--source-test`); losses `[n_v]`.
//!
//! Deviations: the paper's domain classifier is an MLP chosen over five weight decays by
//! held-out accuracy; dak's is the logistic regression of the proxy A-distance
//! ([`crate::train::metrics::DomainClassifier`]), which is deterministic and cheap enough to
//! fit at every epoch. Logits are clamped to ±30 so a separable feature cannot make a weight
//! infinite.

use crate::train::metrics::DomainClassifier;

/// Importance weights `p_t / p_s` of the `val` features from a domain classifier trained on
/// `source` (label 0) and `target` (label 1) features, all rows of `dim`.
pub fn importance_weights(source: &[f32], target: &[f32], val: &[f32], dim: usize) -> Vec<f64> {
    let mut train: Vec<(&[f32], f64)> = source.chunks(dim).map(|r| (r, 0.0)).collect();
    train.extend(target.chunks(dim).map(|r| (r, 1.0)));
    let clf = DomainClassifier::fit(&train, dim);
    val.chunks(dim)
        .map(|r| clf.logit(r).clamp(-30.0, 30.0).exp())
        .collect()
}

/// The DEV risk of per-image `losses` under importance `weights` (same length ≥ 2), with the
/// control variate; `None` for fewer than 2 images.
pub fn risk(weights: &[f64], losses: &[f64]) -> Option<f64> {
    let n = weights.len();
    if n < 2 || losses.len() != n {
        return None;
    }
    let weighted: Vec<f64> = weights.iter().zip(losses).map(|(w, l)| w * l).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n as f64;
    let (mean_l, mean_w) = (mean(&weighted), mean(weights));
    let cov = weighted
        .iter()
        .zip(weights)
        .map(|(l, w)| (l - mean_l) * (w - mean_w))
        .sum::<f64>()
        / (n - 1) as f64;
    let var_w = weights.iter().map(|w| (w - mean_w).powi(2)).sum::<f64>() / (n - 1) as f64;
    let eta = if var_w > 0.0 { -cov / var_w } else { 0.0 };
    Some(mean_l + eta * mean_w - eta)
}

/// Cross-entropy `−ln p_y` of each row of `probs` (rows of `classes`) for its label.
pub fn losses(probs: &[f32], classes: usize, labels: &[u32]) -> Vec<f64> {
    probs
        .chunks(classes)
        .zip(labels)
        .map(|(row, &y)| -(row[y as usize] as f64).max(1e-12).ln())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_matches_the_formula_by_hand() {
        // w = [1, 2, 3], l = [1, 1, 0] → L = [1, 2, 0], mean(L) = 1, mean(w) = 2,
        // Cov(L, w) = ((0)(-1) + (1)(0) + (-1)(1)) / 2 = -0.5, Var(w) = 1, η = 0.5,
        // DEV = 1 + 0.5 · 2 − 0.5 = 1.5.
        let r = risk(&[1.0, 2.0, 3.0], &[1.0, 1.0, 0.0]).unwrap();
        assert!((r - 1.5).abs() < 1e-12, "{r}");
        // Equal weights: no control variate; DEV is the plain mean loss (weights 1).
        let r = risk(&[1.0, 1.0], &[0.2, 0.4]).unwrap();
        assert!((r - 0.3).abs() < 1e-12, "{r}");
        assert_eq!(risk(&[1.0], &[1.0]), None);
    }

    #[test]
    fn weights_favour_source_images_that_look_like_the_target() {
        // 1-d features: source around 0, target around 2; a validation image at 2 looks like
        // the target (weight > 1), one at 0 like the source (weight < 1).
        let source: Vec<f32> = (0..40).map(|i| (i % 5) as f32 * 0.1).collect();
        let target: Vec<f32> = (0..40).map(|i| 2.0 + (i % 5) as f32 * 0.1).collect();
        let w = importance_weights(&source, &target, &[2.0, 0.0], 1);
        assert!(w[0] > 1.0 && w[1] < 1.0, "{w:?}");
    }

    #[test]
    fn losses_are_the_cross_entropy_of_the_true_label() {
        let l = losses(&[0.5, 0.5, 0.25, 0.75], 2, &[0, 1]);
        assert!((l[0] - 2f64.ln()).abs() < 1e-6 && (l[1] - (4.0f64 / 3.0).ln()).abs() < 1e-6);
    }
}
