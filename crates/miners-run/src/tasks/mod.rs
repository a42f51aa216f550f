//! The four MINERS tasks, one file each.

mod bitext;
mod classification;
mod icl;
mod mining;

pub use bitext::selected_pairs;
