//! SVG plots: k-curves and labelled 2-D scatters. Each has its legend in a
//! panel beside the data (never over it), names every colour it uses, and
//! draws a light grid at its ticks only.

use std::{collections::BTreeMap, path::Path};

use plotters::{coord::Shift, prelude::*};

use crate::ReportError;

/// Eighteen colours that stay apart on white (Tableau 20 without its two
/// greys, darker shades first); grey is left for whatever has no colour of
/// its own.
const PALETTE: [(u8, u8, u8); 18] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
    (174, 199, 232),
    (255, 187, 120),
    (152, 223, 138),
    (255, 152, 150),
    (197, 176, 213),
    (196, 156, 148),
    (247, 182, 210),
    (219, 219, 141),
    (158, 218, 229),
];

/// The grey of points past the palette, named "other" in the legend.
const OTHER: RGBColor = RGBColor(90, 90, 90);

/// The `i`-th colour of the palette.
pub(crate) fn colour(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// Width of the legend panel right of the data.
const LEGEND_WIDTH: u32 = 290;

/// A drawing error of the plot at `path`.
pub(crate) fn plot_error(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// How a legend entry shows its colour.
#[derive(Clone, Copy)]
enum Mark {
    /// A line with a dot, for curves.
    Line,
    /// A dot, for scatters.
    Dot,
}

/// Draws `entries` top down in `area`, each its mark and its name; names
/// longer than the panel is wide are shortened with an ellipsis.
fn legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    entries: &[(String, RGBColor)],
    mark: Mark,
    path: &Path,
) -> Result<(), ReportError> {
    let style = ("sans-serif", 13).into_font().color(&BLACK);
    for (i, (name, colour)) in entries.iter().enumerate() {
        let y = 48 + 20 * i as i32;
        let shown = shorten(name, 38);
        let drawn = match mark {
            Mark::Line => area
                .draw(&PathElement::new(
                    vec![(8, y), (30, y)],
                    colour.stroke_width(2),
                ))
                .and_then(|()| area.draw(&Circle::new((19, y), 3, colour.filled()))),
            Mark::Dot => area.draw(&Circle::new((19, y), 4, colour.filled())),
        };
        drawn
            .and_then(|()| area.draw(&Text::new(shown, (38, y - 7), style.clone())))
            .map_err(|e| plot_error(path, e))?;
    }
    Ok(())
}

/// A legend of coloured dots in `area`, beside a plot's data.
pub(crate) fn legend_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    entries: &[(String, RGBColor)],
    path: &Path,
) -> Result<(), ReportError> {
    legend(area, entries, Mark::Dot, path)
}

/// `text` cut to `max` characters by an ellipsis in the middle, so that
/// names sharing a long prefix (`distfuse(e5-small+minilm-l6,tuned-per-…`)
/// stay apart by their ends.
fn shorten(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        return text.to_owned();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let (start, end) = (&chars[..head], &chars[chars.len() - tail..]);
    format!("{}…{}", String::from_iter(start), String::from_iter(end))
}

/// The canvas, white, split into the data's area and the legend's.
type Areas<'a> = (
    DrawingArea<SVGBackend<'a>, Shift>,
    DrawingArea<SVGBackend<'a>, Shift>,
    DrawingArea<SVGBackend<'a>, Shift>,
);

fn canvas<'a>(path: &'a Path, size: (u32, u32)) -> Result<Areas<'a>, ReportError> {
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let (data, legend) = root.split_horizontally(size.0 - LEGEND_WIDTH);
    Ok((root, data, legend))
}

/// Score against k, one line per system; the x axis ticks the k values run.
pub fn k_curve_svg(
    path: &Path,
    title: &str,
    curves: &BTreeMap<String, Vec<(usize, f64)>>,
) -> Result<(), ReportError> {
    let points = curves.values().flatten();
    let mut ks: Vec<usize> = points.clone().map(|p| p.0).collect();
    ks.sort_unstable();
    ks.dedup();
    // x in hundredths of k: integer coordinates keep plotters' own tick
    // formatting, and the margin keeps the first and last points in the frame.
    let hundredths = |k: usize| k as i32 * 100;
    let (first, last) = (
        ks.first().map_or(0, |&k| hundredths(k)),
        ks.last().map_or(100, |&k| hundredths(k)),
    );
    let margin = ((last - first) / 20).max(10);
    let (low, high) = points.fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let (low, high) = if low > high {
        (0.0, 100.0)
    } else {
        ((low - 5.0).max(0.0), (high + 5.0).min(100.0))
    };
    let (root, data, legend_area) = canvas(path, (860, 440))?;
    // Ticked (and gridded) only where a k was run.
    let x_range = ((first - margin)..(last + margin))
        .with_key_points(ks.iter().map(|&k| hundredths(k)).collect());
    let mut chart = ChartBuilder::on(&data)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(x_range, low..high)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc("k (neighbours or demonstrations)")
        .x_label_formatter(&|x| format!("{}", x / 100))
        .y_desc("score (%)")
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    let mut entries = Vec::new();
    for (i, (name, line)) in curves.iter().enumerate() {
        let colour = colour(i);
        let xy: Vec<(i32, f64)> = line.iter().map(|&(k, v)| (hundredths(k), v)).collect();
        chart
            .draw_series(LineSeries::new(xy.clone(), colour.stroke_width(2)))
            .map_err(|e| plot_error(path, e))?;
        chart
            .draw_series(xy.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
            .map_err(|e| plot_error(path, e))?;
        entries.push((name.clone(), colour));
    }
    legend(&legend_area, &entries, Mark::Line, path)?;
    root.present().map_err(|e| plot_error(path, e))
}

/// Points coloured by category: the 17 most frequent categories get a
/// colour each, any others share grey as "other (N categories)"; every
/// colour is in the legend.
pub fn scatter_svg(
    path: &Path,
    title: &str,
    points: &[[f64; 2]],
    categories: &[String],
) -> Result<(), ReportError> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in categories {
        *counts.entry(c).or_default() += 1;
    }
    let mut order: Vec<&str> = counts.keys().copied().collect();
    order.sort_by_key(|c| std::cmp::Reverse(counts[c]));
    let named = if order.len() <= PALETTE.len() {
        order.len()
    } else {
        PALETTE.len() - 1
    };
    let colour_of = |category: &str| match order.iter().position(|c| *c == category) {
        Some(i) if i < named => colour(i),
        _ => OTHER,
    };
    let bound = |axis: usize| {
        let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p[axis]), hi.max(p[axis]))
        });
        let pad = ((hi - lo) * 0.05).max(1e-9);
        (lo - pad)..(hi + pad)
    };
    let (root, data, legend_area) = canvas(path, (900, 600))?;
    let mut chart = ChartBuilder::on(&data)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .build_cartesian_2d(bound(0), bound(1))
        .map_err(|e| plot_error(path, e))?;
    // The rarest first, so that the frequent ones do not hide them all.
    for category in order.iter().rev() {
        let colour = colour_of(category);
        let series = points
            .iter()
            .zip(categories)
            .filter(|(_, c)| c == category)
            .map(|(p, _)| Circle::new((p[0], p[1]), 2, colour.mix(0.8).filled()));
        chart.draw_series(series).map_err(|e| plot_error(path, e))?;
    }
    let mut entries: Vec<(String, RGBColor)> = order[..named]
        .iter()
        .map(|c| (c.to_string(), colour_of(c)))
        .collect();
    if order.len() > named {
        let rest = order.len() - named;
        entries.push((format!("other ({rest} categories)"), OTHER));
    }
    legend(&legend_area, &entries, Mark::Dot, path)?;
    root.present().map_err(|e| plot_error(path, e))
}
