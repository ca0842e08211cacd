//! The benchmark data compiled into the binary (see `data/README.md` for sources and licenses).

use image::RgbImage;

use super::decode::decode_bytes;
use super::idx::{parse_images, parse_labels, IdxImages};
use crate::error::{Error, Result};

const DIGIT_IMAGES: &[u8] = include_bytes!("../../data/mnist/digits-images-idx3-ubyte.gz");
const DIGIT_LABELS: &[u8] = include_bytes!("../../data/mnist/digits-labels-idx1-ubyte.gz");

/// Name and JPEG bytes of each bundled photo (all public domain / CC0).
const PHOTOS: [(&str, &[u8]); 4] = [
    (
        "astronaut",
        include_bytes!("../../data/photos/astronaut.jpg"),
    ),
    ("chelsea", include_bytes!("../../data/photos/chelsea.jpg")),
    ("coffee", include_bytes!("../../data/photos/coffee.jpg")),
    ("rocket", include_bytes!("../../data/photos/rocket.jpg")),
];

/// Number of bundled digits.
pub const DIGIT_COUNT: usize = 10_000;

/// Images per digit class 0..9 in the bundled set.
pub const DIGIT_CLASS_COUNTS: [usize; 10] = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

/// The 10,000 bundled MNIST digits (28x28) and their labels.
pub fn digits() -> Result<(IdxImages, Vec<u8>)> {
    let images = parse_images(DIGIT_IMAGES.to_vec(), "bundled digits-images-idx3-ubyte.gz")?;
    let labels = parse_labels(DIGIT_LABELS.to_vec(), "bundled digits-labels-idx1-ubyte.gz")?;
    if images.count != labels.len() {
        return Err(Error::runtime(
            "bundled digits: image and label counts differ; the build is damaged",
        ));
    }
    Ok((images, labels))
}

/// Names of the bundled photos, in the order [`photos`] returns them.
pub fn photo_names() -> Vec<&'static str> {
    PHOTOS.iter().map(|p| p.0).collect()
}

/// The bundled natural photos, decoded to RGB.
pub fn photos() -> Result<Vec<(&'static str, RgbImage)>> {
    PHOTOS
        .iter()
        .map(|(name, bytes)| {
            let path = std::path::PathBuf::from(format!("bundled photo {name}.jpg"));
            Ok((*name, decode_bytes(bytes, &path)?.to_rgb8()))
        })
        .collect()
}
