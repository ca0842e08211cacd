//! Geometry (resize, crops, flip, shifts) and pixel preprocessing on CPU, with the `image` crate.
//!
//! A [`Transform`] turns one decoded RGB image into `3*H*W` f32 values in CHW order. Random
//! choices come from the generator passed in, which the loader derives from
//! `(seed, epoch, sample index)`.

use std::fmt;
use std::str::FromStr;

use image::imageops;
use image::{Rgb, RgbImage};
use rand::{Rng, RngExt};

use crate::error::{Error, Result};

/// Pixel normalisation; stored with each model because weights expect one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preprocess {
    /// RGB scaled to `[0, 1]`, minus mean (0.485, 0.456, 0.406), divided by std (0.229, 0.224, 0.225):
    /// torchvision / timm weights.
    Imagenet,
    /// BGR on the 0..255 scale minus (103.939, 116.779, 123.68), no scaling: Keras-ported weights.
    Caffe,
    /// RGB scaled to `[0, 1]`.
    Unit,
}

impl Preprocess {
    /// All modes, for help texts.
    pub const ALL: [Preprocess; 3] = [Preprocess::Imagenet, Preprocess::Caffe, Preprocess::Unit];

    /// The mode's name as used on the command line and in model files.
    pub fn name(self) -> &'static str {
        match self {
            Preprocess::Imagenet => "imagenet",
            Preprocess::Caffe => "caffe",
            Preprocess::Unit => "unit",
        }
    }

    /// Per output channel `(source channel, scale, offset)`: `out = v * scale + offset`, `v` in 0..255.
    pub fn affine(self) -> [(usize, f32, f32); 3] {
        match self {
            Preprocess::Imagenet => {
                const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
                const STD: [f32; 3] = [0.229, 0.224, 0.225];
                std::array::from_fn(|c| (c, 1.0 / (255.0 * STD[c]), -MEAN[c] / STD[c]))
            }
            // Output channel 0 is blue: source channel 2.
            Preprocess::Caffe => [(2, 1.0, -103.939), (1, 1.0, -116.779), (0, 1.0, -123.68)],
            Preprocess::Unit => [
                (0, 1.0 / 255.0, 0.0),
                (1, 1.0 / 255.0, 0.0),
                (2, 1.0 / 255.0, 0.0),
            ],
        }
    }

    /// Writes `img` into `out` (len `3*h*w`) as planar CHW f32.
    pub fn write_chw(self, img: &RgbImage, out: &mut [f32]) {
        let plane = (img.width() * img.height()) as usize;
        assert_eq!(out.len(), 3 * plane, "output slice must hold 3*H*W values");
        let raw = img.as_raw();
        for (c, (src, scale, offset)) in self.affine().into_iter().enumerate() {
            let dst = &mut out[c * plane..(c + 1) * plane];
            for (d, px) in dst.iter_mut().zip(raw.chunks_exact(3)) {
                *d = px[src] as f32 * scale + offset;
            }
        }
    }
}

impl fmt::Display for Preprocess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preprocess {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Preprocess::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::input(format!(
                    "unknown preprocessing mode '{s}'; use imagenet, caffe or unit"
                ))
            })
    }
}

/// Parameters of a random resized crop (torchvision's `RandomResizedCrop`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomResizedCrop {
    /// Range of the crop's area as a fraction of the image area.
    pub scale: (f32, f32),
    /// Range of the crop's aspect ratio (width / height), sampled log-uniformly.
    pub ratio: (f32, f32),
}

impl Default for RandomResizedCrop {
    fn default() -> Self {
        RandomResizedCrop {
            scale: (0.08, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
        }
    }
}

/// What happens to one image between decoding and the batch tensor.
///
/// Order: geometry (random resized crop if set, else resize + center crop), horizontal flip,
/// shift, then [`Preprocess`].
#[derive(Clone, Debug, PartialEq)]
pub struct Transform {
    /// Output height.
    pub height: u32,
    /// Output width.
    pub width: u32,
    /// Deterministic geometry: the center crop covers this fraction of the largest centered
    /// region with the output's aspect ratio (1.0 = all of it; torchvision's ImageNet eval
    /// "resize 256, crop 224" is 0.875).
    pub crop_fraction: f32,
    /// Training geometry; replaces the center crop when set.
    pub random_resized_crop: Option<RandomResizedCrop>,
    /// Mirror left-right with probability 1/2.
    pub hflip: bool,
    /// Translate by up to this many pixels in x and y (uniform), filling with black.
    pub max_shift: u32,
    /// Pixel normalisation.
    pub preprocess: Preprocess,
}

impl Transform {
    /// Evaluation: resize + center crop (crop fraction 1.0), no randomness, `imagenet` mode.
    pub fn eval(height: u32, width: u32) -> Self {
        Transform {
            height,
            width,
            crop_fraction: 1.0,
            random_resized_crop: None,
            hflip: false,
            max_shift: 0,
            preprocess: Preprocess::Imagenet,
        }
    }

    /// Training: default random resized crop + horizontal flip, `imagenet` mode.
    pub fn train(height: u32, width: u32) -> Self {
        Transform {
            random_resized_crop: Some(RandomResizedCrop::default()),
            hflip: true,
            ..Transform::eval(height, width)
        }
    }

    /// Sets the preprocessing mode.
    pub fn with_preprocess(mut self, p: Preprocess) -> Self {
        self.preprocess = p;
        self
    }

    /// Sets the center-crop fraction (evaluation geometry). Below 1 the image is resized first
    /// and then cropped, as torchvision evaluates ([`resize_then_center_crop`]).
    pub fn with_crop_fraction(mut self, f: f32) -> Self {
        self.crop_fraction = f;
        self
    }

    /// Sets or clears the random resized crop.
    pub fn with_random_resized_crop(mut self, rrc: Option<RandomResizedCrop>) -> Self {
        self.random_resized_crop = rrc;
        self
    }

    /// Enables or disables the random horizontal flip.
    pub fn with_hflip(mut self, on: bool) -> Self {
        self.hflip = on;
        self
    }

    /// Sets the maximum random shift in pixels.
    pub fn with_shift(mut self, pixels: u32) -> Self {
        self.max_shift = pixels;
        self
    }

    /// True if the transform draws random numbers.
    pub fn is_random(&self) -> bool {
        self.random_resized_crop.is_some() || self.hflip || self.max_shift > 0
    }

    /// Number of f32 values per image: `3 * height * width`.
    pub fn sample_len(&self) -> usize {
        3 * self.height as usize * self.width as usize
    }

    /// Checks the parameters; called by loaders so a bad option fails before any thread starts.
    pub fn validate(&self) -> Result<()> {
        if self.height == 0 || self.width == 0 || self.height > 8192 || self.width > 8192 {
            return Err(Error::input(format!(
                "image size {}x{} is out of range; use 1..8192 pixels per side",
                self.width, self.height
            )));
        }
        if !(self.crop_fraction > 0.0 && self.crop_fraction <= 1.0) {
            return Err(Error::input(format!(
                "crop fraction must be in (0, 1], got {}",
                self.crop_fraction
            )));
        }
        if let Some(r) = self.random_resized_crop {
            let ok = r.scale.0 > 0.0
                && r.scale.0 <= r.scale.1
                && r.scale.1 <= 1.0
                && r.ratio.0 > 0.0
                && r.ratio.0 <= r.ratio.1;
            if !ok {
                return Err(Error::input(format!(
                    "random resized crop needs 0 < scale.0 <= scale.1 <= 1 and 0 < ratio.0 <= ratio.1, got scale {:?} ratio {:?}",
                    r.scale, r.ratio
                )));
            }
        }
        Ok(())
    }

    /// Applies the geometry (and, if enabled, flip and shift) to `img`.
    pub fn apply_rgb<R: Rng + ?Sized>(&self, img: &RgbImage, rng: &mut R) -> RgbImage {
        let mut out = match self.random_resized_crop {
            Some(p) => random_resized_crop(img, self.height, self.width, p, rng),
            None if self.crop_fraction < 1.0 => {
                resize_then_center_crop(img, self.height, self.width, self.crop_fraction)
            }
            None => resize_center_crop(img, self.height, self.width, self.crop_fraction),
        };
        if self.hflip && rng.random_bool(0.5) {
            imageops::flip_horizontal_in_place(&mut out);
        }
        if self.max_shift > 0 {
            let m = self.max_shift as i32;
            let dx = rng.random_range(-m..=m);
            let dy = rng.random_range(-m..=m);
            out = shift(&out, dx, dy);
        }
        out
    }

    /// Applies the whole transform, writing `3*H*W` CHW values into `out`.
    pub fn apply<R: Rng + ?Sized>(&self, img: &RgbImage, rng: &mut R, out: &mut [f32]) {
        let geo = self.apply_rgb(img, rng);
        self.preprocess.write_chw(&geo, out);
    }
}

/// Resizes the `(x, y, w, h)` region of `img` to `width x height` (triangle filter,
/// antialiased when shrinking). Skips the work when nothing would change.
fn resize_region(
    img: &RgbImage,
    region: (u32, u32, u32, u32),
    width: u32,
    height: u32,
) -> RgbImage {
    if region == (0, 0, width, height) && img.dimensions() == (width, height) {
        return img.clone();
    }
    super::resample::resize_region(img, region, width, height)
}

/// Resize + center crop to `height x width`: takes the largest centered region with the
/// output's aspect ratio, shrinks it by `crop_fraction`, and resizes it to the output size.
pub fn resize_center_crop(img: &RgbImage, height: u32, width: u32, crop_fraction: f32) -> RgbImage {
    let (iw, ih) = (img.width() as f64, img.height() as f64);
    let aspect = width as f64 / height as f64;
    let (mut rw, mut rh) = if iw / ih > aspect {
        (ih * aspect, ih)
    } else {
        (iw, iw / aspect)
    };
    rw *= crop_fraction as f64;
    rh *= crop_fraction as f64;
    let rw = (rw.round() as u32).clamp(1, img.width());
    let rh = (rh.round() as u32).clamp(1, img.height());
    let x = (img.width() - rw) / 2;
    let y = (img.height() - rh) / 2;
    resize_region(img, (x, y, rw, rh), width, height)
}

/// torchvision's evaluation transform, `Resize(round(side / fraction))` then `CenterCrop`:
/// the short side resized to `round(max(height, width) / fraction)` (the long side truncated,
/// as torchvision computes it) with PIL's BILINEAR to 8-bit pixels, then the centred
/// `width x height` window at torchvision's offsets (`int(round((size - crop) / 2))`). With
/// `fraction = 0.875` and 224 this is ImageNet's resize 256 / crop 224.
pub fn resize_then_center_crop(img: &RgbImage, height: u32, width: u32, fraction: f32) -> RgbImage {
    let side = (height.max(width) as f64 / fraction as f64).round() as u64;
    let (iw, ih) = (img.width() as u64, img.height() as u64);
    let (nw, nh) = if iw <= ih {
        (side, side * ih / iw)
    } else {
        (side * iw / ih, side)
    };
    let (nw, nh) = (nw.max(width as u64) as u32, nh.max(height as u64) as u32);
    let resized = resize_region(img, (0, 0, img.width(), img.height()), nw, nh);
    let offset = |size: u32, crop: u32| ((size - crop) as f64 / 2.0).round_ties_even() as u32;
    let (x, y) = (offset(nw, width), offset(nh, height));
    image::imageops::crop_imm(&resized, x, y, width, height).to_image()
}

/// torchvision's `RandomResizedCrop`: up to 10 tries to sample a region with area fraction in
/// `scale` and aspect ratio in `ratio`, else a center crop with the ratio clamped; then resize.
pub fn random_resized_crop<R: Rng + ?Sized>(
    img: &RgbImage,
    height: u32,
    width: u32,
    p: RandomResizedCrop,
    rng: &mut R,
) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    let area = w as f64 * h as f64;
    let (lr0, lr1) = ((p.ratio.0 as f64).ln(), (p.ratio.1 as f64).ln());
    for _ in 0..10 {
        let target = area * rng.random_range(p.scale.0 as f64..=p.scale.1 as f64);
        let aspect = if lr0 < lr1 {
            rng.random_range(lr0..lr1).exp()
        } else {
            lr0.exp()
        };
        let cw = (target * aspect).sqrt().round() as u32;
        let ch = (target / aspect).sqrt().round() as u32;
        if cw > 0 && ch > 0 && cw <= w && ch <= h {
            let x = rng.random_range(0..=w - cw);
            let y = rng.random_range(0..=h - ch);
            return resize_region(img, (x, y, cw, ch), width, height);
        }
    }
    // Fallback: whole-image center crop with the aspect ratio clamped into range.
    let in_ratio = w as f64 / h as f64;
    let (cw, ch) = if in_ratio < p.ratio.0 as f64 {
        (
            w,
            ((w as f64 / p.ratio.0 as f64).round() as u32).clamp(1, h),
        )
    } else if in_ratio > p.ratio.1 as f64 {
        (
            ((h as f64 * p.ratio.1 as f64).round() as u32).clamp(1, w),
            h,
        )
    } else {
        (w, h)
    };
    resize_region(img, ((w - cw) / 2, (h - ch) / 2, cw, ch), width, height)
}

/// Mirror image left-right.
pub fn hflip(img: &RgbImage) -> RgbImage {
    imageops::flip_horizontal(img)
}

/// Translates by `(dx, dy)` pixels (positive = right/down); uncovered pixels are black.
pub fn shift(img: &RgbImage, dx: i32, dy: i32) -> RgbImage {
    let (w, h) = (img.width() as i32, img.height() as i32);
    let mut out = RgbImage::from_pixel(img.width(), img.height(), Rgb([0, 0, 0]));
    let row = 3 * w as usize;
    let (x0, x1) = ((dx).max(0), (w + dx).min(w));
    if x0 >= x1 {
        return out;
    }
    let len = 3 * (x1 - x0) as usize;
    let (src, dst) = (img.as_raw(), &mut *out);
    for y in 0..h {
        let sy = y - dy;
        if sy < 0 || sy >= h {
            continue;
        }
        let s = sy as usize * row + 3 * (x0 - dx) as usize;
        let d = y as usize * row + 3 * x0 as usize;
        dst[d..d + len].copy_from_slice(&src[s..s + len]);
    }
    out
}
