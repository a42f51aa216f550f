//! Build a sweep in code — the static model on NusaX bitext and
//! classification, 50 items per split — run it into a temporary directory,
//! and print the paper's Table 2 row for it.
//!
//! ```sh
//! cargo xtask fetch-models   # once; data from ../shared/data/miners or MINERS_DATA_DIR
//! cargo run --release --example embed_sweep
//! ```

use anyhow::{Result, bail};
use miners_datasets::DataDir;
use miners_models::Models;
use miners_sweep::{SweepOptions, SweepSpec, TaskSpec};

fn main() -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let models = Models::from_file(&root.join("models.toml"))?;
    let data = DataDir::resolve(None)?;

    let nusax = TaskSpec {
        datasets: vec!["nusax".into()],
        ..TaskSpec::default()
    };
    let spec = SweepSpec {
        encoders: vec!["static-tokenlearn".into()],
        bitext: Some(nusax.clone()),
        classification: Some(nusax),
        limit: Some(50),
        ..SweepSpec::default()
    };

    let out = tempfile::tempdir()?;
    let options = SweepOptions::new(out.path(), data);
    let summary = miners_sweep::run(&spec, &models, &options, &miners_eval::Quiet)?;
    if !summary.failed.is_empty() {
        bail!("jobs failed: {}", summary.failed.join(", "));
    }
    println!("{} jobs in {:.1} s", summary.run, summary.seconds);

    let records = miners_report::load_records(out.path())?;
    print!(
        "{}",
        miners_report::markdown(&miners_report::table2(&records))
    );
    Ok(())
}
