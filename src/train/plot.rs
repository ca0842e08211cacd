//! Training curves as a PNG, drawn by hand with the `image` crate (no plotting dependency):
//! source, target and domain-classifier accuracy and lambda per epoch, one set of lines per run
//! (the first run of a comparison dashed). Text uses a built-in 5x7 bitmap font.

use std::path::Path;

use image::codecs::png::PngEncoder;
use image::{ImageEncoder, Rgb, RgbImage};

use super::EpochLogs;
use crate::error::{Error, Result};

const W: u32 = 960;
const H: u32 = 560;
const LEFT: i32 = 70;
const RIGHT: i32 = 690;
const TOP: i32 = 50;
const BOTTOM: i32 = 490;

/// 5x7 glyphs, one byte per row (low 5 bits, bit 4 = leftmost column).
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '@' => [0x0E, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0E],
        _ => [0; 7],
    }
}

struct Canvas(RgbImage);

impl Canvas {
    fn put(&mut self, x: i32, y: i32, c: Rgb<u8>) {
        if x >= 0 && y >= 0 && (x as u32) < W && (y as u32) < H {
            self.0.put_pixel(x as u32, y as u32, c);
        }
    }

    /// Text at `scale` (2 = 10x14 px per glyph, 12 px advance).
    fn text(&mut self, x: i32, y: i32, s: &str, scale: i32, c: Rgb<u8>) {
        for (k, ch) in s.chars().enumerate() {
            let g = glyph(ch);
            let ox = x + k as i32 * 6 * scale;
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits >> (4 - col) & 1 == 1 {
                        for dy in 0..scale {
                            for dx in 0..scale {
                                self.put(ox + col * scale + dx, y + row as i32 * scale + dy, c);
                            }
                        }
                    }
                }
            }
        }
    }

    fn text_width(s: &str, scale: i32) -> i32 {
        s.chars().count() as i32 * 6 * scale
    }

    /// A 2-px line; `dashed` leaves gaps every 6 px.
    fn line(&mut self, (x0, y0): (i32, i32), (x1, y1): (i32, i32), c: Rgb<u8>, dashed: bool) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
        for i in 0..=steps {
            if dashed && (i / 6) % 2 == 1 {
                continue;
            }
            let x = x0 + (x1 - x0) * i / steps;
            let y = y0 + (y1 - y0) * i / steps;
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                self.put(x + dx, y + dy, c);
            }
        }
    }

    fn hline(&mut self, x0: i32, x1: i32, y: i32, c: Rgb<u8>) {
        for x in x0..=x1 {
            self.put(x, y, c);
        }
    }

    fn vline(&mut self, x: i32, y0: i32, y1: i32, c: Rgb<u8>) {
        for y in y0..=y1 {
            self.put(x, y, c);
        }
    }
}

type Getter = fn(&EpochLogs) -> Option<f64>;

/// Pixel column of `epoch` of `epochs`.
fn x_of(epoch: usize, epochs: usize) -> i32 {
    if epochs == 1 {
        (LEFT + RIGHT) / 2
    } else {
        LEFT + (RIGHT - LEFT) * (epoch as i32 - 1) / (epochs as i32 - 1)
    }
}

/// Pixel row of a fraction in [0, 1].
fn y_of(v: f64) -> i32 {
    BOTTOM - ((BOTTOM - TOP) as f64 * v.clamp(0.0, 1.0)).round() as i32
}

/// Title, the percent grid and the epoch axis.
fn axes(cv: &mut Canvas, epochs: usize, title: &str) {
    let (black, grid) = (Rgb([0, 0, 0]), Rgb([225, 225, 225]));
    cv.text(LEFT, 16, title, 2, black);
    for k in 0..=4 {
        let y = y_of(k as f64 / 4.0);
        cv.hline(LEFT, RIGHT, y, grid);
        let label = format!("{}%", k * 25);
        let x = LEFT - 8 - Canvas::text_width(&label, 2);
        cv.text(x, y - 7, &label, 2, black);
    }
    let every = epochs.div_ceil(10);
    for e in 1..=epochs {
        let x = x_of(e, epochs);
        if (e - 1) % every == 0 || e == epochs {
            cv.vline(x, TOP, BOTTOM, grid);
            let label = e.to_string();
            let lx = x - Canvas::text_width(&label, 2) / 2;
            cv.text(lx, BOTTOM + 10, &label, 2, black);
        }
    }
    cv.hline(LEFT, RIGHT, TOP, black);
    cv.hline(LEFT, RIGHT, BOTTOM, black);
    cv.vline(LEFT, TOP, BOTTOM, black);
    cv.vline(RIGHT, TOP, BOTTOM, black);
    cv.text((LEFT + RIGHT) / 2 - 30, BOTTOM + 34, "EPOCH", 2, black);
}

/// One curve of `history` (with a dot per epoch); false when it has no points.
fn curve(
    cv: &mut Canvas,
    history: &[EpochLogs],
    epochs: usize,
    get: Getter,
    color: Rgb<u8>,
    dashed: bool,
) -> bool {
    let points: Vec<(i32, i32)> = history
        .iter()
        .filter_map(|m| {
            get(m)
                .filter(|v| v.is_finite())
                .map(|v| (x_of(m.epoch, epochs), y_of(v)))
        })
        .collect();
    for pair in points.windows(2) {
        cv.line(pair[0], pair[1], color, dashed);
    }
    for &(x, y) in &points {
        for dy in -2..=2 {
            for dx in -2..=2 {
                cv.put(x + dx, y + dy, color);
            }
        }
    }
    !points.is_empty()
}

/// A legend row: a line sample and its label.
fn legend(cv: &mut Canvas, y: i32, color: Rgb<u8>, dashed: bool, label: &str) {
    cv.line((RIGHT + 20, y + 6), (RIGHT + 50, y + 6), color, dashed);
    cv.text(RIGHT + 58, y, label, 2, Rgb([0, 0, 0]));
}

/// Distinct colours for runs of a comparison (Tableau 10).
pub const RUN_COLORS: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// Renders the curves of `runs` (name, per-epoch metrics) as an RGB image: every metric of
/// one or two runs (the first of two dashed); with more runs, each run's target accuracy
/// (solid) and source accuracy (dashed) in its own colour, so that the legend stays readable.
pub fn render(runs: &[(&str, &[EpochLogs])]) -> RgbImage {
    let mut cv = Canvas(RgbImage::from_pixel(W, H, Rgb([255, 255, 255])));
    let black = Rgb([0, 0, 0]);
    let epochs = runs
        .iter()
        .flat_map(|(_, h)| h.iter().map(|m| m.epoch))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut legend_y = TOP;
    if runs.len() > 2 {
        axes(&mut cv, epochs, "ACCURACY PER EPOCH AND METHOD");
        cv.text(RIGHT + 20, legend_y, "SOLID: TARGET", 2, black);
        cv.text(RIGHT + 20, legend_y + 20, "DASHED: SOURCE", 2, black);
        legend_y += 52;
        for (r, (name, history)) in runs.iter().enumerate() {
            let color = Rgb(RUN_COLORS[r % RUN_COLORS.len()]);
            // Past ten runs the colours repeat: dashes tell the second round apart.
            let again = r >= RUN_COLORS.len();
            curve(&mut cv, history, epochs, |m| m.target_acc, color, again);
            curve(&mut cv, history, epochs, |m| Some(m.train_acc), color, true);
            legend(&mut cv, legend_y, color, again, &name.to_uppercase());
            legend_y += 22;
        }
        return cv.0;
    }
    axes(&mut cv, epochs, "ADAPTATION CURVES PER EPOCH");
    let curves: [(&str, Rgb<u8>, Getter); 4] = [
        ("SOURCE ACC", Rgb([31, 119, 180]), |m| Some(m.train_acc)),
        ("TARGET ACC", Rgb([214, 39, 40]), |m| m.target_acc),
        ("DOMAIN ACC", Rgb([44, 160, 44]), |m| m.domain_acc),
        ("LAMBDA (0-1)", Rgb([127, 127, 127]), |m| {
            m.lambda.filter(|_| m.method != "source-only")
        }),
    ];
    for (r, (name, history)) in runs.iter().enumerate() {
        let dashed = runs.len() > 1 && r == 0;
        cv.text(RIGHT + 20, legend_y, &name.to_uppercase(), 2, black);
        legend_y += 22;
        for (label, color, get) in &curves {
            if curve(&mut cv, history, epochs, *get, *color, dashed) {
                legend(&mut cv, legend_y, *color, dashed, label);
                legend_y += 20;
            }
        }
        legend_y += 14;
    }
    cv.0
}

/// Renders `runs` and writes the PNG to `path` atomically.
pub fn write_png(path: &Path, runs: &[(&str, &[EpochLogs])]) -> Result<()> {
    let img = render(runs);
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes)
        .write_image(img.as_raw(), W, H, image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::runtime(format!("{}: cannot encode PNG: {e}", path.display())))?;
    crate::io::write_atomic(path, &bytes)
}
