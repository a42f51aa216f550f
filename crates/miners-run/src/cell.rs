//! The cells of a run: what one shard of a sweep may take on its own.

use std::fmt;

use miners_core::Lang;
use miners_datasets::Pair;
use serde::{Deserialize, Serialize};

/// One cell of a run: a language pair (bitext, mining), or a test language
/// (classification, ICL).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellRef {
    /// A bitext pair: queries in `source`, candidates in `target`.
    Pair {
        /// Language of the queries.
        source: String,
        /// Language of the candidates.
        target: String,
    },
    /// A test language.
    Lang(String),
}

impl CellRef {
    /// The bitext pair, when this is one.
    pub fn pair(&self) -> Option<Pair> {
        match self {
            Self::Pair { source, target } => Some(Pair {
                source: Lang::from(source.as_str()),
                target: Lang::from(target.as_str()),
            }),
            Self::Lang(_) => None,
        }
    }

    /// The test language, when this is one.
    pub fn lang(&self) -> Option<Lang> {
        match self {
            Self::Lang(lang) => Some(Lang::from(lang.as_str())),
            Self::Pair { .. } => None,
        }
    }
}

impl fmt::Display for CellRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pair { source, target } => write!(f, "{source}-{target}"),
            Self::Lang(lang) => f.write_str(lang),
        }
    }
}
