//! Label-free scores of target predictions and the proxy A-distance, on the host.
//!
//! All functions take row-major arrays (`rows x classes` probabilities, `rows x dim`
//! features) and accumulate in f64. They run once per epoch on at most a few thousand rows.
//!
//! - mean entropy `(1/N) Σ_i -Σ_c p_ic ln p_ic` (lower: more confident predictions);
//! - information maximisation `IM = H(p̄) - (1/N) Σ_i H(p_i)` with `p̄` the mean prediction:
//!   confident *and* diverse predictions score high (Gomes et al. 2010; SHOT uses it as a loss);
//! - soft neighbourhood density (Saito et al., ICCV 2021): L2-normalise each prediction,
//!   cosine similarities to every other sample, softmax over the row at temperature 0.05 with
//!   the sample itself left out, and the mean entropy of those rows. Higher is better: the
//!   predictions form dense neighbourhoods;
//! - proxy A-distance (Ben-David et al. 2007, Ganin et al. 2016): train a logistic-regression
//!   domain classifier on half of the source and target features, measure its error `ε` on the
//!   other half, `PAD = 2 (1 - 2ε)`: 2 means perfectly separable domains, 0 indistinguishable.

use crate::data::rng::permutation;
use crate::error::{Error, Result};

/// Row-wise softmax of `logits` (`rows x classes`), max-subtracted.
pub fn softmax_rows(logits: &[f32], classes: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks(classes) {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v)) as f64;
        let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
        let s: f64 = e.iter().sum();
        out.extend(e.iter().map(|v| (v / s) as f32));
    }
    out
}

fn entropy(p: impl Iterator<Item = f64>) -> f64 {
    p.filter(|&v| v > 0.0).map(|v| -v * v.ln()).sum()
}

/// Mean prediction entropy (nats) over the rows of `probs`.
pub fn mean_entropy(probs: &[f32], classes: usize) -> f64 {
    let rows = probs.len() / classes;
    if rows == 0 {
        return 0.0;
    }
    probs
        .chunks(classes)
        .map(|r| entropy(r.iter().map(|&v| v as f64)))
        .sum::<f64>()
        / rows as f64
}

/// Information maximisation: entropy of the mean prediction minus the mean entropy (nats).
pub fn information_maximization(probs: &[f32], classes: usize) -> f64 {
    let rows = probs.len() / classes;
    if rows == 0 {
        return 0.0;
    }
    let mut mean = vec![0f64; classes];
    for r in probs.chunks(classes) {
        for (m, &v) in mean.iter_mut().zip(r) {
            *m += v as f64 / rows as f64;
        }
    }
    entropy(mean.into_iter()) - mean_entropy(probs, classes)
}

/// Temperature of soft neighbourhood density (Saito et al. 2021).
pub const SND_TEMPERATURE: f64 = 0.05;

/// Soft neighbourhood density of the rows of `probs` at `temperature` (paper: 0.05).
pub fn soft_neighborhood_density(probs: &[f32], classes: usize, temperature: f64) -> f64 {
    let rows = probs.len() / classes;
    if rows < 2 {
        return 0.0;
    }
    let unit: Vec<Vec<f64>> = probs
        .chunks(classes)
        .map(|r| {
            let n = r.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
            r.iter().map(|&v| v as f64 / n.max(1e-12)).collect()
        })
        .collect();
    let mut total = 0.0;
    let mut logits = vec![0f64; rows];
    for i in 0..rows {
        let mut m = f64::NEG_INFINITY;
        for j in 0..rows {
            if j == i {
                continue;
            }
            let s: f64 = unit[i].iter().zip(&unit[j]).map(|(a, b)| a * b).sum();
            logits[j] = s / temperature;
            m = m.max(logits[j]);
        }
        let mut z = 0.0;
        for j in (0..rows).filter(|&j| j != i) {
            logits[j] = (logits[j] - m).exp();
            z += logits[j];
        }
        total += entropy((0..rows).filter(|&j| j != i).map(|j| logits[j] / z));
    }
    total / rows as f64
}

/// Result of a proxy A-distance measurement.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProxyADistance {
    /// `2 (1 - 2 error)`.
    pub pad: f64,
    /// Held-out error of the domain classifier.
    pub error: f64,
    /// Held-out samples the error was measured on.
    pub test_samples: usize,
}

/// Proxy A-distance between `source` and `target` features (`rows x dim` each): a logistic
/// regression (standardised features, L2 1e-3, full-batch gradient descent) trained on a seeded
/// half of each domain, tested on the other half.
pub fn proxy_a_distance(
    source: &[f32],
    target: &[f32],
    dim: usize,
    seed: u64,
) -> Result<ProxyADistance> {
    let (ns, nt) = (source.len() / dim, target.len() / dim);
    if ns < 2 || nt < 2 || !source.len().is_multiple_of(dim) || !target.len().is_multiple_of(dim) {
        return Err(Error::input(format!(
            "proxy A-distance needs at least 2 feature rows of {dim} values per domain (got {ns} source, {nt} target)"
        )));
    }
    // (row, label) for each half.
    let mut train: Vec<(&[f32], f64)> = Vec::new();
    let mut test: Vec<(&[f32], f64)> = Vec::new();
    for (side, (data, n, label)) in [(source, ns, 0.0), (target, nt, 1.0)].iter().enumerate() {
        let order = permutation(*n, &[seed, 0x5041_4400, side as u64]);
        for (k, &i) in order.iter().enumerate() {
            let row = &data[i as usize * dim..(i as usize + 1) * dim];
            if k < n / 2 {
                train.push((row, *label));
            } else {
                test.push((row, *label));
            }
        }
    }
    let clf = DomainClassifier::fit(&train, dim);
    // Balanced error on the held-out half.
    let (mut err_pos, mut pos, mut err_neg, mut neg) = (0f64, 0f64, 0f64, 0f64);
    for (x, y) in &test {
        let z = clf.logit(x);
        let wrong = (z > 0.0) != (*y > 0.5);
        if *y > 0.5 {
            pos += 1.0;
            err_pos += wrong as u8 as f64;
        } else {
            neg += 1.0;
            err_neg += wrong as u8 as f64;
        }
    }
    let error = 0.5 * (err_pos / pos.max(1.0) + err_neg / neg.max(1.0));
    Ok(ProxyADistance {
        pad: 2.0 * (1.0 - 2.0 * error),
        error,
        test_samples: test.len(),
    })
}

/// How well a linear domain classifier tells held-out source images from target images, as
/// one candidate sees them: on its features, and on its class probabilities alone (what a
/// difference in predicted classes explains). Balanced errors, cross-validated.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DomainShift {
    /// Error on the candidate's features.
    pub feature_error: f64,
    /// Error on its class probabilities.
    pub class_error: f64,
    /// Source and target rows the errors were measured on.
    pub rows: (usize, usize),
}

impl DomainShift {
    /// Whether the features tell the domains apart better than the predicted classes do,
    /// beyond two standard errors of the difference (the errors' binomial noise, counted as
    /// if independent, which overstates it for errors on the same rows): the images differ in
    /// more than the mix of their classes, a covariate shift. Under label shift alone the best
    /// domain classifier reads the class, so both errors agree.
    pub fn covariate(&self) -> bool {
        let (ns, nt) = (self.rows.0.max(1) as f64, self.rows.1.max(1) as f64);
        // Variance of a balanced error e = (e_s + e_t) / 2, each binomial.
        let var = |e: f64| 0.25 * e * (1.0 - e) * (1.0 / ns + 1.0 / nt);
        let noise = 2.0 * (var(self.feature_error) + var(self.class_error)).sqrt();
        self.class_error - self.feature_error > noise
    }
}

/// A logistic-regression domain classifier on standardised features (the training rows'
/// mean and standard deviation), class-balanced so unequal domain sizes do not bias it, L2
/// 1e-3, full-batch gradient descent (300 steps of 0.5). Label 1 is the target domain. Used by
/// the proxy A-distance and by DEV's importance weights.
pub struct DomainClassifier {
    mean: Vec<f64>,
    inv_std: Vec<f64>,
    w: Vec<f64>,
    b: f64,
}

impl DomainClassifier {
    /// Trains on `(row, label)` pairs of `dim` features (label 0 source, 1 target).
    pub fn fit(train: &[(&[f32], f64)], dim: usize) -> DomainClassifier {
        let mut mean = vec![0f64; dim];
        let mut var = vec![0f64; dim];
        for (row, _) in train {
            for (m, &v) in mean.iter_mut().zip(*row) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= train.len() as f64);
        for (row, _) in train {
            for ((s, &v), m) in var.iter_mut().zip(*row).zip(&mean) {
                *s += (v as f64 - m).powi(2);
            }
        }
        let inv_std: Vec<f64> = var
            .iter()
            .map(|s| 1.0 / (s / train.len() as f64).sqrt().max(1e-6))
            .collect();
        let mut clf = DomainClassifier {
            mean,
            inv_std,
            w: vec![0f64; dim],
            b: 0.0,
        };
        let rows: Vec<(Vec<f64>, f64)> = train
            .iter()
            .map(|(r, y)| (clf.standardise(r), *y))
            .collect();
        let n_pos = rows.iter().filter(|(_, y)| *y > 0.5).count().max(1) as f64;
        let n_neg = (rows.len() as f64 - n_pos).max(1.0);
        let (lr, l2, iters) = (0.5, 1e-3, 300);
        let mut grad = vec![0f64; dim];
        let mut z = vec![0f64; rows.len()];
        for _ in 0..iters {
            grad.iter_mut().for_each(|g| *g = 0.0);
            let mut gb = 0.0;
            logits(&rows, &clf.w, clf.b, &mut z);
            for ((x, y), &z) in rows.iter().zip(&z) {
                let p = 1.0 / (1.0 + (-z).exp());
                let weight = if *y > 0.5 { 0.5 / n_pos } else { 0.5 / n_neg };
                let d = (p - y) * weight;
                for (g, &v) in grad.iter_mut().zip(x) {
                    *g += d * v;
                }
                gb += d;
            }
            for (wi, g) in clf.w.iter_mut().zip(&grad) {
                *wi -= lr * (g + l2 * *wi);
            }
            clf.b -= lr * gb;
        }
        clf
    }

    fn standardise(&self, row: &[f32]) -> Vec<f64> {
        row.iter()
            .zip(&self.mean)
            .zip(&self.inv_std)
            .map(|((&v, m), s)| (v as f64 - m) * s)
            .collect()
    }

    /// `ln p(target | row) / p(source | row)` (class-balanced: equal domain priors).
    pub fn logit(&self, row: &[f32]) -> f64 {
        let x = self.standardise(row);
        self.b + x.iter().zip(&self.w).map(|(a, b)| a * b).sum::<f64>()
    }
}

/// `z_r = b + Σ_j x_rj w_j` for every row, each dot product summed in order (so the result
/// does not depend on how the rows are shared out), on the machine's cores when the work is
/// large enough to pay for the threads.
fn logits(rows: &[(Vec<f64>, f64)], w: &[f64], b: f64, z: &mut [f64]) {
    let one = |rows: &[(Vec<f64>, f64)], z: &mut [f64]| {
        for ((x, _), z) in rows.iter().zip(z) {
            *z = b + x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>();
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || rows.len() * w.len() < 1 << 17 {
        return one(rows, z);
    }
    let chunk = rows.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (r, z) in rows.chunks(chunk).zip(z.chunks_mut(chunk)) {
            s.spawn(move || one(r, z));
        }
    });
}

/// DANN's gradient-reversal coefficient at progress `p`: `max · (2 / (1 + e^{-10p}) - 1)`.
pub fn dann_lambda(progress: f32, max: f32) -> f32 {
    max * crate::optim::schedule::dann_lambda(progress, 10.0)
}

/// DANN's learning rate at progress `p`: `mu0 / (1 + 10p)^0.75`.
pub fn dann_lr(mu0: f32, progress: f32) -> f32 {
    crate::optim::Schedule::dann().lr(mu0, progress, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_classifier_on_threads_equals_the_sequential_fit_bit_for_bit() {
        // Big enough (400 rows x 400 features) that the logits are computed on threads.
        let dim = 400;
        let rows: Vec<Vec<f32>> = (0..400)
            .map(|r| {
                (0..dim)
                    .map(|j| (((r * 31 + j * 17) % 97) as f32 / 97.0) + (r % 2) as f32 * 0.05)
                    .collect()
            })
            .collect();
        let train: Vec<(&[f32], f64)> = rows
            .iter()
            .enumerate()
            .map(|(r, x)| (x.as_slice(), (r % 2) as f64))
            .collect();
        let clf = DomainClassifier::fit(&train, dim);
        // The reference: the same gradient descent, every dot product in one loop.
        let std_rows: Vec<(Vec<f64>, f64)> = train
            .iter()
            .map(|(r, y)| (clf.standardise(r), *y))
            .collect();
        let (n_pos, n_neg) = (200.0, 200.0);
        let (mut w, mut b) = (vec![0f64; dim], 0f64);
        let mut grad = vec![0f64; dim];
        for _ in 0..300 {
            grad.iter_mut().for_each(|g| *g = 0.0);
            let mut gb = 0.0;
            for (x, y) in &std_rows {
                let z: f64 = b + x.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
                let p = 1.0 / (1.0 + (-z).exp());
                let weight = if *y > 0.5 { 0.5 / n_pos } else { 0.5 / n_neg };
                let d = (p - y) * weight;
                for (g, &v) in grad.iter_mut().zip(x) {
                    *g += d * v;
                }
                gb += d;
            }
            for (wi, g) in w.iter_mut().zip(&grad) {
                *wi -= 0.5 * (g + 1e-3 * *wi);
            }
            b -= 0.5 * gb;
        }
        assert_eq!(clf.w, w);
        assert_eq!(clf.b, b);
    }
}
