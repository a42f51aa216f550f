//! In-context learning: the generator is opened through the session, the
//! prompt is the dataset's instruction unless the spec gives one.

use miners_eval::{IclRun, Task, run_icl};
use miners_icl::Prompt;

use crate::{Context, IclSpec, RunError, TaskRun};

impl TaskRun for IclSpec {
    fn task(&self) -> Task {
        Task::Icl
    }

    /// The reference retrieves ICL demonstrations without prompts.
    fn prompts_by_default(&self) -> bool {
        false
    }

    fn run(&self, cx: &mut Context<'_, '_>) -> Result<(), RunError> {
        let plan = cx.dataset.spec().classification.ok_or_else(|| {
            RunError::Config(format!(
                "{}: ICL needs a classification dataset",
                cx.dataset.spec().name
            ))
        })?;
        let cross_source = self.pool.source(cx.dataset)?;
        let (generator, entry) = cx.session.generator(&self.generator)?;
        let instruction = self.instruction.as_deref().unwrap_or(plan.instruction);
        let run = IclRun {
            langs: self.langs.clone(),
            cross_source,
            selection: self.selection.clone(),
            prompt: Prompt::new(instruction).with_options(self.options),
            scoring: entry.run_scoring(self.scoring, self.seed, self.greedy),
            ks: cx.options.ks.clone(),
            limit: cx.options.limit,
        };
        run_icl(
            cx.dataset,
            cx.retriever,
            generator,
            &run,
            cx.progress,
            cx.sink,
        )?;
        Ok(())
    }
}
