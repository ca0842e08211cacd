//! The register-blocked multiply-add block shared by the subgroup-broadcast GEMM generators
//! (matmul sgbc, conv2d sgbc, conv2d tex): `tm` rows x some accumulator groups per lane in named
//! accumulators c{row}_{group}; per k-step of 4 each row's A vec4 a{row / sg} is broadcast from
//! lane row % sg and multiplied with b{q}_{group} ("ik" order).
//!
//! The Python (scripts/sgbc_block.py) only knows vec4 groups; the narrow texture kernels (2, 3
//! and 6 columns per lane) also use vec2 and scalar groups, so a group here carries its type.

use crate::text::Out;

/// The type of one accumulator group of a lane: 4, 2 or 1 columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acc {
    Vec4,
    Vec2,
    F32,
}

impl Acc {
    /// Columns held by one accumulator of this type.
    pub(crate) fn width(self) -> usize {
        match self {
            Acc::Vec4 => 4,
            Acc::Vec2 => 2,
            Acc::F32 => 1,
        }
    }

    fn zero(self) -> &'static str {
        match self {
            Acc::Vec4 => "vec4<f32>(0.0)",
            Acc::Vec2 => "vec2<f32>(0.0)",
            Acc::F32 => "0.0",
        }
    }

    /// The broadcast A component `x` (v.x, ...) splatted to this type.
    fn splat(self, x: &str) -> String {
        match self {
            Acc::Vec4 => format!("vec4<f32>({x})"),
            Acc::Vec2 => format!("vec2<f32>({x})"),
            Acc::F32 => x.to_string(),
        }
    }
}

/// `halves` vec4 groups: the layout of every kernel but the narrow texture ones.
pub(crate) fn vec4s(halves: usize) -> Vec<Acc> {
    vec![Acc::Vec4; halves]
}

/// One line per row declaring its accumulators, zeroed.
pub(crate) fn accumulators(o: &mut Out, tm: usize, groups: &[Acc]) {
    for r in 0..tm {
        let decls: Vec<String> = groups
            .iter()
            .enumerate()
            .map(|(h, a)| format!("var c{r}_{h} = {};", a.zero()))
            .collect();
        o.w(format!("    {}", decls.join(" ")));
    }
}

/// The unrolled k-step: per row, broadcast its A vec4 and FMA its 4 components into every group.
/// Row r's A vec4 is `a{r / sg}` of lane `r % sg` (lanes own interleaved rows).
pub(crate) fn fma_block(o: &mut Out, sg: usize, tm: usize, groups: &[Acc]) {
    fma_block_from(o, tm, groups, |r| (r / sg, r % sg));
}

/// [`fma_block`] with row r's A vec4 in `a{v}` of lane `l`, `(v, l) = source(r)`.
pub(crate) fn fma_block_from(
    o: &mut Out,
    tm: usize,
    groups: &[Acc],
    source: impl Fn(usize) -> (usize, usize),
) {
    for r in 0..tm {
        let (v, lane) = source(r);
        o.w(format!("        {{ let v = subgroupBroadcast(a{v}, {lane}u);"));
        for (h, a) in groups.iter().enumerate() {
            let fmas: Vec<String> = ["x", "y", "z", "w"]
                .iter()
                .enumerate()
                .map(|(q, x)| {
                    let v = a.splat(&format!("v.{x}"));
                    format!("c{r}_{h} = fma({v}, b{q}_{h}, c{r}_{h});")
                })
                .collect();
            o.w(format!("          {}", fmas.join(" ")));
        }
        o.w("        }");
    }
}
