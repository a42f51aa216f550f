//! Choosing demonstrations from a ranked pool.

use serde::{Deserialize, Serialize};

/// How demonstrations are chosen from the pool ranked nearest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Selection {
    /// The k nearest, nearest first (the paper's default).
    #[default]
    Nearest,
    /// The k nearest of each label, grouped in label order, nearest first
    /// within a label (the reference's `--balance`).
    Balanced,
    /// The first k of the ranking's slice from the `min`-th to the `max`-th
    /// percentile (the paper's percentile study): positions
    /// `floor(n·min/100) .. min(floor(n·max/100), n)`.
    Percentile {
        /// Lower percentile, inclusive.
        min: f64,
        /// Upper percentile, exclusive.
        max: f64,
    },
}

/// The flags of a command line that choose a [`Selection`] (feature `clap`):
/// `--balanced`, or `--percentile P|MIN-MAX`, else the nearest.
#[cfg(feature = "clap")]
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectionArgs {
    /// The k nearest demonstrations of each label, grouped by label.
    #[arg(long, conflicts_with = "percentile")]
    pub balanced: bool,
    /// Demonstrations from a similarity percentile window instead of the
    /// top: `P` (from P to 100) or `MIN-MAX`.
    #[arg(long)]
    pub percentile: Option<String>,
}

#[cfg(feature = "clap")]
impl SelectionArgs {
    /// The selection the flags ask for; the error names the flag.
    pub fn selection(&self) -> Result<Selection, String> {
        match (self.balanced, &self.percentile) {
            (true, _) => Ok(Selection::Balanced),
            (false, Some(p)) => {
                Selection::parse_percentile(p).map_err(|e| format!("--percentile {p}: {e}"))
            }
            (false, None) => Ok(Selection::Nearest),
        }
    }
}

impl Selection {
    /// A percentile window from its text: `P` (from P to 100) or `MIN-MAX`,
    /// percentiles within 0..=100; the error says what is wrong.
    pub fn parse_percentile(text: &str) -> Result<Self, String> {
        let parse = |s: &str| -> Result<f64, String> {
            let value = s
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a number"))?;
            percentile_bound(value)
        };
        match text.split_once('-') {
            Some((min, max)) => Self::percentile(parse(min)?, parse(max)?),
            None => Self::percentile(parse(text)?, 100.0),
        }
    }

    /// The window from the `min`-th to the `max`-th percentile, both within
    /// 0..=100 and `min` below `max`; the error says what is wrong.
    pub fn percentile(min: f64, max: f64) -> Result<Self, String> {
        let (min, max) = (percentile_bound(min)?, percentile_bound(max)?);
        match min < max {
            true => Ok(Self::Percentile { min, max }),
            false => Err("the window is empty".into()),
        }
    }
}

/// `value` when it is a percentile (within 0..=100).
fn percentile_bound(value: f64) -> Result<f64, String> {
    match (0.0..=100.0).contains(&value) {
        true => Ok(value),
        false => Err(format!("{value} is outside 0..=100")),
    }
}

/// Pool indices of the demonstrations for one test input.
///
/// `ranking` lists pool indices nearest first (the whole pool for `Balanced`
/// and `Percentile`, at least k for `Nearest`); `pool_labels[i]` is pool item
/// `i`'s label; `label_order` is the label set (used by `Balanced`).
pub fn select<L: AsRef<str>>(
    ranking: &[usize],
    pool_labels: &[L],
    k: usize,
    selection: &Selection,
    label_order: &[String],
) -> Vec<usize> {
    match selection {
        Selection::Nearest => ranking.iter().copied().take(k).collect(),
        Selection::Balanced => label_order
            .iter()
            .flat_map(|label| {
                ranking
                    .iter()
                    .copied()
                    .filter(move |&i| pool_labels[i].as_ref() == label)
                    .take(k)
            })
            .collect(),
        Selection::Percentile { min, max } => {
            let n = ranking.len();
            let from = ((n as f64 * min / 100.0) as usize).min(n);
            let to = ((n as f64 * max / 100.0) as usize).min(n).max(from);
            ranking[from..to].iter().copied().take(k).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentile_windows_parse_or_say_why_not() {
        use super::Selection;
        assert_eq!(
            Selection::parse_percentile("80"),
            Ok(Selection::Percentile {
                min: 80.0,
                max: 100.0
            })
        );
        assert_eq!(
            Selection::parse_percentile("20-40"),
            Ok(Selection::Percentile {
                min: 20.0,
                max: 40.0
            })
        );
        assert_eq!(
            Selection::parse_percentile("80-20").unwrap_err(),
            "the window is empty"
        );
        assert_eq!(
            Selection::parse_percentile("x").unwrap_err(),
            "`x` is not a number"
        );
        assert_eq!(
            Selection::parse_percentile("120").unwrap_err(),
            "120 is outside 0..=100"
        );
    }

    use super::*;

    const LABELS: [&str; 6] = ["a", "b", "a", "b", "a", "c"];

    #[test]
    fn nearest_keeps_ranking_order() {
        assert_eq!(
            select(&[4, 1, 0], &LABELS, 2, &Selection::Nearest, &[]),
            vec![4, 1]
        );
    }

    #[test]
    fn balanced_groups_by_label_order() {
        let order = vec!["b".to_string(), "a".to_string(), "c".to_string()];
        let ranking = [4, 1, 0, 3, 2, 5];
        assert_eq!(
            select(&ranking, &LABELS, 2, &Selection::Balanced, &order),
            vec![1, 3, 4, 0, 5]
        );
    }

    #[test]
    fn percentile_slices_the_ranking() {
        let ranking: Vec<usize> = (0..6).rev().collect();
        let picked = select(
            &ranking,
            &LABELS,
            2,
            &Selection::Percentile {
                min: 50.0,
                max: 100.0,
            },
            &[],
        );
        assert_eq!(picked, vec![2, 1]);
    }
}
