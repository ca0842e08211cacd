//! Seeded weight initialisation (He / Glorot), reproducible across platforms.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded initialiser: the same seed gives the same weights everywhere.
pub struct Init {
    rng: ChaCha8Rng,
}

impl Init {
    /// A seeded initialiser (the same seed gives the same weights).
    pub fn new(seed: u64) -> Self {
        Init {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    fn normal(&mut self) -> f32 {
        // Box-Muller; u1 in (0, 1] so the log is finite.
        let u1: f32 = 1.0 - self.rng.random::<f32>();
        let u2: f32 = self.rng.random::<f32>();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    /// He (Kaiming) normal: N(0, 2/fan), for ReLU layers. torchvision's VGG uses fan = fan_out.
    pub fn he_normal(&mut self, n: usize, fan: usize) -> Vec<f32> {
        let std = (2.0 / fan.max(1) as f32).sqrt();
        (0..n).map(|_| self.normal() * std).collect()
    }

    /// Glorot (Xavier) uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)).
    pub fn glorot_uniform(&mut self, n: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
        let limit = (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
        (0..n)
            .map(|_| (self.rng.random::<f32>() * 2.0 - 1.0) * limit)
            .collect()
    }

    /// N(0, std²).
    pub fn normal_std(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n).map(|_| self.normal() * std).collect()
    }
}
