//! EnsV as the paper writes it — `ensv-soft`.
//!
//! Paper: Hu, Luo, Liang, Foo, *Towards Reliable Model Selection for Unsupervised Domain
//! Adaptation: An Empirical Study and A Certified Baseline* (NeurIPS 2024 D&B).
//!
//! Formula: `p̄_i = (1/K) Σ_k p_k(· | x_i)`, `ŷ_i = argmax_c p̄_ic`,
//! `EnsV-soft(k) = (1/N) Σ_i [argmax_c p_k(c | x_i) = ŷ_i]` (higher is better). The ensemble is
//! never worse than the worst candidate, so the pick avoids the worst case — unless one
//! candidate's near-one-hot probabilities outweigh the others' in `p̄`: then the ensemble
//! agrees with it. Kept for comparison; `ensv` ([`super::ensv_hard`]) votes instead. Only
//! target *training* images are scored; no label is read.
//!
//! Within a run the candidates are its epochs (their trainable parameters are kept on the host
//! until the end of the run, when the ensemble is known); across `--compare` runs they are the
//! methods' picks (see `compare::pick`).

use crate::error::{Error, Result};
use crate::models::Dann;

/// Agreement of each candidate's argmax with the argmax of the mean of all candidates'
/// probabilities (rows of `classes`; every candidate scores the same rows). Ties in an argmax
/// go to the lowest class.
pub fn agreement(candidates: &[&[f32]], classes: usize) -> Vec<f64> {
    let Some(first) = candidates.first() else {
        return Vec::new();
    };
    let rows = first.len() / classes.max(1);
    if rows == 0 || candidates.iter().any(|c| c.len() != first.len()) {
        return vec![f64::NAN; candidates.len()];
    }
    let argmax =
        |row: &[f64]| (1..row.len()).fold(0, |best, c| if row[c] > row[best] { c } else { best });
    let mut mean = vec![0f64; first.len()];
    for c in candidates {
        for (m, &p) in mean.iter_mut().zip(c.iter()) {
            *m += p as f64;
        }
    }
    let pseudo: Vec<usize> = mean.chunks(classes).map(argmax).collect();
    candidates
        .iter()
        .map(|c| {
            let agree = c
                .chunks(classes)
                .zip(&pseudo)
                .filter(|(row, &y)| {
                    let row: Vec<f64> = row.iter().map(|&p| p as f64).collect();
                    argmax(&row) == y
                })
                .count();
            agree as f64 / rows as f64
        })
        .collect()
}

/// Index of the highest score (ties keep the earlier candidate); `None` when no score is a
/// number.
pub fn best(scores: &[f64]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, &s) in scores.iter().enumerate() {
        if s.is_finite() && best.is_none_or(|b| s > b.1) {
            best = Some((i, s));
        }
    }
    best.map(|b| b.0)
}

/// The epochs of one run as EnsV candidates: each epoch's score-set probabilities and, when
/// the run selects by EnsV (`keep_params`), a host copy of the parameters that training
/// changes (frozen ones are left out).
pub(super) struct EpochPool {
    classes: usize,
    keep_params: bool,
    probs: Vec<Vec<f32>>,
    params: Vec<Vec<Option<Vec<f32>>>>,
}

impl EpochPool {
    pub fn new(classes: usize, keep_params: bool) -> Self {
        EpochPool {
            classes,
            keep_params,
            probs: Vec::new(),
            params: Vec::new(),
        }
    }

    /// A pool of probabilities alone (no parameters to restore).
    pub fn from_probs(classes: usize, probs: Vec<Vec<f32>>) -> Self {
        EpochPool {
            classes,
            keep_params: false,
            probs,
            params: Vec::new(),
        }
    }

    /// Keeps the model's probabilities on the score set (and its parameters, when kept).
    pub fn push(&mut self, model: &Dann, probs: Vec<f32>) -> Result<()> {
        if self.keep_params {
            let params = model
                .params
                .iter()
                .map(|(_, p)| p.trainable.then(|| p.value.to_vec()).transpose())
                .collect::<Result<Vec<_>>>()?;
            self.params.push(params);
        }
        self.probs.push(probs);
        Ok(())
    }

    /// Every candidate's soft EnsV score, in the order they were pushed.
    pub fn soft_scores(&self) -> Vec<f64> {
        agreement(&self.slices(), self.classes)
    }

    /// Every candidate's hard-vote EnsV score, in the order they were pushed.
    pub fn hard_scores(&self) -> Vec<f64> {
        super::ensv_hard::agreement(&self.slices(), self.classes)
    }

    fn slices(&self) -> Vec<&[f32]> {
        self.probs.iter().map(Vec::as_slice).collect()
    }

    /// The probabilities of candidate `i`.
    pub fn probs(&self, i: usize) -> &[f32] {
        &self.probs[i]
    }

    /// The epochs pushed so far.
    pub fn len(&self) -> usize {
        self.probs.len()
    }

    /// Candidate `i`'s kept parameters (None for frozen ones; empty when none are kept).
    pub fn params(&self, i: usize) -> &[Option<Vec<f32>>] {
        self.params.get(i).map_or(&[], Vec::as_slice)
    }

    /// Adds a candidate as [`EpochPool::push`] would have (a resumed run's earlier epochs).
    pub fn push_host(&mut self, probs: Vec<f32>, params: Vec<Option<Vec<f32>>>) {
        if self.keep_params {
            self.params.push(params);
        }
        self.probs.push(probs);
    }

    /// Writes candidate `i`'s parameters back into `model`.
    pub fn restore(&self, model: &Dann, i: usize) -> Result<()> {
        let saved = self
            .params
            .get(i)
            .ok_or_else(|| Error::runtime(format!("EnsV: no candidate {i}")))?;
        for ((_, p), s) in model.params.iter().zip(saved) {
            if let Some(values) = s {
                p.value.write(values)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_counts_matches_with_the_ensemble_argmax() {
        // Two rows, two classes; candidates a and b agree, c disagrees on row 0.
        let a = [0.9, 0.1, 0.2, 0.8];
        let b = [0.7, 0.3, 0.4, 0.6];
        let c = [0.2, 0.8, 0.3, 0.7];
        let s = agreement(&[&a, &b, &c], 2);
        assert_eq!(s, vec![1.0, 1.0, 0.5]);
        assert_eq!(best(&s), Some(0));
        assert_eq!(best(&[f64::NAN]), None);
    }

    #[test]
    fn a_confident_candidate_buys_the_soft_ensemble() {
        // The rows of `ensv_hard`'s test: a and b (calibrated) say class 0 everywhere, c
        // (one-hot) says class 1 on rows 0 and 1. Averaged probabilities side with c there
        // (0.55 + 0.55 + 0.0 < 0.45 + 0.45 + 1.0), where hard votes side with a and b.
        let a = [0.55, 0.45, 0.55, 0.45, 0.9, 0.1];
        let b = [0.55, 0.45, 0.55, 0.45, 0.8, 0.2];
        let c = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
        assert_eq!(agreement(&[&a, &b, &c], 2), vec![1.0 / 3.0, 1.0 / 3.0, 1.0]);
        assert_eq!(
            super::super::ensv_hard::agreement(&[&a, &b, &c], 2),
            vec![1.0, 1.0, 1.0 / 3.0]
        );
    }
}
