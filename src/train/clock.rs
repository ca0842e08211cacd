//! A run's clock, split into one-time work and steady training. The first step of a run
//! compiles its kernels (lavapipe compiles a shader at its first dispatch: tens of seconds for
//! the large GEMMs on a cold cache) and fine-tuning may first build a feature cache; neither
//! says anything about the speed of the epochs that follow, so img/s and the ETA leave them out.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::gpu::Gpu;

/// Printed once per process before the first run's GPU work.
static NOTICE: std::sync::Once = std::sync::Once::new();

/// Times one call of a fit loop.
pub(crate) struct RunClock {
    start: Instant,
    one_time: Duration,
    first_step: Option<Instant>,
    first_done: bool,
}

impl RunClock {
    /// Starts the clock and says, once per process, that kernels compile first.
    pub fn start() -> Self {
        NOTICE.call_once(|| {
            println!("compiling kernels (one time; the driver caches them for later runs)");
        });
        RunClock {
            start: Instant::now(),
            one_time: Duration::ZERO,
            first_step: None,
            first_done: false,
        }
    }

    /// Counts `d` (e.g. building the feature cache) as one-time work.
    pub fn exclude(&mut self, d: Duration) {
        self.one_time += d;
    }

    /// Call before every step.
    pub fn before_step(&mut self) {
        if !self.first_done && self.first_step.is_none() {
            self.first_step = Some(Instant::now());
        }
    }

    /// Call after every step. After the first one it waits for the GPU (once per run, so that
    /// the compile time lands in that step) and returns the step's duration, now one-time work.
    pub fn after_step(&mut self, gpu: &Gpu) -> Result<Option<Duration>> {
        let Some(t0) = self.first_step.take().filter(|_| !self.first_done) else {
            return Ok(None);
        };
        gpu.sync()?;
        self.first_done = true;
        let d = t0.elapsed();
        self.one_time += d;
        if d > Duration::from_secs(1) {
            println!(
                "first step: {:.1} s with kernel compilation (left out of img/s and the ETA)",
                d.as_secs_f64()
            );
        }
        Ok(Some(d))
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The part of [`RunClock::elapsed`] that was one-time work.
    pub fn one_time(&self) -> Duration {
        self.one_time
    }
}
