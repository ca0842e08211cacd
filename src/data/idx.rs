//! MNIST IDX files: `*-idx3-ubyte` (images) and `*-idx1-ubyte` (labels), plain or gzipped.
//!
//! Format (big-endian): two zero bytes, a type byte (0x08 = u8), the number of dimensions,
//! one u32 per dimension, then the data. Gzip is detected by its magic bytes `1f 8b`, not by
//! the file name.

use std::io::{Read, Write};
use std::path::Path;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use image::{GrayImage, RgbImage};

use super::dataset::Dataset;
use crate::error::{Error, Result};

/// A stack of 8-bit grayscale images, row-major, `count * rows * cols` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows (height) per image.
    pub rows: usize,
    /// Columns (width) per image.
    pub cols: usize,
    /// Pixels, image after image.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Image `i` as a grayscale image.
    pub fn gray(&self, i: usize) -> GrayImage {
        GrayImage::from_raw(self.cols as u32, self.rows as u32, self.image(i).to_vec())
            .expect("IdxImages invariant: pixels hold count*rows*cols bytes")
    }

    /// Image `i` with its gray value replicated to R, G and B.
    pub fn rgb(&self, i: usize) -> RgbImage {
        gray_to_rgb(&self.gray(i))
    }
}

/// Replicates a gray image into three identical channels.
pub fn gray_to_rgb(g: &GrayImage) -> RgbImage {
    let raw: Vec<u8> = g.as_raw().iter().flat_map(|&v| [v, v, v]).collect();
    RgbImage::from_raw(g.width(), g.height(), raw).expect("3 bytes per pixel")
}

/// Decompresses if the bytes start with the gzip magic.
fn maybe_gunzip(bytes: Vec<u8>, name: &str) -> Result<Vec<u8>> {
    if bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
        let mut out = Vec::new();
        GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| {
                Error::input(format!(
                    "{name}: corrupt or truncated gzip data ({e}); download the file again"
                ))
            })?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// Parses the IDX header and checks the data length; returns (dims, data).
fn parse(bytes: &[u8], name: &str, want_dims: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    let kind = if want_dims == 1 {
        "labels (idx1-ubyte)"
    } else {
        "images (idx3-ubyte)"
    };
    let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::input(format!(
            "{name}: not an IDX file (first bytes: {}); expected MNIST {kind}",
            if head.is_empty() {
                "none, the file is empty".into()
            } else {
                head.join(" ")
            }
        )));
    }
    if bytes[2] != 0x08 {
        return Err(Error::input(format!(
            "{name}: IDX element type 0x{:02x} is not unsigned bytes (0x08); only u8 IDX files are supported",
            bytes[2]
        )));
    }
    let dims = bytes[3] as usize;
    if dims != want_dims {
        return Err(Error::input(format!(
            "{name}: IDX file has {dims} dimensions, expected {want_dims} for MNIST {kind}"
        )));
    }
    let header = 4 + 4 * dims;
    if bytes.len() < header {
        return Err(Error::input(format!(
            "{name}: truncated IDX header ({} bytes, need {header}); download the file again",
            bytes.len()
        )));
    }
    let shape: Vec<usize> = (0..dims)
        .map(|d| {
            u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let expect = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    let found = bytes.len() - header;
    if found < expect {
        let dims_txt: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        return Err(Error::input(format!(
            "{name}: truncated IDX file: header says {} = {expect} bytes of data, found {found}; download the file again",
            dims_txt.join("x")
        )));
    }
    if found > expect {
        return Err(Error::input(format!(
            "{name}: IDX file has {} bytes after the {expect} bytes its header announces; the file is damaged or not IDX",
            found - expect
        )));
    }
    Ok((shape, bytes[header..].to_vec()))
}

/// Parses image IDX bytes (plain or gzip); `name` is used in messages.
pub fn parse_images(bytes: Vec<u8>, name: &str) -> Result<IdxImages> {
    let raw = maybe_gunzip(bytes, name)?;
    let (shape, pixels) = parse(&raw, name, 3)?;
    Ok(IdxImages {
        count: shape[0],
        rows: shape[1],
        cols: shape[2],
        pixels,
    })
}

/// Parses label IDX bytes (plain or gzip); `name` is used in messages.
pub fn parse_labels(bytes: Vec<u8>, name: &str) -> Result<Vec<u8>> {
    let raw = maybe_gunzip(bytes, name)?;
    Ok(parse(&raw, name, 1)?.1)
}

/// Reads an `*-idx3-ubyte[.gz]` file.
pub fn read_images(path: &Path) -> Result<IdxImages> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_images(bytes, &path.display().to_string())
}

/// Reads an `*-idx1-ubyte[.gz]` file.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_labels(bytes, &path.display().to_string())
}

/// Encodes images as IDX bytes (uncompressed).
pub fn encode_images(images: &IdxImages) -> Result<Vec<u8>> {
    if images.pixels.len() != images.count * images.rows * images.cols {
        return Err(Error::input(format!(
            "IDX images: {} pixels do not match {}x{}x{}",
            images.pixels.len(),
            images.count,
            images.rows,
            images.cols
        )));
    }
    let mut out = vec![0, 0, 0x08, 3];
    for d in [images.count, images.rows, images.cols] {
        let d = u32::try_from(d).map_err(|_| Error::input("IDX dimension exceeds 2^32"))?;
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    Ok(out)
}

/// Encodes labels as IDX bytes (uncompressed).
pub fn encode_labels(labels: &[u8]) -> Result<Vec<u8>> {
    let n = u32::try_from(labels.len()).map_err(|_| Error::input("IDX dimension exceeds 2^32"))?;
    let mut out = vec![0, 0, 0x08, 1];
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(labels);
    Ok(out)
}

fn write_bytes(path: &Path, bytes: &[u8], gzip: bool) -> Result<()> {
    let data = if gzip {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(bytes)
            .and_then(|_| enc.finish())
            .map_err(|e| Error::io(path, e))?
    } else {
        bytes.to_vec()
    };
    std::fs::write(path, data).map_err(|e| Error::io(path, e))
}

/// Writes an image IDX file, gzipped if `gzip`.
pub fn write_images(path: &Path, images: &IdxImages, gzip: bool) -> Result<()> {
    write_bytes(path, &encode_images(images)?, gzip)
}

/// Writes a label IDX file, gzipped if `gzip`.
pub fn write_labels(path: &Path, labels: &[u8], gzip: bool) -> Result<()> {
    write_bytes(path, &encode_labels(labels)?, gzip)
}

/// Combines IDX images and labels into an in-memory RGB [`Dataset`] with classes "0".."9".
pub fn to_dataset(name: &str, images: &IdxImages, labels: &[u8]) -> Result<Dataset> {
    if images.count != labels.len() {
        return Err(Error::input(format!(
            "{name}: {} images but {} labels; use the matching images/labels pair",
            images.count,
            labels.len()
        )));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l > 9) {
        return Err(Error::input(format!(
            "{name}: label {bad} is not a digit 0-9"
        )));
    }
    let classes = (0..10).map(|d| d.to_string()).collect();
    let rgb = (0..images.count).map(|i| images.rgb(i)).collect();
    Dataset::from_images(
        name,
        classes,
        rgb,
        Some(labels.iter().map(|&l| l as u32).collect()),
    )
}

/// Reads an MNIST images/labels pair into an in-memory dataset.
pub fn load_mnist(images: &Path, labels: &Path) -> Result<Dataset> {
    let imgs = read_images(images)?;
    let labs = read_labels(labels)?;
    to_dataset(&images.display().to_string(), &imgs, &labs)
}
