"""Narrow-tile rewrites of the 4-column texture forward kernels (gen_conv2d_tex.py): 6 columns
per lane (a vec4 and a vec2 accumulator), 2 (a vec2) and 3 (a vec2 and an f32), for layers whose
output channels fill less than a 4- or 8-column tile. Each takes the generated 4-column kernel
text and rewrites its accumulators, weight loads, multiply-adds and stores; the asserts make a
change of the 4-column generator that these rewrites no longer match fail loudly."""

TM = 64  # rows per workgroup, as gen_conv2d_tex.py


def forward_n6(text: str, sg: int, pool: bool) -> str:
    """6 columns per lane, 6*sg per tile (48 on subgroups of 8): layers with 33-48 output
    channels (the digits network's conv2) no longer fill a 64-column tile a quarter with zeros.
    Lane l owns columns [4l, 4l+4) in vec4 accumulators and [4sg + 2l, 4sg + 2l + 2) in vec2
    ones; its vec2 weights are the .xy or .zw half of texel 4sg/4 + l/2. The store writes only
    columns < Co, so the zero-padded columns of the last tile cost multiply-adds, not writes."""
    tn = 6 * sg
    # Header: tile description.
    text = text.replace(f"{TM} pixels x {4 * sg} channels, lane l owning columns [4l, 4l+4) of all {TM} rows.",
                        f"{TM} pixels x {tn} channels, lane l owning columns [4l, 4l+4) and\n"
                        f"// [{4 * sg} + 2l, {4 * sg} + 2l + 2) of all {TM} rows (6 columns per lane).")
    text = text.replace(f"Grid (ceil(Co/{4 * sg}), ceil(P/{TM}))", f"Grid (ceil(Co/{tn}), ceil(P/{TM}))")
    text = text.replace(f"let col = wid.x * {4 * sg}u + lane * 4u;",
                        f"let col = wid.x * {tn}u + lane * 4u;\n"
                        f"    let col2 = wid.x * {tn}u + {4 * sg}u + lane * 2u;\n"
                        f"    let tx2 = i32(col2 / 4u);\n"
                        f"    let even = (lane & 1u) == 0u;")
    if not pool:
        anchor = "    let wx0 = 4 * min(tx + 0, wc / 4 - 1);\n"
        assert anchor in text
        text = text.replace(anchor, anchor + "    let wy0 = min(i32(col2), wc - 1);\n"
                            "    let wy1 = min(i32(col2) + 1, wc - 1);\n", 1)
    # vec2 accumulators after each vec4 one.
    for r in range(TM):
        text = text.replace(f"    var c{r}_0 = vec4<f32>(0.0);\n",
                            f"    var c{r}_0 = vec4<f32>(0.0); var c{r}_1 = vec2<f32>(0.0);\n", 1)
    # vec2 weights after the vec4 ones.
    if pool:
        last = "        let b3_0 = textureLoad(wt, vec2<i32>(tx + 0, kr + 3), 0);\n"
        halves = "".join(f"        let h{q} = textureLoad(wt, vec2<i32>(tx2, kr + {q}), 0); let b{q}_1 = select(h{q}.zw, h{q}.xy, even);\n"
                         for q in range(4))
    else:
        # W_T: columns col2, col2+1 are two rows of the forward texture (the other two loads
        # are dead and dropped when W_T is set).
        last = "        let b3_0 = select(t3_0, vec4<f32>(t0_0[3], t1_0[3], t2_0[3], t3_0[3]), W_T);\n"
        halves = ("".join(f"        let h{q} = textureLoad(wt, select(vec2<i32>(tx2, kr + {q}), vec2<i32>(cq, wr + wy{min(q, 1)}), W_T), 0);\n"
                          for q in range(4)) +
                  "".join(f"        let b{q}_1 = select(select(h{q}.zw, h{q}.xy, even), vec2<f32>(h0[{q}], h1[{q}]), W_T);\n"
                          for q in range(4)))
    assert last in text
    text = text.replace(last, last + halves, 1)
    for r in range(TM):
        old = (f"c{r}_0 = fma(vec4<f32>(v.x), b0_0, c{r}_0); c{r}_0 = fma(vec4<f32>(v.y), b1_0, c{r}_0);"
               f" c{r}_0 = fma(vec4<f32>(v.z), b2_0, c{r}_0); c{r}_0 = fma(vec4<f32>(v.w), b3_0, c{r}_0);\n")
        new = old + (f"          c{r}_1 = fma(vec2<f32>(v.x), b0_1, c{r}_1); c{r}_1 = fma(vec2<f32>(v.y), b1_1, c{r}_1);"
                     f" c{r}_1 = fma(vec2<f32>(v.z), b2_1, c{r}_1); c{r}_1 = fma(vec2<f32>(v.w), b3_1, c{r}_1);\n")
        assert old in text, r
        text = text.replace(old, new, 1)
    # 2-column copies of the store functions (a 4-column store would overwrite the next lane's).
    def two_columns(fn: str, name: str) -> str:
        start = text.index(f"fn {name}(")
        body = text[start:text.index("\n}\n", start) + 3]
        return (body.replace(f"fn {name}(", f"fn {name}2(").replace("vec4<f32>", "vec2<f32>")
                .replace("j < 4u", "j < 2u"))
    if pool:
        stores = two_columns("store_pool", "store_pool") + "\n" + two_columns("store", "store")
        for r in range(0, TM, 4):
            old = f"store_pool(row0 + {r}u, col, c{r}_0, c{r + 1}_0, c{r + 2}_0, c{r + 3}_0); }}"
            new = (f"store_pool(row0 + {r}u, col, c{r}_0, c{r + 1}_0, c{r + 2}_0, c{r + 3}_0);"
                   f" store_pool2(row0 + {r}u, col2, c{r}_1, c{r + 1}_1, c{r + 2}_1, c{r + 3}_1); }}")
            assert old in text, r
            text = text.replace(old, new, 1)
        text = text.replace("\n@compute", "\n" + stores + "\n@compute", 1)
    else:
        for r in range(TM):
            old = f"store(row0 + {r}u, col, c{r}_0); }}"
            new = f"store(row0 + {r}u, col, c{r}_0); store2(row0 + {r}u, col2, c{r}_1); }}"
            assert old in text, r
            text = text.replace(old, new, 1)
        text = text.replace("\n@compute", "\n" + two_columns("store", "store") + "\n@compute", 1)
    return text


def forward_narrow(text: str, sg: int, pool: bool, scalar: bool) -> str:
    """2 columns per lane (2*sg per tile), or with `scalar` 3 (2*sg + sg): layers with few
    output channels on wide subgroups, where the 4-column tile is still too wide (on subgroups
    of 16 the digits network's 32-channel conv1, the 32 columns of its conv2's input gradient,
    and conv2's 48 channels would fill a 64-column tile half or a quarter with zeros). `text`
    is a 4-column kernel (forward, pooled or batch-major); lane l owns columns [2l, 2l+2) in
    vec2 accumulators (weights: the .xy or .zw half of texel l/2) and, with `scalar`, column
    2*sg + l in an f32 one (weights: component l % 4 of its texel)."""
    tn = (3 if scalar else 2) * sg
    desc = (f"lane l owning columns [2l, 2l+2) and {2 * sg} + l of all {TM} rows (3 columns per lane)."
            if scalar else f"lane l owning columns [2l, 2l+2) of all {TM} rows (2 columns per lane).")
    old = f"{TM} pixels x {4 * sg} channels, lane l owning columns [4l, 4l+4) of all {TM} rows."
    assert old in text
    text = text.replace(old, f"{TM} pixels x {tn} channels,\n// {desc}", 1)
    text = text.replace(f"Grid (ceil(Co/{4 * sg}), ceil(P/{TM}))", f"Grid (ceil(Co/{tn}), ceil(P/{TM}))", 1)
    old = f"let col = wid.x * {4 * sg}u + lane * 4u;"
    assert old in text
    new = f"let col = wid.x * {tn}u + lane * 2u;\n    let even = (lane & 1u) == 0u;"
    if scalar:
        new += f"\n    let col3 = wid.x * {tn}u + {2 * sg}u + lane;\n    let tz = i32(col3 / 4u);"
    text = text.replace(old, new, 1)
    for r in range(TM):
        old = f"    var c{r}_0 = vec4<f32>(0.0);\n"
        assert old in text, r
        text = text.replace(old, f"    var c{r}_0 = vec2<f32>(0.0);" + (f" var c{r}_1 = 0.0;" if scalar else "") + "\n", 1)
    if pool:
        old = "".join(f"        let b{q}_0 = textureLoad(wt, vec2<i32>(tx + 0, kr + {q}), 0);\n" for q in range(4))
        new = "".join(f"        let h{q} = textureLoad(wt, vec2<i32>(tx, kr + {q}), 0); let b{q}_0 = select(h{q}.zw, h{q}.xy, even);\n"
                      for q in range(4))
        if scalar:
            new += "".join(f"        let b{q}_1 = textureLoad(wt, vec2<i32>(tz, kr + {q}), 0)[col3 & 3u];\n" for q in range(4))
    else:
        # W_T: columns col, col+1 (and col3) are rows of the forward texture, each a texel of
        # the 4 reduction values of this k-step; loads that W_T leaves dead are dropped.
        old = "    let wx0 = 4 * min(tx + 0, wc / 4 - 1);\n"
        assert old in text
        rows = "    let wy0 = min(i32(col), wc - 1);\n    let wy1 = min(i32(col) + 1, wc - 1);\n"
        if scalar:
            rows += "    let wz = min(i32(col3), wc - 1);\n"
        text = text.replace(old, rows, 1)
        old = ("".join(f"        let t{q}_0 = textureLoad(wt, select(vec2<i32>(tx + 0, kr + {q}), vec2<i32>(cq, wr + wx0 + {q}), W_T), 0);\n"
                       for q in range(4)) +
               "".join(f"        let b{q}_0 = select(t{q}_0, vec4<f32>(t0_0[{q}], t1_0[{q}], t2_0[{q}], t3_0[{q}]), W_T);\n"
                       for q in range(4)))
        new = ("".join(f"        let h{q} = textureLoad(wt, select(vec2<i32>(tx, kr + {q}), vec2<i32>(cq, wr + wy{min(q, 1)}), W_T), 0);\n"
                       for q in range(4)) +
               "".join(f"        let b{q}_0 = select(select(h{q}.zw, h{q}.xy, even), vec2<f32>(h0[{q}], h1[{q}]), W_T);\n"
                       for q in range(4)))
        if scalar:
            new += ("".join(f"        let z{q} = textureLoad(wt, select(vec2<i32>(tz, kr + {q}), vec2<i32>(cq, wr + wz), W_T), 0);\n"
                            for q in range(4)) +
                    "".join(f"        let b{q}_1 = select(z{q}[col3 & 3u], z0[{q}], W_T);\n" for q in range(4)))
    assert old in text
    text = text.replace(old, new, 1)
    for r in range(TM):
        old = (f"c{r}_0 = fma(vec4<f32>(v.x), b0_0, c{r}_0); c{r}_0 = fma(vec4<f32>(v.y), b1_0, c{r}_0);"
               f" c{r}_0 = fma(vec4<f32>(v.z), b2_0, c{r}_0); c{r}_0 = fma(vec4<f32>(v.w), b3_0, c{r}_0);\n")
        new = old.replace("vec4<f32>", "vec2<f32>")
        if scalar:
            new += (f"          c{r}_1 = fma(v.x, b0_1, c{r}_1); c{r}_1 = fma(v.y, b1_1, c{r}_1);"
                    f" c{r}_1 = fma(v.z, b2_1, c{r}_1); c{r}_1 = fma(v.w, b3_1, c{r}_1);\n")
        assert old in text, r
        text = text.replace(old, new, 1)

    # Narrow copies of the store functions (a 4-column store would overwrite the next lane's).
    def narrow_store(name: str, n: int) -> str:
        start = text.index(f"fn {name}(")
        body = text[start:text.index("\n}\n", start) + 3]
        return (body.replace(f"fn {name}(", f"fn {name}{n}(").replace("vec4<f32>", "vec2<f32>")
                .replace("j < 4u", f"j < {n}u"))
    names = ["store_pool"] if pool else ["store"]
    stores = "\n".join(narrow_store(name, n) for n in ([2, 1] if scalar else [2]) for name in names)
    if pool:
        for r in range(0, TM, 4):
            old = f"store_pool(row0 + {r}u, col, c{r}_0, c{r + 1}_0, c{r + 2}_0, c{r + 3}_0); }}"
            new = f"store_pool2(row0 + {r}u, col, c{r}_0, c{r + 1}_0, c{r + 2}_0, c{r + 3}_0);"
            if scalar:
                new += (f" store_pool1(row0 + {r}u, col3, vec2<f32>(c{r}_1), vec2<f32>(c{r + 1}_1),"
                        f" vec2<f32>(c{r + 2}_1), vec2<f32>(c{r + 3}_1));")
            assert old in text, r
            text = text.replace(old, new + " }", 1)
    else:
        for r in range(TM):
            old = f"store(row0 + {r}u, col, c{r}_0); }}"
            new = f"store2(row0 + {r}u, col, c{r}_0);"
            if scalar:
                new += f" store1(row0 + {r}u, col3, vec2<f32>(c{r}_1));"
            assert old in text, r
            text = text.replace(old, new + " }", 1)
    return text.replace("\n@compute", "\n" + stores + "\n@compute", 1)
