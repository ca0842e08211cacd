//! MixVal — mixed samples as probes.
//!
//! Paper: Hu, Liang, Liew, Xue, Bai, Wang, *Mixed Samples as Probes for Unsupervised Model
//! Selection in Domain Adaptation* (NeurIPS 2023).
//!
//! Formula: a candidate labels the target images with its own argmax `ŷ_i`. Each image `x_i` is
//! paired with a partner `x_j` and mixed at a fixed ratio `λ = 0.55`:
//! `x̃ = λ x_i + (1 − λ) x_j`, whose mixed label is the dominant image's, `ŷ_i`. The candidate
//! then predicts the probes; its score is how often it returns the mixed label:
//! `ICE_intra = mean over pairs with ŷ_i = ŷ_j of [argmax p(x̃) = ŷ_i]` and
//! `ICE_inter = mean over pairs with ŷ_i ≠ ŷ_j of [argmax p(x̃) = ŷ_i]`;
//! `MixVal = (ICE_intra + ICE_inter) / 2` (higher is better; a side without pairs counts 0).
//! A model whose decision boundaries cut through the target clusters (confident or not) fails
//! the inter-cluster probes: a probe that is 55% of one image must land on that image's side.
//!
//! Shapes: the score set's `N` images in evaluation batches; in a batch of `n` rows, row `i`
//! is paired with row `n − 1 − i` (the batch reversed, as the authors' code pairs them; the
//! middle row of an odd batch is left out). One probe per pair, dominated by the row in the
//! first half of the batch: `N / 2` extra forward passes.
//!
//! Deviations: the authors probe each pair in both directions; dak probes one (the other
//! direction doubles MixVal's cost, a forward pass per score-set image, for a second sample of
//! the same pairs). The paper combines the intra- and inter-cluster scores by averaging their ranks
//! among the candidates; dak averages the two accuracies, so a candidate's score is its own
//! (computed at the end of every epoch, comparable across runs) and not a function of the
//! other candidates.

/// The mixing ratio λ of the dominant image.
pub const MIX_RATIO: f32 = 0.55;

/// Probes answered with the mixed label, split by whether the pair's pseudo-labels agree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MixCounts {
    /// Pairs with the same pseudo-label, and how many of their probes returned it.
    pub intra: (usize, usize),
    /// Pairs with different pseudo-labels, and how many of their probes returned the
    /// dominant image's.
    pub inter: (usize, usize),
}

impl MixCounts {
    /// Adds a batch: pseudo-labels of its rows and the predicted class of each row's probe
    /// (`None` for rows without a probe).
    pub fn add(&mut self, pseudo: &[usize], probe_pred: &[Option<usize>]) {
        let n = pseudo.len();
        for (i, pred) in probe_pred.iter().enumerate() {
            let (Some(pred), Some(j)) = (pred, partner(i, n)) else {
                continue;
            };
            let hit = (*pred == pseudo[i]) as usize;
            let slot = match pseudo[i] == pseudo[j] {
                true => &mut self.intra,
                false => &mut self.inter,
            };
            slot.0 += 1;
            slot.1 += hit;
        }
    }

    /// `(ICE_intra + ICE_inter) / 2`, a side without probes counting 0: a model that puts every
    /// image in one class has no inter-cluster pair, and must not score a perfect intra-cluster
    /// accuracy alone (measured: a collapsed epoch at 9.9% target accuracy won MixVal that
    /// way). `None` without any probe.
    pub fn score(&self) -> Option<f64> {
        let acc = |(n, hit): (usize, usize)| match n {
            0 => 0.0,
            n => hit as f64 / n as f64,
        };
        (self.intra.0 + self.inter.0 > 0).then(|| 0.5 * (acc(self.intra) + acc(self.inter)))
    }
}

/// Row `i`'s partner in a batch of `n` (the batch reversed); `None` for the middle row of an
/// odd batch.
pub fn partner(i: usize, n: usize) -> Option<usize> {
    let j = n.checked_sub(1 + i)?;
    (j != i).then_some(j)
}

/// The probes of a batch of `n` images (`n × len` values, row-major): for every row `i` in the
/// first half, `λ x_i + (1 − λ) x_partner(i)`; the returned list says which rows have a probe,
/// in order.
pub fn probes(images: &[f32], n: usize) -> (Vec<f32>, Vec<usize>) {
    let len = images.len() / n.max(1);
    let mut out = Vec::with_capacity(images.len());
    let mut rows = Vec::with_capacity(n);
    for i in 0..n / 2 {
        let Some(j) = partner(i, n) else { continue };
        let (a, b) = (
            &images[i * len..(i + 1) * len],
            &images[j * len..(j + 1) * len],
        );
        out.extend(
            a.iter()
                .zip(b)
                .map(|(&a, &b)| MIX_RATIO * a + (1.0 - MIX_RATIO) * b),
        );
        rows.push(i);
    }
    (out, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_mix_the_first_half_with_the_reversed_batch() {
        // Three one-value images: rows 0 and 2 pair up (row 0 dominant), row 1 (the middle)
        // has no partner.
        let (p, rows) = probes(&[1.0, 5.0, 3.0], 3);
        assert_eq!(rows, vec![0]);
        assert_eq!(p.len(), 1);
        assert!((p[0] - (0.55 * 1.0 + 0.45 * 3.0)).abs() < 1e-6);
        // Four: rows 0-3 and 1-2.
        let (p, rows) = probes(&[1.0, 2.0, 4.0, 8.0], 4);
        assert_eq!(rows, vec![0, 1]);
        assert!((p[1] - (0.55 * 2.0 + 0.45 * 4.0)).abs() < 1e-6);
    }

    #[test]
    fn score_averages_intra_and_inter_cluster_accuracy() {
        // Four rows, pseudo-labels [0, 1, 1, 0]: pairs (0,3) and (3,0) are intra, (1,2) and
        // (2,1) intra too. Then [0, 1, 2, 3]: all inter.
        let mut c = MixCounts::default();
        c.add(&[0, 1, 1, 0], &[Some(0), Some(1), Some(0), Some(1)]);
        assert_eq!(c.intra, (4, 2));
        assert_eq!(c.inter, (0, 0));
        // No inter-cluster pair: that side counts 0 (a one-class model is not rewarded).
        assert_eq!(c.score(), Some(0.25));
        c.add(&[0, 1, 2, 3], &[Some(0), Some(2), Some(2), Some(3)]);
        assert_eq!(c.inter, (4, 3));
        assert_eq!(c.score(), Some(0.5 * (0.5 + 0.75)));
        assert_eq!(MixCounts::default().score(), None);
    }
}
