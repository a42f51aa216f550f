//! In-context learning (ICL) classification, the third task of MINERS.
//!
//! A retriever ranks the labelled pool for each test input; [`select`] picks
//! the demonstrations (nearest first, balanced per label, or from a
//! similarity percentile); [`Prompt`] writes the reference's prompt; a
//! [`Generator`] scores every label as a continuation of the prompt by its
//! mean token log-probability, and [`decide`] picks the label as the
//! reference does, ties included.
//!
//! ```
//! use miners_icl::{Prompt, Selection, decide, select};
//!
//! // Pool items ranked nearest first by some retriever.
//! let ranking = [2, 0, 1];
//! let pool_labels = ["positive", "negative", "positive"];
//! let picked = select(&ranking, &pool_labels, 1, &Selection::Nearest, &[]);
//! assert_eq!(picked, vec![2]);
//!
//! let prompt = Prompt::new("Generate a sentiment label for a given input.")
//!     .render(&[("so good", "positive")], "awful", None);
//! assert_eq!(
//!     prompt,
//!     "Instruction:Generate a sentiment label for a given input.\n\
//!      Input:so good Prediction:positive\n\nInput:awful Prediction:"
//! );
//! // Mean log-probabilities from a generator, one per label.
//! assert_eq!(decide(&[-2.5, -0.5, -1.0]), 1);
//! ```

mod chat;
mod decide;
mod prompt;
mod select;

pub use chat::ChatTemplate;
pub use decide::decide;
pub use prompt::{Prompt, python_list};
#[cfg(feature = "clap")]
pub use select::SelectionArgs;
pub use select::{Selection, select};

/// Errors at the ICL crate boundary.
#[derive(Debug, thiserror::Error)]
pub enum IclError {
    /// A label that tokenizes to no tokens cannot be scored.
    #[error("label `{0}` tokenizes to no tokens; it cannot be scored")]
    EmptyLabel(String),
    /// Even with no demonstrations the prompt does not fit the context window.
    #[error(
        "prompt of {tokens} tokens plus a {label_tokens}-token label exceeds the {window}-token context window even without demonstrations"
    )]
    PromptTooLong {
        /// Prompt tokens without demonstrations.
        tokens: usize,
        /// Tokens of the longest label.
        label_tokens: usize,
        /// The generator's context window.
        window: usize,
    },
    /// A chat template that does not render.
    #[error("chat template: {0}")]
    Template(String),
    /// The generator failed (model loading, tokenization, the forward pass).
    #[error("generator `{generator}`: {message}")]
    Generator {
        /// Generator id.
        generator: String,
        /// What went wrong.
        message: String,
    },
}

/// A generative language model that scores continuations of prompts.
pub trait Generator: Send + Sync {
    /// Identifier recorded in results, e.g. `qwen2.5-0.5b`.
    fn id(&self) -> &str;

    /// Where the model came from, when that is more than its id
    /// (`hf:<org>/<name>@<commit>`), recorded in results.
    fn source(&self) -> Option<&str> {
        None
    }

    /// Maximum number of tokens (prompt plus continuation) the model reads.
    fn context_window(&self) -> usize;

    /// Number of tokens `text` encodes to, without special tokens.
    fn count_tokens(&self, text: &str) -> Result<usize, IclError>;

    /// For each prompt, the mean log-probability per token of each
    /// continuation: `scores[p][c]`. Prompt and continuation are tokenized
    /// separately without special tokens and concatenated, as the reference does.
    fn score(
        &self,
        prompts: &[String],
        continuations: &[String],
    ) -> Result<Vec<Vec<f64>>, IclError>;

    /// Decodes a continuation of `prompt` (tokenized without special tokens;
    /// a chat template puts in what it needs), stopping at an end-of-sequence
    /// or end-of-turn token or after `decoding.max_new_tokens`.
    fn generate(&self, prompt: &str, decoding: &Decoding) -> Result<Generation, IclError>;

    /// [`Generator::generate`] for each (prompt, decoding), calling `done`
    /// with each request's position as it finishes; by default one after
    /// another (a server-backed generator overlaps them).
    fn generate_batch(
        &self,
        requests: &[(String, Decoding)],
        done: &mut dyn FnMut(usize),
    ) -> Result<Vec<Generation>, IclError> {
        let mut generations = Vec::with_capacity(requests.len());
        for (i, (prompt, decoding)) in requests.iter().enumerate() {
            generations.push(self.generate(prompt, decoding)?);
            done(i);
        }
        Ok(generations)
    }

    /// The model's chat template, if it has one.
    fn chat_template(&self) -> Option<&ChatTemplate> {
        None
    }
}

/// Which of the two scorings a generator uses, as a catalog or spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ScoringKind {
    /// Label log-probabilities (base models).
    #[default]
    Logprob,
    /// Generation and exact match (chat models).
    Generate,
}

impl ScoringKind {
    /// The full scoring: generation decodes as `decoding` and compares
    /// lower-cased when `fold_case`.
    pub fn with(self, decoding: Decoding, fold_case: bool) -> Scoring {
        match self {
            ScoringKind::Logprob => Scoring::LogProb,
            ScoringKind::Generate => Scoring::Generate {
                decoding,
                fold_case,
            },
        }
    }
}

/// How an ICL generator's answer is read, as the reference's two paths do.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Scoring {
    /// Each label's mean token log-probability as a continuation of the
    /// prompt; the best label is the prediction (base models).
    #[default]
    #[serde(rename = "logprob")]
    LogProb,
    /// The prompt (with its `Options:` line) goes through the chat template,
    /// the model generates, and the raw text is compared with the gold label
    /// by exact string match (chat models).
    Generate {
        /// Decoding settings.
        decoding: Decoding,
        /// Compare lower-cased (the reference does for Gemma-it, GPT and Command-R).
        fold_case: bool,
    },
}

impl Scoring {
    /// `logprob` or `generate`, as tables label rows.
    pub fn name(&self) -> &'static str {
        match self {
            Scoring::LogProb => "logprob",
            Scoring::Generate { .. } => "generate",
        }
    }
}

/// How each generated token is picked.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Sampling {
    /// The most probable token.
    Greedy,
    /// A draw from the temperature-scaled distribution, cut to the smallest
    /// set of tokens whose probability reaches `top_p`; repeatable by `seed`.
    Sample {
        /// Softmax temperature.
        temperature: f64,
        /// Nucleus mass.
        top_p: f64,
        /// Seed of the draws (one stream per generation).
        seed: u64,
    },
}

/// Decoding settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Decoding {
    /// Tokens generated at most.
    pub max_new_tokens: usize,
    /// How tokens are picked.
    pub sampling: Sampling,
}

impl Decoding {
    /// The reference's: 10 new tokens, sampled at temperature 0.2 with top-p 1.
    pub fn reference(seed: u64) -> Self {
        Self {
            max_new_tokens: 10,
            sampling: Sampling::Sample {
                temperature: 0.2,
                top_p: 1.0,
                seed,
            },
        }
    }

    /// The reference's decoding, or with `greedy` greedy decoding of as many tokens.
    pub fn reference_or_greedy(seed: u64, greedy: bool) -> Self {
        let reference = Self::reference(seed);
        match greedy {
            true => Self::greedy(reference.max_new_tokens),
            false => reference,
        }
    }

    /// Greedy decoding of up to `max_new_tokens` tokens.
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            max_new_tokens,
            sampling: Sampling::Greedy,
        }
    }
}

/// A decoded continuation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Generation {
    /// The text, special tokens skipped.
    pub text: String,
    /// Tokens generated.
    pub tokens: usize,
    /// Whether decoding ended at a stop token (not at the token limit).
    pub stopped: bool,
}
