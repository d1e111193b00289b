//! Real, small files for previews and outputs: PNG, JPEG, GIF, PDF, HTML and MP4, generated (or,
//! for the video, shipped) so that a browser can display them and a test can check their magic
//! bytes.

/// Draws a simple "template" picture: a two-colour gradient, a header bar and a content block.
fn pixels(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let shade = |c: u8| -> u8 {
                let t = (x + y) as f32 / (width + height) as f32;
                (f32::from(c) * (0.55 + 0.45 * t)) as u8
            };
            let header = y < height / 6;
            let block = x > width / 8 && x < width * 7 / 8 && y > height / 3 && y < height * 3 / 4;
            let px = if header {
                [250, 250, 250]
            } else if block {
                [255 - rgb[0] / 3, 255 - rgb[1] / 3, 255 - rgb[2] / 3]
            } else {
                [shade(rgb[0]), shade(rgb[1]), shade(rgb[2])]
            };
            out.extend_from_slice(&px);
        }
    }
    out
}

/// A PNG image.
pub(crate) fn png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let written = encoder
            .write_header()
            .and_then(|mut w| w.write_image_data(&pixels(width, height, rgb)));
        if let Err(e) = written {
            tracing::error!(%e, "png encoding failed");
        }
    }
    out
}

/// A JPEG image.
pub(crate) fn jpeg(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    let (Ok(w), Ok(h)) = (u16::try_from(width), u16::try_from(height)) else {
        return out;
    };
    let encoder = jpeg_encoder::Encoder::new(&mut out, 85);
    if let Err(e) = encoder.encode(
        &pixels(width, height, rgb),
        w,
        h,
        jpeg_encoder::ColorType::Rgb,
    ) {
        tracing::error!(%e, "jpeg encoding failed");
    }
    out
}

/// A two-frame animated GIF (the picture, then the picture with its colours inverted).
pub(crate) fn gif(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    let (Ok(w), Ok(h)) = (u16::try_from(width), u16::try_from(height)) else {
        return out;
    };
    let first = pixels(width, height, rgb);
    let second: Vec<u8> = first.iter().map(|c| 255 - c).collect();
    let written = gif::Encoder::new(&mut out, w, h, &[]).and_then(|mut enc| {
        enc.set_repeat(gif::Repeat::Infinite)?;
        for frame in [first, second] {
            let mut frame = gif::Frame::from_rgb_speed(w, h, &frame, 30);
            frame.delay = 50;
            enc.write_frame(&frame)?;
        }
        Ok(())
    });
    if let Err(e) = written {
        tracing::error!(%e, "gif encoding failed");
    }
    out
}

/// A one-second 64×64 H.264 MP4, made once with ffmpeg (`testsrc`); the emulator ships it rather
/// than encoding video.
pub(crate) const MP4: &[u8] = include_bytes!("../assets/output.mp4");

/// A self-contained HTML5 banner: CHILI's `html` output is an animated banner for the web.
pub(crate) fn html(title: &str, width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let title: String = title
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let [r, g, b] = rgb;
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n\
         <style>@keyframes in{{from{{opacity:0}}to{{opacity:1}}}}\
         .banner{{width:{w}px;height:{h}px;background:rgb({r},{g},{b});color:#fff;font:bold 24px sans-serif;\
         display:flex;align-items:center;justify-content:center;animation:in 1s}}</style></head>\n\
         <body><div class=\"banner\">{title}</div></body></html>\n",
        w = width / 4,
        h = height / 4,
    )
    .into_bytes()
}

/// A one-page PDF (A4) with a title and a few lines of text, with a correct cross-reference table.
pub(crate) fn pdf(title: &str, lines: &[String]) -> Vec<u8> {
    let escape = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .flat_map(|c| match c {
                '(' | ')' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect()
    };
    let mut content = format!("BT /F1 28 Tf 72 760 Td ({}) Tj ET\n", escape(title));
    for (i, line) in lines.iter().enumerate() {
        content.push_str(&format!(
            "BT /F1 12 Tf 72 {} Td ({}) Tj ET\n",
            720 - 18 * i as i32,
            escape(line)
        ));
    }
    content.push_str("0.2 0.5 0.8 rg 72 300 451 300 re f\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, obj) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{obj}\nendobj\n", i + 1));
    }
    let xref = out.len();
    out.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for o in offsets {
        out.push_str(&format!("{o:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_have_their_magic_bytes() {
        assert!(png(8, 6, [10, 20, 30]).starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(jpeg(8, 6, [10, 20, 30]).starts_with(&[0xFF, 0xD8, 0xFF]));
        let gif = gif(8, 6, [10, 20, 30]);
        assert!(gif.starts_with(b"GIF89a") && gif.ends_with(b";"), "{gif:?}");
        assert_eq!(&MP4[4..8], b"ftyp");
        let html = String::from_utf8(html("A <b> & C", 400, 400, [1, 2, 3])).unwrap();
        assert!(html.starts_with("<!doctype html>") && html.contains("A &lt;b&gt; &amp; C"));
        let pdf = pdf("Flyer (v2)", &["line".into()]);
        assert!(pdf.starts_with(b"%PDF-1.4"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let text = String::from_utf8(pdf).unwrap();
        assert!(text.contains(r"(Flyer \(v2\))"));
        // The xref offset points at the xref keyword.
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[startxref..].starts_with("xref"));
    }
}
