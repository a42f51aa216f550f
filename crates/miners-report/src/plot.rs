//! SVG plots: k-curves and labelled 2-D scatters.

use std::{collections::BTreeMap, path::Path};

use plotters::{
    coord::{Shift, types::RangedCoordf64},
    prelude::*,
};

use crate::ReportError;

fn plot_error(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Draws the legend at `position` and writes the file.
fn finish<'a, 'b: 'a>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    root: &DrawingArea<SVGBackend<'b>, Shift>,
    position: SeriesLabelPosition,
    path: &Path,
) -> Result<(), ReportError> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))
}

/// Score against k, one line per system.
pub fn k_curve_svg(
    path: &Path,
    title: &str,
    curves: &BTreeMap<String, Vec<(usize, f64)>>,
) -> Result<(), ReportError> {
    let points = curves.values().flatten();
    let max_k = points.clone().map(|p| p.0).max().unwrap_or(1).max(1) as f64;
    let (low, high) = points.fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let (low, high) = if low > high {
        (0.0, 100.0)
    } else {
        ((low - 5.0).max(0.0), (high + 5.0).min(100.0))
    };
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..max_k + 0.5, low..high)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc("k")
        .y_desc("score (%)")
        .draw()
        .map_err(|e| plot_error(path, e))?;
    for (i, (name, line)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let xy: Vec<(f64, f64)> = line.iter().map(|&(k, v)| (k as f64, v)).collect();
        chart
            .draw_series(LineSeries::new(xy.clone(), color.stroke_width(2)))
            .map_err(|e| plot_error(path, e))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(xy.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(|e| plot_error(path, e))?;
    }
    finish(&mut chart, &root, SeriesLabelPosition::LowerRight, path)
}

/// Points coloured by category, with a legend of the (at most 20 most frequent) categories.
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
    let bound = |axis: usize| {
        let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p[axis]), hi.max(p[axis]))
        });
        let pad = ((hi - lo) * 0.05).max(1e-9);
        (lo - pad)..(hi + pad)
    };
    let root = SVGBackend::new(path, (760, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .build_cartesian_2d(bound(0), bound(1))
        .map_err(|e| plot_error(path, e))?;
    for (i, category) in order.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let series = points
            .iter()
            .zip(categories)
            .filter(|(_, c)| c == category)
            .map(|(p, _)| Circle::new((p[0], p[1]), 2, color.filled()));
        let drawn = chart.draw_series(series).map_err(|e| plot_error(path, e))?;
        if i < 20 {
            drawn
                .label(category.to_string())
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
        }
    }
    finish(&mut chart, &root, SeriesLabelPosition::UpperRight, path)
}
