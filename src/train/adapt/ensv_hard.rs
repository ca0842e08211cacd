//! EnsV with hard votes — the default `ensv`.
//!
//! Paper: Hu, Luo, Liang, Foo, *Towards Reliable Model Selection for Unsupervised Domain
//! Adaptation: An Empirical Study and A Certified Baseline* (NeurIPS 2024 D&B). EnsV scores each
//! candidate by its agreement with the ensemble of all candidates on the target images.
//!
//! Formula: with `K` candidates and `N` target images, candidate `k` votes `v_ki = argmax_c
//! p_k(c | x_i)`; the ensemble's pseudo-label is the class with most votes,
//! `ŷ_i = argmax_c Σ_k [v_ki = c]`; `EnsV(k) = (1/N) Σ_i [v_ki = ŷ_i]` (higher is better).
//!
//! Deviation from the paper, and why: the paper (and `ensv-soft`, [`super::ensv`]) takes `ŷ`
//! from the mean of the candidates' probabilities. A near-one-hot candidate then outweighs
//! several calibrated ones on every image where it disagrees with them (0.99 against 0.6), so
//! a confidently wrong model makes the ensemble agree with itself — the failure MCC showed on
//! digit pairs. With hard votes confidence buys nothing: each candidate has one vote per image.
//! A tie between classes goes to the class of the first candidate that voted for one of them
//! (across `--compare` runs source-only is listed first, so ties fall to the baseline), never
//! to the most confident one.

/// The ensemble's pseudo-label of every row: the class most candidates vote for (rows of
/// `classes` probabilities; every candidate scores the same rows).
pub fn pseudo_labels(candidates: &[&[f32]], classes: usize) -> Vec<usize> {
    let Some(first) = candidates.first() else {
        return Vec::new();
    };
    let rows = first.len() / classes.max(1);
    let votes: Vec<Vec<usize>> = candidates.iter().map(|c| argmax_rows(c, classes)).collect();
    (0..rows)
        .map(|i| {
            let mut count = vec![0usize; classes];
            for v in &votes {
                count[v[i]] += 1;
            }
            let most = *count.iter().max().unwrap_or(&0);
            // The first voter for a class with the most votes decides a tie.
            votes
                .iter()
                .map(|v| v[i])
                .find(|&c| count[c] == most)
                .unwrap_or(0)
        })
        .collect()
}

/// Each row's argmax (ties to the lowest class).
pub fn argmax_rows(probs: &[f32], classes: usize) -> Vec<usize> {
    probs
        .chunks(classes.max(1))
        .map(|row| (1..row.len()).fold(0, |best, c| if row[c] > row[best] { c } else { best }))
        .collect()
}

/// Fraction of rows whose argmax equals `labels`.
pub fn agreement_with(probs: &[f32], classes: usize, labels: &[usize]) -> f64 {
    let votes = argmax_rows(probs, classes);
    if votes.is_empty() || votes.len() != labels.len() {
        return f64::NAN;
    }
    votes.iter().zip(labels).filter(|(a, b)| a == b).count() as f64 / votes.len() as f64
}

/// Every candidate's hard-vote EnsV score, in order (NaN when the candidates' shapes differ).
pub fn agreement(candidates: &[&[f32]], classes: usize) -> Vec<f64> {
    let Some(first) = candidates.first() else {
        return Vec::new();
    };
    if first.len() < classes || candidates.iter().any(|c| c.len() != first.len()) {
        return vec![f64::NAN; candidates.len()];
    }
    let labels = pseudo_labels(candidates, classes);
    candidates
        .iter()
        .map(|c| agreement_with(c, classes, &labels))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confident_candidate_buys_no_votes() {
        // Three rows, two classes. a and b (calibrated) say class 0 on every row; c (one-hot)
        // says class 1 on rows 0 and 1. Soft averaging would side with c on rows 0-1
        // (0.55 + 0.55 + 0.0 < 0.45 + 0.45 + 1.0); hard votes side with a and b.
        let a = [0.55, 0.45, 0.55, 0.45, 0.9, 0.1];
        let b = [0.55, 0.45, 0.55, 0.45, 0.8, 0.2];
        let c = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
        assert_eq!(pseudo_labels(&[&a, &b, &c], 2), vec![0, 0, 0]);
        let s = agreement(&[&a, &b, &c], 2);
        assert_eq!(s, vec![1.0, 1.0, 1.0 / 3.0]);
        // (The soft ensemble's answer on the same rows: `ensv.rs`'s tests.)
    }

    #[test]
    fn ties_go_to_the_first_voter() {
        // Two candidates that disagree on the only row: the first one's class wins.
        let base = [0.6, 0.4];
        let other = [0.0, 1.0];
        assert_eq!(pseudo_labels(&[&base, &other], 2), vec![0]);
        assert_eq!(pseudo_labels(&[&other, &base], 2), vec![1]);
        assert_eq!(agreement(&[&base, &other], 2), vec![1.0, 0.0]);
    }
}
