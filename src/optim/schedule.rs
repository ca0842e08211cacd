//! Learning-rate schedules as functions of training progress.

/// A learning-rate schedule. `progress` is p in [0, 1] over the whole run; `epoch` counts from 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        /// Epochs between drops.
        every: usize,
        /// Factor per drop.
        gamma: f32,
    },
    /// Cosine decay from the base rate to `min_factor`·base at the end.
    Cosine {
        /// Final rate as a fraction of the base.
        min_factor: f32,
    },
    /// Ganin et al.: lr_p = lr0 / (1 + alpha·p)^beta (alpha 10, beta 0.75).
    Dann {
        /// Progress multiplier (10).
        alpha: f32,
        /// Exponent (0.75).
        beta: f32,
    },
}

impl Schedule {
    /// The paper's schedule (alpha 10, beta 0.75).
    pub fn dann() -> Schedule {
        Schedule::Dann {
            alpha: 10.0,
            beta: 0.75,
        }
    }

    /// Learning rate at `progress` p (and `epoch`) for base rate `base`.
    pub fn lr(&self, base: f32, progress: f32, epoch: usize) -> f32 {
        let p = progress.clamp(0.0, 1.0);
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => base * gamma.powi((epoch / every.max(1)) as i32),
            Schedule::Cosine { min_factor } => {
                let cos = 0.5 * (1.0 + (std::f32::consts::PI * p).cos());
                base * (min_factor + (1.0 - min_factor) * cos)
            }
            Schedule::Dann { alpha, beta } => base / (1.0 + alpha * p).powf(beta),
        }
    }
}

/// DANN's gradient-reversal coefficient: lambda_p = 2 / (1 + exp(-gamma·p)) - 1 (gamma 10).
pub fn dann_lambda(progress: f32, gamma: f32) -> f32 {
    2.0 / (1.0 + (-gamma * progress.clamp(0.0, 1.0)).exp()) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_follow_their_formulas() {
        assert_eq!(Schedule::Constant.lr(0.1, 0.7, 3), 0.1);
        assert!(
            (Schedule::Step {
                every: 2,
                gamma: 0.5
            }
            .lr(1.0, 0.0, 5)
                - 0.25)
                .abs()
                < 1e-7
        );
        let c = Schedule::Cosine { min_factor: 0.0 };
        assert!((c.lr(1.0, 0.0, 0) - 1.0).abs() < 1e-6 && c.lr(1.0, 1.0, 0).abs() < 1e-6);
        assert!((Schedule::dann().lr(0.01, 1.0, 0) - 0.01 / 11f32.powf(0.75)).abs() < 1e-9);
        assert_eq!(dann_lambda(0.0, 10.0), 0.0);
        assert!((dann_lambda(1.0, 10.0) - 0.999_909).abs() < 1e-5);
    }
}
