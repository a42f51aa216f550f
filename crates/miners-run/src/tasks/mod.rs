//! The four MINERS tasks and the fine-tuned baseline, one file each.

pub(crate) mod bitext;
pub(crate) mod classification;
mod finetune;
mod icl;
mod mining;

pub use bitext::{BitextSpec, PairSelection, selected_pairs};
pub use classification::ClassificationSpec;
pub use finetune::FineTuneSpec;
pub use icl::IclSpec;
pub use mining::{MiningSpec, laser_ranking};
