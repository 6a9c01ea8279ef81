//! QR codes drawn in a terminal with Unicode half blocks.
//!
//! Each text line holds two module rows: the upper half of a cell is the
//! upper row, the lower half the lower row. A drawn (foreground) half is a
//! LIGHT module and an undrawn one is DARK, so the console draws the lines
//! with a white foreground on a black background: the code then reads as
//! dark-on-light with a light quiet zone, on dark and light terminals alike.

use qrcode::{Color, QrCode};

use super::MfaError;

/// Light modules around the code on every side (the QR spec asks for 4).
pub const QUIET_ZONE: usize = 4;

/// The code's modules without quiet zone: `(width, modules)`, row-major,
/// `true` = dark.
pub fn modules(data: &str) -> Result<(usize, Vec<bool>), MfaError> {
    let code = QrCode::new(data.as_bytes()).map_err(|e| MfaError::Qr(e.to_string()))?;
    let width = code.width();
    let dark = code
        .into_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Ok((width, dark))
}

/// The QR code of `data` as lines of `▀`, `▄`, `█` and spaces, two module
/// rows per line, with a [`QUIET_ZONE`] of light modules. Drawn = light.
pub fn render_half_blocks(data: &str) -> Result<Vec<String>, MfaError> {
    let (width, dark) = modules(data)?;
    Ok(half_blocks(width, &dark, QUIET_ZONE))
}

/// Lines of half blocks for a `width`-square code with `quiet` light modules around.
fn half_blocks(width: usize, dark: &[bool], quiet: usize) -> Vec<String> {
    let size = width + 2 * quiet;
    // Light if inside the quiet-zone square and not a dark module of the code.
    let light = |x: usize, y: usize| -> bool {
        if y >= size {
            return false;
        }
        let inside = |v: usize| (quiet..quiet + width).contains(&v);
        !(inside(x) && inside(y) && dark[(y - quiet) * width + (x - quiet)])
    };
    (0..size.div_ceil(2))
        .map(|line| {
            (0..size)
                .map(|x| match (light(x, 2 * line), light(x, 2 * line + 1)) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                })
                .collect()
        })
        .collect()
}

/// [`render_half_blocks`] with ANSI colours (bright white on black) around
/// every line, for printing to a terminal outside the console.
pub fn render_ansi(data: &str) -> Result<Vec<String>, MfaError> {
    Ok(render_half_blocks(data)?
        .into_iter()
        .map(|line| format!("\x1b[97;40m{line}\x1b[0m"))
        .collect())
}

/// A smaller code for small terminals: error correction level L (7 %) and a
/// quiet zone of 2 modules, so an enrolment URI fits in 80x24. Same
/// convention as [`render_half_blocks`]: drawn = light.
pub fn render_compact(data: &str) -> Result<Vec<String>, MfaError> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::L)
        .map_err(|e| MfaError::Qr(e.to_string()))?;
    let width = code.width();
    let dark: Vec<bool> = code
        .into_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Ok(half_blocks(width, &dark, 2))
}
