//! DEV — deep embedded validation.
//!
//! Paper: You, Wang, Long, Jordan, *Towards Accurate Model Selection in Deep Unsupervised
//! Domain Adaptation* (ICML 2019).
//!
//! Formula: the target risk is estimated from held-out *labelled source* images, each weighted
//! by the density ratio `w(x) = p_t(x) / p_s(x)` of its feature. A domain classifier `D`
//! (logistic regression on the candidate's features, labelled source images against target
//! images, class-balanced) gives `w(x) = D(x) / (1 − D(x))`. With per-image losses `ℓ_i`
//! (cross-entropy of the true source label) on `n` validation images:
//! `L = w ⊙ ℓ`, `η = −Cov(L, w) / Var(w)` (sample covariance and variance, `n − 1`),
//! `DEV = mean(L) + η · mean(w) − η` (lower is better; dak scores `−DEV`). The control variate
//! `η (mean(w) − 1)` uses `E[w] = 1` to cancel much of the weights' variance.
//!
//! Shapes: features `[n_t, d]` (the target score set) and `[n_v, d]` (the held-out source
//! images: the `--source-val-split` part, or `--source-test`); losses `[n_v]`.
//!
//! Deviations: the paper's domain classifier is an MLP chosen over five weight decays by
//! held-out accuracy; dak's is the logistic regression of the proxy A-distance
//! ([`crate::train::metrics::DomainClassifier`]), which is deterministic and cheap enough to
//! fit at every epoch. The paper fits `D` on source *training* images; dak cross-fits it on the
//! held-out images (two folds by row parity, each fold weighted by the classifier fitted on the
//! other and the other half of the target rows), which needs no extra pass over the source
//! and keeps every weight out-of-sample. Logits are clamped to ±30 so a separable feature
//! cannot make a weight infinite.

use crate::train::metrics::DomainClassifier;

/// A domain classifier's view of `source` rows (label 0) against `target` rows (label 1),
/// rows of `dim`, cross-fitted over two folds (row parity): each row is scored by the
/// classifier fitted on the other fold of both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossFit {
    /// `p_t / p_s` of each source row: DEV's importance weights.
    pub weights: Vec<f64>,
    /// The class-balanced error on the rows each classifier did not see.
    pub error: f64,
}

/// Cross-fits the domain classifier (see [`CrossFit`]); `None` with fewer than 2 rows per
/// fold on a side.
pub fn cross_fit(source: &[f32], target: &[f32], dim: usize) -> Option<CrossFit> {
    let (source, target): (Vec<&[f32]>, Vec<&[f32]>) =
        (source.chunks(dim).collect(), target.chunks(dim).collect());
    if source.len() < 4 || target.len() < 4 {
        return None;
    }
    let mut weights = vec![0.0; source.len()];
    let (mut wrong_source, mut wrong_target) = (0usize, 0usize);
    for k in 0..2 {
        let mut train: Vec<(&[f32], f64)> = fold(&source, k, false)
            .into_iter()
            .map(|(_, r)| (r, 0.0))
            .collect();
        train.extend(fold(&target, k, false).into_iter().map(|(_, r)| (r, 1.0)));
        let clf = DomainClassifier::fit(&train, dim);
        for (i, r) in fold(&source, k, true) {
            let z = clf.logit(r).clamp(-30.0, 30.0);
            weights[i] = z.exp();
            wrong_source += (z > 0.0) as usize;
        }
        for (_, r) in fold(&target, k, true) {
            wrong_target += (clf.logit(r) <= 0.0) as usize;
        }
    }
    let error = 0.5
        * (wrong_source as f64 / source.len() as f64 + wrong_target as f64 / target.len() as f64);
    Some(CrossFit { weights, error })
}

/// The rows of fold `k` (`held`) or of the other fold, with their indices.
fn fold<'a>(rows: &[&'a [f32]], k: usize, held: bool) -> Vec<(usize, &'a [f32])> {
    rows.iter()
        .enumerate()
        .filter(|(i, _)| (i % 2 == k) == held)
        .map(|(i, r)| (i, *r))
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
        // 1-d features: source around 0 except rows 10 and 11 (one per fold), target around
        // 2. Those two look like the target (weight > 1), the rest like the source (< 1); the
        // classifiers, tested on rows they did not see, are right on all but those two.
        let mut source: Vec<f32> = (0..40).map(|i| (i % 5) as f32 * 0.1).collect();
        source[10] = 2.1;
        source[11] = 2.2;
        let target: Vec<f32> = (0..40).map(|i| 2.0 + (i % 5) as f32 * 0.1).collect();
        let fit = cross_fit(&source, &target, 1).unwrap();
        assert!(
            fit.weights[10] > 1.0 && fit.weights[11] > 1.0,
            "{:?}",
            fit.weights
        );
        assert!(
            fit.weights[0] < 1.0 && fit.weights[39] < 1.0,
            "{:?}",
            fit.weights
        );
        assert!(
            (fit.error - 0.5 * 2.0 / 40.0).abs() < 1e-12,
            "{}",
            fit.error
        );
        // Too few rows for two folds.
        assert_eq!(cross_fit(&[0.0; 3], &target, 1), None);
    }

    #[test]
    fn losses_are_the_cross_entropy_of_the_true_label() {
        let l = losses(&[0.5, 0.5, 0.25, 0.75], 2, &[0, 1]);
        assert!((l[0] - 2f64.ln()).abs() < 1e-6 && (l[1] - (4.0f64 / 3.0).ln()).abs() < 1e-6);
    }
}
