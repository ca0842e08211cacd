//! Seeded random streams keyed by a tuple of integers.
//!
//! Every random decision in the data layer (shuffles, augmentation, MNIST-M patches) draws from a
//! generator derived from `(seed, purpose, ...)` alone, never from a shared generator, so results
//! do not depend on thread scheduling, worker count or batch size.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Purpose tags, so that streams for different jobs never coincide.
pub(crate) const TAG_SHUFFLE: u64 = 0x5348_5546;
pub(crate) const TAG_AUGMENT: u64 = 0x4155_474d;
pub(crate) const TAG_SPLIT: u64 = 0x5350_4c54;
pub(crate) const TAG_MNISTM: u64 = 0x4d4e_4d4d;
/// `Dataset::sample` (the value `dak adapt --limit` has always used).
pub(crate) const TAG_SAMPLE: u64 = 0x4c49_4d54;

/// SplitMix64 finaliser: a cheap bijective mixer with good avalanche.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashes a key tuple to a 64-bit seed (order matters).
pub fn key_seed(parts: &[u64]) -> u64 {
    let mut h = 0x6a09_e667_f3bc_c908u64;
    for &p in parts {
        h = mix64(h ^ mix64(p.wrapping_add(0x9e37_79b9_7f4a_7c15)));
    }
    h
}

/// A ChaCha8 generator for the key tuple `parts`.
pub fn rng_for(parts: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(key_seed(parts))
}

/// A permutation of `0..n` for the key tuple `parts`.
pub(crate) fn permutation(n: usize, parts: &[u64]) -> Vec<u32> {
    use rand::seq::SliceRandom;
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(&mut rng_for(parts));
    order
}
