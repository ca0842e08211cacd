//! The `ConvTex` uniform every texture conv2d kernel declares (forward, input gradient through
//! the forward kernels, weight gradient); `ops/conv2d/texture.rs` fills it on the Rust side.

pub(crate) const UNIFORM: &str = r#"struct ConvTex {
    m: u32, ncol: u32, c4: u32, kh: u32,   // GEMM rows and columns; texels per input pixel; kernel height
    kw: u32, oh: u32, ow: u32, sh: u32,    // kernel width; output size; vertical stride
    sw: u32, hp: u32, flags: u32, chunk: u32, // horizontal stride; padded input rows per image; bit 0 bias, bit 1 ReLU; split-K pixels
    gw: u32, gr: u32, p: u32, maxrow: u32, // dY texture width and rows per channel; pixels P; last input-texture row
    plane4: u32, shift: u32, pw: u32, ph: u32, // NCHW_DY: texels per dY plane (oH*oW/4); log2 of the mirror's width; pooled size (fused pool; wgrad: pw = C)
}"#;
