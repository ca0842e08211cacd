//! Decoding image files to RGB, with errors that name the file.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, ImageReader, RgbImage};

use crate::error::{Error, Result};

/// File extensions treated as images (compared case-insensitively), as in Keras.
pub const IMAGE_EXTENSIONS: [&str; 8] = ["bmp", "gif", "jpeg", "jpg", "png", "tif", "tiff", "webp"];

/// The image extensions as messages list them.
pub const IMAGE_KINDS: &str = "jpg, jpeg, png, bmp, gif, webp, tif, tiff";

/// True if `path` has one of [`IMAGE_EXTENSIONS`] (case-insensitive).
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
        .unwrap_or(false)
}

fn bad_image(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::input(format!(
        "{}: unreadable image ({what}); replace or delete the file",
        path.display()
    ))
}

/// Decodes an image file of any supported format (detected from its bytes, not its name).
/// Grayscale, grey+alpha, RGBA and 16-bit images all come back as 8-bit RGB (alpha dropped).
pub fn decode_file(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(decode_bytes(&bytes, path)?.to_rgb8())
}

/// The format of `bytes`, refusing unknown formats and truncated JPEGs.
fn sniff(bytes: &[u8], path: &Path) -> Result<ImageFormat> {
    let format = image::guess_format(bytes).map_err(|_| {
        let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        bad_image(
            path,
            format!(
                "not a JPEG, PNG, BMP, GIF, WebP or TIFF file; first bytes: {}",
                if head.is_empty() {
                    "none, the file is empty".to_string()
                } else {
                    head.join(" ")
                }
            ),
        )
    })?;
    // The JPEG decoder renders truncated files as grey instead of failing; catch them here.
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(bad_image(
            path,
            "truncated JPEG: the data ends before the end-of-image marker",
        ));
    }
    Ok(format)
}

/// Decodes `bytes`; `path` is only used in error messages.
pub fn decode_bytes(bytes: &[u8], path: &Path) -> Result<DynamicImage> {
    let format = sniff(bytes, path)?;
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader
        .decode()
        .map_err(|e| bad_image(path, format!("{format:?}: {e}")))
}

/// Checks a file without decoding its pixels: the format, the header (a non-empty size) and,
/// for JPEG, that the data reaches the end-of-image marker. Catches empty, foreign, truncated
/// and header-corrupt files in well under a millisecond each.
pub fn check_file(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let format = sniff(&bytes, path)?;
    let (w, h) = ImageReader::with_format(Cursor::new(&bytes), format)
        .into_dimensions()
        .map_err(|e| bad_image(path, format!("{format:?}: {e}")))?;
    if w == 0 || h == 0 {
        return Err(bad_image(path, format!("{w}x{h} pixels")));
    }
    Ok(())
}

/// Reads only the header: `(width, height)`.
pub fn image_dimensions(path: &Path) -> Result<(u32, u32)> {
    ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .into_dimensions()
        .map_err(|e| bad_image(path, e))
}

/// Walks the JPEG marker structure and reports whether it reaches the EOI marker.
///
/// Segments with a length field (including APP1 with an embedded EXIF thumbnail) are skipped
/// whole; entropy-coded data is scanned byte by byte, where `FF 00` is a stuffed byte and
/// `FF D0`..`FF D7` are restart markers. Bytes after EOI are allowed.
pub fn jpeg_is_complete(b: &[u8]) -> bool {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    loop {
        // Find the next marker, allowing fill bytes (FF FF ...).
        while i < b.len() && b[i] != 0xFF {
            i += 1;
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        if i >= b.len() {
            return false;
        }
        let marker = b[i];
        i += 1;
        match marker {
            0xD9 => return true,
            0xD0..=0xD7 | 0x01 => continue,
            _ => {
                if i + 2 > b.len() {
                    return false;
                }
                let len = u16::from_be_bytes([b[i], b[i + 1]]) as usize;
                if len < 2 || i + len > b.len() {
                    return false;
                }
                i += len;
                if marker == 0xDA {
                    // Entropy-coded data follows the scan header: skip to the next real marker.
                    loop {
                        while i < b.len() && b[i] != 0xFF {
                            i += 1;
                        }
                        if i + 1 >= b.len() {
                            return false;
                        }
                        match b[i + 1] {
                            0x00 | 0xD0..=0xD7 | 0xFF => i += if b[i + 1] == 0xFF { 1 } else { 2 },
                            _ => break,
                        }
                    }
                }
            }
        }
    }
}
