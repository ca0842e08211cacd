//! The resampler and the ImageNet evaluation transform against PIL / torchvision, from the
//! fixture `scripts/pil_resize_fixture.py` wrote (tests/fixtures/pil_resize.json).
use dak::data::augment::resize_then_center_crop;
use dak::data::resample::resize_region;
use dak::data::Transform;
use image::RgbImage;

fn fixture() -> serde_json::Value {
    let text = include_str!("fixtures/pil_resize.json");
    serde_json::from_str(text).unwrap()
}

fn image_of(v: &serde_json::Value) -> RgbImage {
    let px: Vec<u8> = v["pixels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap() as u8)
        .collect();
    let (w, h) = (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap());
    RgbImage::from_raw(w as u32, h as u32, px).unwrap()
}

/// Largest per-channel difference, and how many values differ at all.
fn diff(got: &RgbImage, want: &RgbImage) -> (u8, usize) {
    assert_eq!(got.dimensions(), want.dimensions());
    let d = got
        .as_raw()
        .iter()
        .zip(want.as_raw())
        .map(|(a, b)| a.abs_diff(*b));
    d.fold((0, 0), |(m, n), x| (m.max(x), n + (x > 0) as usize))
}

#[test]
fn bilinear_resize_matches_pil_within_one_grey_level() {
    let f = fixture();
    let src = image_of(&f);
    for case in ["enlarge", "reduce"] {
        let want = image_of(&f["cases"][case]);
        let got = resize_region(
            &src,
            (0, 0, src.width(), src.height()),
            want.width(),
            want.height(),
        );
        let (max, n) = diff(&got, &want);
        assert!(
            max <= 1,
            "{case}: up to {max} grey levels off PIL ({n} values differ)"
        );
        // PIL rounds the horizontal pass to 8 bits; keeping it in f32 put 18% of the enlarged
        // values one level off. What remains is PIL's fixed-point coefficients: rare ties.
        let total = got.as_raw().len();
        assert!(
            n * 100 <= total,
            "{case}: {n} of {total} values differ from PIL"
        );
    }
}

#[test]
fn imagenet_evaluation_resizes_then_crops_as_torchvision_does() {
    let f = fixture();
    let src = image_of(&f);
    let want = image_of(&f["cases"]["eval"]);
    let got = resize_then_center_crop(&src, 32, 32, 0.875);
    let (max, n) = diff(&got, &want);
    assert!(
        max <= 1,
        "up to {max} grey levels off torchvision ({n} values differ)"
    );
    // The transform ImageNet prediction uses takes that path.
    let tf = Transform::eval(32, 32).with_crop_fraction(0.875);
    let mut rng = rand::rng();
    assert_eq!(tf.apply_rgb(&src, &mut rng), got);
}
