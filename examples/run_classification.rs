//! One run through the run layer, as the CLI and the sweep make theirs:
//! retrieval-based classification of NusaX (Indonesian and Javanese, 200
//! items per split) with the static model, every language retrieving from
//! its own pool and then from English's, printed as the CLI's summary.
//!
//! ```sh
//! cargo xtask fetch-models   # once; data from ../shared/data/miners or MINERS_DATA_DIR
//! cargo run --release --example run_classification
//! ```

use anyhow::Result;
use miners_classify::Vote;
use miners_core::Lang;
use miners_datasets::DataDir;
use miners_eval::{Quiet, ResultRecord};
use miners_models::Models;
use miners_run::{ClassificationSpec, Pool, RetrieverSpec, RunSpec, RunTask, Session};

fn main() -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let models = Models::from_file(&root.join("models.toml"))?;
    let data = DataDir::resolve(None)?;
    // Each encoder opens once, whatever the number of runs.
    let mut session = Session::new(&models, None);

    for pool in [Pool::Own, Pool::Cross { source: None }] {
        let spec = RunSpec {
            dataset: "nusax".into(),
            label_option: None,
            retriever: RetrieverSpec::single("static-tokenlearn"),
            ks: vec![1, 5, 10],
            limit: Some(200),
            task: RunTask::Classification(ClassificationSpec {
                langs: vec![Lang::from("ind"), Lang::from("jav")],
                pool,
                vote: Vote::Majority,
            }),
        };
        let mut records: Vec<ResultRecord> = Vec::new();
        miners_run::run(&spec, &mut session, &data, &Quiet, &mut records)?;
        print!("{}", miners_report::summary_table(&records));
    }
    Ok(())
}
