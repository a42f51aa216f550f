//! How per-language scores spread by language family and by script, as box
//! plots (the reference's `boxplot_sib200_*`): for each classification
//! dataset whose languages name their script (SIB-200's `eng_Latn`), each
//! setting and retriever, one plot per grouping with a box for each k run.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use miners_datasets::language_family;
use miners_eval::{ResultRecord, Task, slug, tune::UNCLASSIFIED};
use plotters::{
    data::Quartiles,
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use crate::{
    ReportError,
    aggregate::{headline_metric, reranked},
    plot::{legend_panel, plot_error},
    system,
};

/// A grouping of languages.
#[derive(Clone, Copy)]
enum Grouping {
    /// Glottolog's top-level family.
    Family,
    /// The script the code names (`Latn`).
    Script,
}

impl Grouping {
    fn name(self) -> &'static str {
        match self {
            Self::Family => "family",
            Self::Script => "script",
        }
    }

    /// The group of a language code, when it names a script.
    fn of(self, lang: &str) -> Option<String> {
        let (_, script) = lang.split_once('_')?;
        Some(match self {
            Self::Family => language_family(lang).unwrap_or(UNCLASSIFIED).to_owned(),
            Self::Script => script.to_owned(),
        })
    }
}

/// Scores (in %) by group, then by k.
type Spread = BTreeMap<String, BTreeMap<usize, Vec<f64>>>;

/// Draws the box plots of `records` into `dir`, one by family and one by
/// script per retriever at the reference's ranking (the metric ablation's
/// other rankings, ids with a `~ranking`, are in its tables); returns the
/// file names.
pub fn spread_plots(records: &[ResultRecord], dir: &Path) -> Result<Vec<String>, ReportError> {
    let mut cells: BTreeMap<(String, &'static str, String), Vec<&ResultRecord>> = BTreeMap::new();
    for record in records {
        let scripted = record.lang.as_deref().is_some_and(|l| l.contains('_'));
        if record.task == Task::Classification && scripted && !record.reversed && !reranked(record)
        {
            let key = (
                record.dataset.clone(),
                record.setting.name(),
                system(record),
            );
            cells.entry(key).or_default().push(record);
        }
    }
    let mut names = Vec::new();
    for ((dataset, setting, retriever), of) in cells {
        for grouping in [Grouping::Family, Grouping::Script] {
            let mut spread = Spread::new();
            for record in &of {
                let lang = record.lang.as_deref().unwrap_or_default();
                if let Some(group) = grouping.of(lang) {
                    let scores = spread
                        .entry(group)
                        .or_default()
                        .entry(record.k)
                        .or_default();
                    scores.push(100.0 * headline_metric(record));
                }
            }
            let name = slug(&format!(
                "box-{dataset}-{setting}-{retriever}-{}.svg",
                grouping.name()
            ));
            let title = format!(
                "{dataset} ({setting}), {retriever}: per-language scores by {}",
                grouping.name()
            );
            box_plot_svg(&dir.join(&name), &title, &spread)?;
            names.push(name);
        }
    }
    Ok(names)
}

/// Boxes of each group's scores, one per k side by side, groups along x.
fn box_plot_svg(path: &Path, title: &str, spread: &Spread) -> Result<(), ReportError> {
    let error = |e: &dyn std::fmt::Display| plot_error(path, e);
    let groups: Vec<&String> = spread.keys().collect();
    let ks: BTreeSet<usize> = spread
        .values()
        .flat_map(|by_k| by_k.keys().copied())
        .collect();
    let ks: Vec<usize> = ks.into_iter().collect();
    let width = (120 + 36 * groups.len() as u32 * ks.len().max(1) as u32).clamp(640, 1800);
    let root = SVGBackend::new(path, (width + 170, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| error(&e))?;
    let (data, legend) = root.split_horizontally(width);
    let n = groups.len() as i32;
    let mut chart = ChartBuilder::on(&data)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(110)
        .y_label_area_size(48)
        .build_cartesian_2d((-1..n).with_key_points((0..n).collect()), 0f32..100f32)
        .map_err(|e| error(&e))?;
    // Names lie flat where they fit their slot, else they turn (a space
    // ahead of each keeps it off the tick).
    let slot = f64::from(width) / f64::from(n.max(1) as u32);
    let longest = groups.iter().map(|g| g.chars().count()).max().unwrap_or(0);
    let turned = longest as f64 * 7.5 > slot;
    let label = |i: &i32| {
        let name = groups
            .get(*i as usize)
            .map_or(String::new(), |g| g.to_string());
        match turned {
            true => format!("  {name}"),
            false => name,
        }
    };
    let font = TextStyle::from(("sans-serif", 12).into_font());
    let style = match turned {
        true => font
            .transform(FontTransform::Rotate90)
            .pos(Pos::new(HPos::Left, VPos::Center)),
        false => font,
    };
    chart
        .configure_mesh()
        .y_desc("score (%)")
        .x_label_formatter(&label)
        .x_label_style(style)
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(|e| error(&e))?;
    let box_width = 14u32;
    let mut entries = Vec::new();
    for (slot, &k) in ks.iter().enumerate() {
        let colour = crate::plot::colour(slot);
        let offset = (slot as f64 - (ks.len() as f64 - 1.0) / 2.0) * f64::from(box_width + 4);
        let boxes = groups.iter().enumerate().filter_map(|(i, group)| {
            let scores = spread[*group].get(&k)?;
            let quartiles = Quartiles::new(scores);
            Some(
                Boxplot::new_vertical(i as i32, &quartiles)
                    .width(box_width)
                    .offset(offset)
                    .style(colour),
            )
        });
        chart.draw_series(boxes).map_err(|e| error(&e))?;
        entries.push((format!("k = {k}"), colour));
    }
    legend_panel(&legend, &entries, path)?;
    root.present().map_err(|e| error(&e))
}
