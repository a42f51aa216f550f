//! The four MINERS tasks, one file each.

pub(crate) mod bitext;
pub(crate) mod classification;
mod icl;
mod mining;

pub use bitext::{BitextSpec, PairSelection, selected_pairs};
pub use classification::ClassificationSpec;
pub use icl::IclSpec;
pub use mining::{MiningSpec, laser_ranking};
