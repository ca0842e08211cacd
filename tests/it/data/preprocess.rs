//! The resampler and the ImageNet evaluation transform against PIL / torchvision, from the
//! fixture `scripts/pil_resize_fixture.py` wrote (tests/fixtures/pil_resize.json).
use dak::data::augment::resize_then_center_crop;
use dak::data::resample::resize_region;
use dak::data::Transform;
use image::RgbImage;

fn fixture() -> serde_json::Value {
    let text = include_str!("../../fixtures/pil_resize.json");
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
fn bilinear_resize_matches_pil_to_the_bit() {
    let f = fixture();
    let src = image_of(&f);
    for case in ["enlarge", "reduce", "mixed", "crop"] {
        let want = image_of(&f["cases"][case]);
        // The whole image, or the box PIL cropped (left, top, right, bottom).
        let region = match f["cases"][case]["box"].as_array() {
            Some(b) => {
                let v: Vec<u32> = b.iter().map(|x| x.as_u64().unwrap() as u32).collect();
                (v[0], v[1], v[2] - v[0], v[3] - v[1])
            }
            None => (0, 0, src.width(), src.height()),
        };
        let got = resize_region(&src, region, want.width(), want.height());
        let (max, n) = diff(&got, &want);
        // PIL's fixed-point weights and 8-bit intermediate, reproduced: not one value differs.
        assert_eq!(
            (max, n),
            (0, 0),
            "{case}: up to {max} grey levels off PIL ({n} values differ)"
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
    assert_eq!(
        (max, n),
        (0, 0),
        "up to {max} grey levels off torchvision ({n} values differ)"
    );
    // The transform ImageNet prediction uses takes that path.
    let tf = Transform::eval(32, 32).with_crop_fraction(0.875);
    let mut rng = rand::rng();
    assert_eq!(tf.apply_rgb(&src, &mut rng), got);
}
