"""The register-blocked multiply-add block shared by the subgroup-broadcast GEMM generators
(gen_matmul_sgbc.py, gen_conv2d.py, gen_conv2d_tex.py): `tm` rows x `halves` vec4 column groups
per lane in named accumulators c{row}_{half}; per k-step of 4 each row's A vec4 a{row / sg} is
broadcast from lane row % sg and multiplied with b{q}_{half} ("ik" order)."""


def accumulators(w, tm: int, halves: int):
    for r in range(tm):
        w("    " + " ".join(f"var c{r}_{h} = vec4<f32>(0.0);" for h in range(halves)))


def fma_block(w, sg: int, tm: int, halves: int):
    for r in range(tm):
        w(f"        {{ let v = subgroupBroadcast(a{r // sg}, {r % sg}u);")
        for h in range(halves):
            w(f"          c{r}_{h} = fma(vec4<f32>(v.x), b0_{h}, c{r}_{h}); c{r}_{h} = fma(vec4<f32>(v.y), b1_{h}, c{r}_{h});"
              f" c{r}_{h} = fma(vec4<f32>(v.z), b2_{h}, c{r}_{h}); c{r}_{h} = fma(vec4<f32>(v.w), b3_{h}, c{r}_{h});")
        w("        }")
