//! DANN's step (and the source-only baseline's, which is its label half) against the f64
//! reference: the label head's cross-entropy plus the domain head's binary cross-entropy
//! behind the gradient reversal.
use super::*;
use crate::common::steps::*;

#[test]
fn source_only_and_dann_steps_match_the_reference() {
    let (rows, ns) = (6, 3);
    for name in ["source-only", "dann"] {
        let (model, m, f, labels) = setup(name, rows, ns);
        let adversarial = name == "dann";
        let loss = |f: &[f64], w: &Weights| {
            let (_, ce) = label_loss(f, w, rows, &labels);
            let dom = match adversarial {
                true => {
                    domain_bce(&w.mlp("domain", f, rows), ns)
                        .iter()
                        .sum::<f64>()
                        / rows as f64
                }
                false => 0.0,
            };
            (ce, dom)
        };
        let mut expect = label_params();
        if adversarial {
            expect.extend(domain_params());
        }
        let state = Default::default();
        check_step(&model, m, &state, &f, DIM, &labels, LAMBDA, &loss, &expect);
    }
}
