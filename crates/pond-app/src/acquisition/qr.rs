//! QR images of codes for print: SVG, and PNG at a requested size.

use crate::AppError;

/// Smallest and largest QR image sizes, in pixels.
pub const QR_SIZES: std::ops::RangeInclusive<u32> = 128..=4096;

/// A QR code as SVG.
pub fn qr_svg(text: &str, size: u32) -> Result<String, AppError> {
    let size = checked_size(size)?;
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(code.render::<qrcode::render::svg::Color>().min_dimensions(size, size).quiet_zone(true).build())
}

/// A QR code as PNG, exactly `size` pixels square: the code is drawn at the largest whole number
/// of pixels per module that fits (so it stays sharp for print) and centred on white.
pub fn qr_png(text: &str, size: u32) -> Result<Vec<u8>, AppError> {
    let size = checked_size(size)?;
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| AppError::Internal(e.to_string()))?;
    let drawn = code.render::<image::Luma<u8>>().max_dimensions(size, size).quiet_zone(true).build();
    let mut img = image::GrayImage::from_pixel(size, size, image::Luma([255]));
    let (dx, dy) = ((size.saturating_sub(drawn.width())) / 2, (size.saturating_sub(drawn.height())) / 2);
    image::imageops::overlay(&mut img, &drawn, i64::from(dx), i64::from(dy));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(out.into_inner())
}

/// A requested QR size, refused outside [`QR_SIZES`] (the API and the console alike).
pub fn checked_size(size: u32) -> Result<u32, AppError> {
    if QR_SIZES.contains(&size) {
        Ok(size)
    } else {
        Err(pond_core::ValidationError::new(
            "size",
            format!("must be {} to {} pixels", QR_SIZES.start(), QR_SIZES.end()),
            format!("须为 {} 到 {} 像素", QR_SIZES.start(), QR_SIZES.end()),
        )
        .into())
    }
}
