//! Fuzzing of every miners parser lives in `tests/parsers.rs`: each parser gets
//! arbitrary bytes and structured mutations of a real file, and must return a
//! value or an error, never panic. `MINERS_FUZZ_CASES` sets the cases per
//! parser (1,000 by default, as CI runs it; `cargo xtask fuzz` runs 100,000).
