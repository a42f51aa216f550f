use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// How a query embedding is compared with a candidate embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Cosine similarity; higher is better.
    Cosine,
    /// Inner product; higher is better.
    Dot,
    /// L2 distance, as `torch.cdist(p=2)` in the reference; lower is better.
    #[default]
    Euclidean,
    /// L1 distance, `Σ |x_i − y_i|` (the `distfuse` package's `manhattan`);
    /// lower is better.
    Manhattan,
}

impl Metric {
    /// Whether a larger value means a closer candidate.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::Euclidean | Metric::Manhattan)
    }

    /// The lower-case name used in specs and result records.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
            Metric::Euclidean => "euclidean",
            Metric::Manhattan => "manhattan",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cosine" => Ok(Metric::Cosine),
            "dot" => Ok(Metric::Dot),
            "euclidean" | "l2" => Ok(Metric::Euclidean),
            "manhattan" | "l1" => Ok(Metric::Manhattan),
            other => Err(CoreError::UnknownMetric(other.to_owned())),
        }
    }
}
