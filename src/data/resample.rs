//! A separable triangle-filter resize for RGB8 images, bit-exact with PIL.
//!
//! PIL's `BILINEAR` (`ImagingResample`, Pillow's `Resample.c`): bilinear interpolation when
//! enlarging, a triangle widened by the scale factor (antialiasing) when shrinking, the taps PIL
//! computes (`xmin = trunc(center - support + 0.5)`), its weights normalised in f64 and then
//! turned into 22-bit fixed point (`PRECISION_BITS = 32 − 8 − 2`, rounded half away from zero),
//! each pass summing `pixel · weight` in integers from a start of one half and keeping the top
//! bits clamped to 0..=255 (`clip8`); one pass's 8-bit result read by the other, in Pillow
//! 13's order ([`resize_region`]). So predictions see the pixels torchvision's PIL pipeline
//! sees, to the bit (`tests/it/data/preprocess.rs` against a Pillow 13 fixture: enlargement,
//! reduction, wider-and-shorter, a cropped box, the evaluation transform). Written for this one pixel type
//! with precomputed taps: resizing dominated the cost of a random resized crop.

use image::RgbImage;

/// PIL's fixed-point precision for 8-bit images.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Filter taps for one axis: output `i` reads `len[i]` inputs from `start[i]` with `weights`.
struct Taps {
    start: Vec<usize>,
    len: Vec<usize>,
    /// `max_len` fixed-point weights per output, zero-padded.
    weights: Vec<i32>,
    max_len: usize,
}

fn taps(input: usize, output: usize) -> Taps {
    let scale = input as f64 / output as f64;
    let support = scale.max(1.0);
    let max_len = (2.0 * support).ceil() as usize + 2;
    let mut start = Vec::with_capacity(output);
    let mut len = Vec::with_capacity(output);
    let mut weights = vec![0i32; output * max_len];
    let mut w = vec![0f64; max_len];
    for i in 0..output {
        let center = (i as f64 + 0.5) * scale;
        // PIL: xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5).
        let lo = ((center - support + 0.5).floor().max(0.0)) as usize;
        let hi = (((center + support + 0.5).floor()) as usize).min(input);
        let mut total = 0.0;
        let mut n = 0;
        for j in lo..hi {
            let v = (1.0 - ((j as f64 + 0.5 - center) / support).abs()).max(0.0);
            w[n] = v;
            total += v;
            n += 1;
        }
        let out = &mut weights[i * max_len..(i + 1) * max_len];
        if total > 0.0 {
            for (o, &v) in out.iter_mut().zip(&w[..n]) {
                // Weights are never negative for the triangle: PIL's `(int)(0.5 + k · 2^22)`.
                *o = (0.5 + v / total * (1u32 << PRECISION_BITS) as f64) as i32;
            }
        } else {
            // Cannot happen for sane sizes; fall back to nearest.
            out[0] = 1 << PRECISION_BITS;
            n = 1;
        }
        start.push(lo.min(input - 1));
        len.push(n.max(1));
    }
    Taps {
        start,
        len,
        weights,
        max_len,
    }
}

/// PIL's `clip8`: the top bits of a fixed-point sum, clamped to 0..=255.
fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// The fixed-point sum's start: one half, so the shift rounds.
const HALF: i32 = 1 << (PRECISION_BITS - 1);

/// The horizontal pass: each of `rows` (indices into `src`, rows of `stride` bytes, the
/// region starting at pixel `x0`) resampled to `th`'s outputs, as 8-bit pixels.
fn horizontal(
    src: &[u8],
    stride: usize,
    x0: usize,
    rows: std::ops::Range<usize>,
    th: &Taps,
) -> Vec<u8> {
    let ow = th.start.len();
    let mut out = vec![0u8; rows.len() * ow * 3];
    for (r, line_out) in rows.zip(out.chunks_exact_mut(ow * 3)) {
        let line = &src[r * stride + 3 * x0..];
        for i in 0..ow {
            let (s, n) = (th.start[i], th.len[i]);
            let w = &th.weights[i * th.max_len..i * th.max_len + n];
            let (mut a, mut b, mut c) = (HALF, HALF, HALF);
            for (px, &wk) in line[3 * s..3 * (s + n)].chunks_exact(3).zip(w) {
                a += wk * px[0] as i32;
                b += wk * px[1] as i32;
                c += wk * px[2] as i32;
            }
            line_out[3 * i] = clip8(a);
            line_out[3 * i + 1] = clip8(b);
            line_out[3 * i + 2] = clip8(c);
        }
    }
    out
}

/// The vertical pass: output row `o` sums the rows `tv.start[o]..` of the region, row `r` of
/// which is `src` row `r + row0` (rows of `stride` bytes, `width` pixels from pixel `x0`).
fn vertical(src: &[u8], stride: usize, x0: usize, width: usize, row0: isize, tv: &Taps) -> Vec<u8> {
    let oh = tv.start.len();
    let mut out = vec![0u8; oh * width * 3];
    let mut acc = vec![0i32; width * 3];
    for (o, out_row) in out.chunks_exact_mut(width * 3).enumerate() {
        let (s, n) = (tv.start[o], tv.len[o]);
        let w = &tv.weights[o * tv.max_len..o * tv.max_len + n];
        acc.iter_mut().for_each(|v| *v = HALF);
        for (k, &wk) in w.iter().enumerate() {
            let r = ((s + k) as isize + row0) as usize;
            let row = &src[r * stride + 3 * x0..r * stride + 3 * (x0 + width)];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += wk * v as i32;
            }
        }
        for (d, &a) in out_row.iter_mut().zip(&acc) {
            *d = clip8(a);
        }
    }
    out
}

/// Resizes the `(x, y, w, h)` region of `img` to `out_w x out_h`.
///
/// The passes run in the order Pillow 13 runs them: the vertical one first when the image
/// gets wider and shorter (the intermediate is then the small one), else the horizontal one
/// first, over only the rows the vertical taps touch. The order changes the 8-bit
/// intermediate, so it changes results (measured: 701 of 3,420 values one level apart on a
/// 45×38 → 60×19 resize); Pillow before 13 always ran the horizontal pass first.
pub fn resize_region(
    img: &RgbImage,
    region: (u32, u32, u32, u32),
    out_w: u32,
    out_h: u32,
) -> RgbImage {
    let (rx, ry, rw, rh) = (
        region.0 as usize,
        region.1 as usize,
        region.2 as usize,
        region.3 as usize,
    );
    let (ow, oh) = (out_w as usize, out_h as usize);
    let stride = 3 * img.width() as usize;
    let src = img.as_raw();
    let th = taps(rw, ow);
    let tv = taps(rh, oh);
    let dst = if ow > rw && oh < rh {
        let tmp = vertical(src, stride, rx, rw, ry as isize, &tv);
        horizontal(&tmp, rw * 3, 0, 0..oh, &th)
    } else {
        let row_lo = tv.start[0];
        let row_hi = (0..oh)
            .map(|i| tv.start[i] + tv.len[i])
            .max()
            .unwrap_or(row_lo);
        let tmp = horizontal(src, stride, rx, ry + row_lo..ry + row_hi, &th);
        vertical(&tmp, ow * 3, 0, ow, -(row_lo as isize), &tv)
    };
    RgbImage::from_raw(out_w, out_h, dst).expect("3 bytes per pixel")
}
