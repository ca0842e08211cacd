//! Geometry, preprocessing modes and determinism of the per-image transform.

use crate::common::{pattern, save, TempDir};
use dak::data::augment::{hflip, random_resized_crop, resize_center_crop, shift};
use dak::data::decode::decode_file;
use dak::data::rng::rng_for;
use dak::data::{Preprocess, RandomResizedCrop, Transform};
use image::{GrayImage, Luma, Rgb, RgbImage};

fn chw(tf: &Transform, img: &RgbImage, seed: u64) -> Vec<f32> {
    let mut out = vec![0.0; tf.sample_len()];
    tf.apply(img, &mut rng_for(&[seed]), &mut out);
    out
}

#[test]
fn preprocess_modes_match_their_formulas() {
    let img = RgbImage::from_fn(2, 1, |x, _| {
        if x == 0 {
            Rgb([255, 128, 0])
        } else {
            Rgb([10, 20, 30])
        }
    });
    let tf = Transform::eval(1, 2);
    let close = |a: f32, b: f32| (a - b).abs() < 1e-4;

    let unit = chw(&tf.clone().with_preprocess(Preprocess::Unit), &img, 0);
    // CHW: [R(x0), R(x1), G(x0), G(x1), B(x0), B(x1)]
    let want = [
        1.0,
        10.0 / 255.0,
        128.0 / 255.0,
        20.0 / 255.0,
        0.0,
        30.0 / 255.0,
    ];
    assert!(unit.iter().zip(want).all(|(&a, b)| close(a, b)), "{unit:?}");

    let inet = chw(&tf.clone().with_preprocess(Preprocess::Imagenet), &img, 0);
    assert!(close(inet[0], (1.0 - 0.485) / 0.229));
    assert!(close(inet[3], (20.0 / 255.0 - 0.456) / 0.224));
    assert!(close(inet[4], (0.0 - 0.406) / 0.225));

    let caffe = chw(&tf.with_preprocess(Preprocess::Caffe), &img, 0);
    // Channel 0 is blue, on the 0..255 scale.
    assert!(close(caffe[0], 0.0 - 103.939) && close(caffe[1], 30.0 - 103.939));
    assert!(close(caffe[2], 128.0 - 116.779));
    assert!(close(caffe[4], 255.0 - 123.68) && close(caffe[5], 10.0 - 123.68));

    assert_eq!("CAFFE".parse::<Preprocess>().unwrap(), Preprocess::Caffe);
    let e = "bgr".parse::<Preprocess>().unwrap_err().to_string();
    assert!(e.contains("imagenet, caffe or unit"), "{e}");
}

#[test]
fn train_transform_shapes_ranges_and_determinism() {
    let img = pattern(97, 61, 200);
    for (h, w) in [(32, 32), (24, 40), (224, 224)] {
        let tf = Transform::train(h, w)
            .with_shift(3)
            .with_preprocess(Preprocess::Unit);
        let a = chw(&tf, &img, 5);
        assert_eq!(a.len(), 3 * h as usize * w as usize);
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(a, chw(&tf, &img, 5), "same seed must give the same output");
        assert_ne!(
            a,
            chw(&tf, &img, 6),
            "another seed should give another crop"
        );
    }
    let inet = chw(&Transform::train(32, 32), &img, 1);
    let (lo, hi) = ((0.0 - 0.485) / 0.229 - 1e-4, (1.0 - 0.406) / 0.225 + 1e-4);
    assert!(inet.iter().all(|&v| v >= lo && v <= hi));
}

#[test]
fn flip_is_the_mirror_image() {
    let img = pattern(9, 5, 3);
    let f = hflip(&img);
    for y in 0..5 {
        for x in 0..9 {
            assert_eq!(f.get_pixel(x, y), img.get_pixel(8 - x, y));
        }
    }
    // Through the transform: with flips on, each output is either the image or its mirror.
    let tf = Transform::eval(5, 9)
        .with_hflip(true)
        .with_preprocess(Preprocess::Unit);
    let plain = chw(&tf.clone().with_hflip(false), &img, 0);
    let mirror = chw(&tf.clone().with_hflip(false), &f, 0);
    let outs: Vec<Vec<f32>> = (0..16).map(|s| chw(&tf, &img, s)).collect();
    assert!(outs.iter().all(|o| *o == plain || *o == mirror));
    assert!(outs.contains(&plain) && outs.contains(&mirror));
}

#[test]
fn shift_moves_pixels_and_fills_black() {
    let img = pattern(6, 4, 9);
    let s = shift(&img, 2, -1);
    assert_eq!(s.get_pixel(2, 0), img.get_pixel(0, 1));
    assert_eq!(s.get_pixel(5, 2), img.get_pixel(3, 3));
    assert_eq!(*s.get_pixel(1, 0), Rgb([0, 0, 0]));
    assert_eq!(*s.get_pixel(3, 3), Rgb([0, 0, 0]));
    assert_eq!(shift(&img, 0, 0), img);
    assert!(shift(&img, 7, 0).pixels().all(|p| *p == Rgb([0, 0, 0])));
}

#[test]
fn center_crop_and_random_resized_crop_sizes() {
    // A wide image: the center crop keeps the middle square.
    let img = RgbImage::from_fn(30, 10, |x, _| {
        if (10..20).contains(&x) {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let c = resize_center_crop(&img, 10, 10, 1.0);
    assert_eq!(c.dimensions(), (10, 10));
    assert!(c.pixels().all(|p| *p == Rgb([255, 0, 0])));
    // Same size and fraction 1: unchanged.
    let p = pattern(8, 8, 1);
    assert_eq!(resize_center_crop(&p, 8, 8, 1.0), p);
    assert_eq!(resize_center_crop(&p, 8, 8, 0.5).dimensions(), (8, 8));

    let mut rng = rng_for(&[3]);
    for _ in 0..20 {
        let r = random_resized_crop(&img, 16, 12, RandomResizedCrop::default(), &mut rng);
        assert_eq!(r.dimensions(), (12, 16));
    }
    // Scale (1, 1) with the image's own ratio: the whole image.
    let whole = RandomResizedCrop {
        scale: (1.0, 1.0),
        ratio: (3.0, 3.0),
    };
    assert_eq!(random_resized_crop(&img, 10, 30, whole, &mut rng), img);
}

#[test]
fn grayscale_and_rgba_files_decode_to_rgb() {
    let t = TempDir::new("augment-gray");
    let gray = GrayImage::from_fn(5, 3, |x, _| Luma([x as u8 * 50]));
    let gp = t.path().join("g.png");
    gray.save(&gp).unwrap();
    let rgb = decode_file(&gp).unwrap();
    assert_eq!(rgb.dimensions(), (5, 3));
    assert_eq!(*rgb.get_pixel(2, 1), Rgb([100, 100, 100]));

    let rgba = image::RgbaImage::from_pixel(2, 2, image::Rgba([1, 2, 3, 4]));
    let ap = t.path().join("a.png");
    rgba.save(&ap).unwrap();
    assert_eq!(*decode_file(&ap).unwrap().get_pixel(1, 1), Rgb([1, 2, 3]));

    let jp = t.path().join("c.jpg");
    save(&jp, &pattern(16, 16, 40));
    assert_eq!(decode_file(&jp).unwrap().dimensions(), (16, 16));
}

#[test]
fn invalid_transforms_are_rejected() {
    assert!(Transform::eval(0, 4).validate().is_err());
    assert!(Transform::eval(4, 4)
        .with_crop_fraction(0.0)
        .validate()
        .is_err());
    let bad = RandomResizedCrop {
        scale: (0.5, 0.1),
        ratio: (1.0, 1.0),
    };
    assert!(Transform::eval(4, 4)
        .with_random_resized_crop(Some(bad))
        .validate()
        .is_err());
    assert!(Transform::train(4, 4).validate().is_ok());
}

#[test]
fn fast_resize_matches_the_image_crate_triangle_filter() {
    use dak::data::resample::resize_region;
    let img = RgbImage::from_fn(97, 61, |x, y| {
        Rgb([(x * 5 + y) as u8, (y * 9) as u8, (x ^ y) as u8])
    });
    for (region, w, h) in [
        ((0, 0, 97, 61), 32, 32),
        ((0, 0, 97, 61), 224, 150),
        ((10, 5, 40, 30), 64, 64),
        ((3, 7, 90, 50), 9, 41),
        ((0, 0, 97, 61), 97, 61),
        ((96, 60, 1, 1), 4, 4),
    ] {
        let ours = resize_region(&img, region, w, h);
        let crop =
            image::imageops::crop_imm(&img, region.0, region.1, region.2, region.3).to_image();
        let theirs = image::imageops::resize(&crop, w, h, image::imageops::FilterType::Triangle);
        let diff = ours
            .as_raw()
            .iter()
            .zip(theirs.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(diff <= 1, "{region:?} -> {w}x{h}: max difference {diff}");
    }
}
