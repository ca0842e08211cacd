//! Gradient reversal (Ganin & Lempitsky 2015): the identity forward, `-λ·dy` backward, with
//! the coefficient λ shared with whoever schedules it.

use super::{Op, Tape, Var};

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// The gradient-reversal coefficient, shared with whoever schedules it. Read at backward time,
/// so changing it between steps takes effect without rebuilding anything.
#[derive(Debug, Clone, Default)]
pub struct Lambda(Arc<AtomicU32>);

impl Lambda {
    /// A coefficient starting at `value`.
    pub fn new(value: f32) -> Self {
        Lambda(Arc::new(AtomicU32::new(value.to_bits())))
    }
    /// Sets the coefficient (used by the next backward pass).
    pub fn set(&self, value: f32) {
        self.0.store(value.to_bits(), Ordering::Relaxed)
    }
    /// The current coefficient.
    pub fn get(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl Tape {
    /// Gradient reversal: the identity forward (same buffer, no copy), `-lambda·dy` backward.
    pub fn grad_reverse(&mut self, x: Var, lambda: &Lambda) -> Var {
        let y = self.tensor(x).clone();
        let op = || Op::GradReverse {
            lambda: lambda.clone(),
        };
        self.join(self.requires_grad(x), x, y, op)
    }
}
