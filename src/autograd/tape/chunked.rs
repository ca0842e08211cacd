//! Row-chunked sub-graphs. A per-image function (a backbone up to its pooled features) runs
//! on chunks of the batch, each on its own tape, when the whole batch would bind buffers
//! larger than the device allows (`models::chunks` decides how many chunks). The recorded
//! chunks are kept as one node; its backward splits the upstream gradient by the same rows
//! and runs each chunk's tape backward. Exact for functions that treat images independently;
//! batch statistics (BatchNorm in training) become per-chunk statistics.

use super::{add_param_grad, Op, Tape, Var};
use crate::error::Result;
use crate::tensor::Tensor;

/// One chunk's recorded tape, where its input and output stand, and its rows of the batch.
pub(crate) struct Part {
    tape: Tape,
    input: Var,
    output: Var,
    rows: Vec<usize>,
}

impl Tape {
    /// `f(x)` computed on `chunks` chunks of `x`'s rows (1 or fewer: `f(x)` on this tape).
    /// Chunk `j` takes rows `j, j + chunks, j + 2·chunks, …`, so that every chunk holds a
    /// spread of the batch (both domains of a mixed batch, for per-chunk BatchNorm
    /// statistics); the output rows are in `x`'s order. A chunk that records nothing (a frozen
    /// backbone) is dropped at once, so its activations are freed before the next one runs.
    pub fn chunked(
        &mut self,
        x: Var,
        chunks: usize,
        mut f: impl FnMut(&mut Tape, Var) -> Result<Var>,
    ) -> Result<Var> {
        let xt = self.tensor(x).clone();
        let n = xt.shape().first().copied().unwrap_or(0);
        let chunks = chunks.min(n);
        if chunks <= 1 {
            return f(self, x);
        }
        let wants_grad = self.requires_grad(x);
        let mut parts = Vec::new();
        let mut out: Option<Tensor> = None;
        for j in 0..chunks {
            let rows: Vec<usize> = (j..n).step_by(chunks).collect();
            let mut sub = Tape {
                grad_enabled: self.grad_enabled,
                ..Tape::new()
            };
            let xc = xt.gather_rows(&rows)?;
            let input = match wants_grad {
                true => sub.input_with_grad(xc),
                false => sub.input(xc),
            };
            let output = f(&mut sub, input)?;
            let yc = sub.tensor(output);
            let y = match &out {
                Some(y) => y,
                None => {
                    let mut shape = yc.shape().to_vec();
                    shape[0] = n;
                    out.insert(Tensor::uninit(yc.gpu(), &shape, yc.dtype())?)
                }
            };
            y.scatter_rows(yc, &rows)?;
            self.stats.recorded += sub.stats.recorded;
            self.stats.skipped += sub.stats.skipped;
            if sub.requires_grad(output) {
                parts.push(Part {
                    tape: sub,
                    input,
                    output,
                    rows,
                });
            }
        }
        let y = out.expect("at least two chunks ran");
        if parts.is_empty() {
            return Ok(self.push(y, false, None));
        }
        let output = self.push(y, true, None);
        self.nodes.push(super::Node {
            op: Op::Chunked { parts },
            input: x,
            output,
            label: None,
        });
        Ok(output)
    }

    /// The backward of [`Tape::chunked`]: each chunk's tape from its rows of `dy`; parameter
    /// gradients are summed into this tape's, the input's gradient (when `needs_x`)
    /// reassembled.
    pub(super) fn chunked_backward(
        &mut self,
        parts: Vec<Part>,
        dy: &Tensor,
        needs_x: bool,
    ) -> Result<Option<Tensor>> {
        let mut dx: Option<Tensor> = None;
        for part in parts {
            let seed = (part.output, dy.gather_rows(&part.rows)?);
            let inputs = if needs_x { vec![part.input] } else { vec![] };
            let (param_grads, mut wanted) = part.tape.backward_seeded(&[], vec![seed], &inputs)?;
            for (id, g) in param_grads {
                add_param_grad(&mut self.chunk_param_grads, id, g)?;
            }
            if let Some(Some(g)) = wanted.pop() {
                let dx = match &dx {
                    Some(dx) => dx,
                    None => {
                        let mut shape = g.shape().to_vec();
                        shape[0] = dy.shape()[0];
                        dx.insert(Tensor::zeros(g.gpu(), &shape)?)
                    }
                };
                dx.scatter_rows(&g, &part.rows)?;
            }
        }
        Ok(dx)
    }
}
