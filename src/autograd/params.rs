//! Named parameters with a trainable flag. A frozen parameter gets no gradient buffer and no
//! weight-gradient kernel: the tape treats it like a constant.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Index of a parameter in its `Params` store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub usize);

/// One named parameter.
pub struct Param {
    /// Dotted name, e.g. `features.0.weight` or `head.fc1.bias`.
    pub name: String,
    /// The current values.
    pub value: Tensor,
    /// Whether it gets gradients and updates.
    pub trainable: bool,
    /// Learning-rate multiplier (a pretrained backbone commonly trains at 0.1x the head).
    pub lr_mult: f32,
    /// A state the forward pass updates itself (BN running statistics): saved and restored
    /// with the parameters, never trainable, untouched by freeze and unfreeze.
    pub buffer: bool,
}

/// An ordered store of named parameters.
#[derive(Default)]
pub struct Params {
    list: Vec<Param>,
}

/// True when `name` is `prefix` itself or lies under it (`features` matches `features.0.weight`
/// but not `features_extra.w`).
pub fn under_prefix(name: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || name == prefix
        || (name.starts_with(prefix)
            && (prefix.ends_with('.') || name[prefix.len()..].starts_with('.')))
}

impl Params {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a trainable parameter. Names must be unique.
    pub fn add(&mut self, name: &str, value: Tensor) -> Result<ParamId> {
        if self.find(name).is_some() {
            return Err(Error::input(format!("parameter `{name}` is defined twice")));
        }
        self.list.push(Param {
            name: name.to_string(),
            value,
            trainable: true,
            lr_mult: 1.0,
            buffer: false,
        });
        Ok(ParamId(self.list.len() - 1))
    }

    /// Add a buffer: saved and loaded like a parameter, never trained (see [`Param::buffer`]).
    pub fn add_buffer(&mut self, name: &str, value: Tensor) -> Result<ParamId> {
        let id = self.add(name, value)?;
        let p = self.get_mut(id);
        p.trainable = false;
        p.buffer = true;
        Ok(id)
    }

    /// Renames the parameter `id` (names must stay unique).
    pub fn rename(&mut self, id: ParamId, name: &str) -> Result<()> {
        if self.find(name).is_some() {
            return Err(Error::input(format!("parameter `{name}` is defined twice")));
        }
        self.list[id.0].name = name.to_string();
        Ok(())
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.list.len()
    }
    /// True when the store holds no parameter.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    /// The parameter with id `id`.
    pub fn get(&self, id: ParamId) -> &Param {
        &self.list[id.0]
    }
    /// The parameter with id `id`, mutably.
    pub fn get_mut(&mut self, id: ParamId) -> &mut Param {
        &mut self.list[id.0]
    }
    /// The id of the parameter named exactly `name`.
    pub fn find(&self, name: &str) -> Option<ParamId> {
        self.list.iter().position(|p| p.name == name).map(ParamId)
    }
    /// Every parameter with its id, in creation order.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &Param)> {
        self.list.iter().enumerate().map(|(i, p)| (ParamId(i), p))
    }

    fn set_trainable(&mut self, prefix: &str, trainable: bool) -> Result<usize> {
        let mut n = 0;
        for p in self
            .list
            .iter_mut()
            .filter(|p| under_prefix(&p.name, prefix))
        {
            p.trainable = trainable && !p.buffer;
            n += 1;
        }
        if n == 0 {
            let names: Vec<&str> = self.list.iter().map(|p| p.name.as_str()).take(8).collect();
            return Err(Error::input(format!(
                "no parameter is named `{prefix}` or lies under it (some names: {})",
                names.join(", ")
            )));
        }
        Ok(n)
    }

    /// Freeze every parameter under `prefix` (`""` means all). Returns how many.
    pub fn freeze(&mut self, prefix: &str) -> Result<usize> {
        self.set_trainable(prefix, false)
    }

    /// Make every parameter under `prefix` trainable again. Returns how many.
    pub fn unfreeze(&mut self, prefix: &str) -> Result<usize> {
        self.set_trainable(prefix, true)
    }

    /// Set the learning-rate multiplier of every parameter under `prefix`.
    pub fn set_lr_mult(&mut self, prefix: &str, mult: f32) {
        for p in self
            .list
            .iter_mut()
            .filter(|p| under_prefix(&p.name, prefix))
        {
            p.lr_mult = mult;
        }
    }

    /// Number of trainable scalars.
    pub fn trainable_count(&self) -> usize {
        self.list
            .iter()
            .filter(|p| p.trainable)
            .map(|p| p.value.numel())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::under_prefix;

    #[test]
    fn prefixes_match_whole_name_segments() {
        assert!(under_prefix("features.0.weight", "features"));
        assert!(under_prefix("features.0.weight", "features.0"));
        assert!(under_prefix("features.0.weight", "features."));
        assert!(!under_prefix("features.10.weight", "features.1"));
        assert!(!under_prefix("features_extra.w", "features"));
        assert!(under_prefix("anything", ""));
    }
}
