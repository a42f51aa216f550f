//! Runnable examples of embedding miners in a Rust program; see `embed_retrieve.rs`
//! and `embed_sweep.rs` (`cargo run --release --example NAME`).
