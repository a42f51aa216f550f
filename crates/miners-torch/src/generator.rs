//! [`TorchGenerator`]: label scoring and greedy decoding with a [`Decoder`].
//!
//! Every label of one prompt is scored in the same forward pass: the prompt
//! is followed by all label continuations side by side, each label attending
//! to the prompt and to its own earlier tokens only, with rotary positions
//! restarting after the prompt. This computes exactly what one forward per
//! (prompt, label) computes, for the prompt's cost once. Prompts are packed
//! into batches under a token budget.

use std::{path::Path, sync::Mutex};

use miners_icl::{Generator, IclError};
use tch::{Device, Tensor};
use tokenizers::Tokenizer;

use crate::{
    DeviceChoice, TorchError,
    batch::{Batch, token_batches},
    models::Decoder,
    resolve_device,
};

/// Default tokens per forward batch (padded length × prompts).
pub const DEFAULT_GENERATOR_BUDGET: usize = 4096;

/// Rows of logits computed at once (`rows × vocabulary` floats).
const LOGIT_ROWS: usize = 256;

/// A decoder-only model from a Hugging Face directory, as a [`Generator`].
pub struct TorchGenerator {
    id: String,
    tokenizer: Tokenizer,
    decoder: Mutex<Decoder>,
    device: Device,
    budget: usize,
    window: usize,
    eos: Vec<i64>,
}

/// One prompt with its label continuations laid out in a single sequence.
struct Packed {
    ids: Vec<i64>,
    positions: Vec<i64>,
    /// 0 for the prompt, `l + 1` for label `l`.
    segments: Vec<u32>,
    /// Prompt length.
    prompt: usize,
}

impl TorchGenerator {
    /// Loads `dir` (`config.json`, `model.safetensors`, `tokenizer.json`) as generator `id`.
    pub fn load(id: &str, dir: &Path, device: DeviceChoice) -> Result<Self, IclError> {
        let error = |e: TorchError| e.for_generator(id);
        let device = resolve_device(device).map_err(error)?;
        let decoder = Decoder::load(dir, device).map_err(error)?;
        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| error(TorchError::model(&tokenizer_path, e.to_string())))?;
        let config = decoder.config();
        Ok(Self {
            id: id.to_owned(),
            window: config.max_positions,
            eos: config.eos.clone(),
            tokenizer,
            decoder: Mutex::new(decoder),
            device,
            budget: DEFAULT_GENERATOR_BUDGET,
        })
    }

    /// Sets the tokens per forward batch (at least one prompt is always run).
    pub fn with_token_budget(mut self, tokens: usize) -> Self {
        self.budget = tokens.max(1);
        self
    }

    /// Token ids of `text` without special tokens.
    pub fn tokenize(&self, text: &str) -> Result<Vec<i64>, IclError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| self.error(format!("tokenizing: {e}")))?;
        Ok(encoding.get_ids().iter().map(|&id| id as i64).collect())
    }

    /// Scores each label of each prompt with one full forward per
    /// (prompt, label), as the reference does; for measuring the speed-up.
    pub fn score_one_by_one(
        &self,
        prompts: &[String],
        labels: &[String],
    ) -> Result<Vec<Vec<f64>>, IclError> {
        let labels = self.tokenize_labels(labels)?;
        prompts
            .iter()
            .map(|prompt| {
                let prompt = self.tokenize(prompt)?;
                labels
                    .iter()
                    .map(|label| {
                        let packed = pack(&prompt, std::slice::from_ref(label));
                        Ok(self.score_batch(&[&packed], std::slice::from_ref(label))?[0][0])
                    })
                    .collect()
            })
            .collect()
    }

    fn error(&self, message: String) -> IclError {
        IclError::Generator {
            generator: self.id.clone(),
            message,
        }
    }

    fn tokenize_labels(&self, labels: &[String]) -> Result<Vec<Vec<i64>>, IclError> {
        labels
            .iter()
            .map(|label| {
                let ids = self.tokenize(label)?;
                if ids.is_empty() {
                    return Err(IclError::EmptyLabel(label.clone()));
                }
                Ok(ids)
            })
            .collect()
    }

    /// Mean label log-probabilities for packed prompts run as one batch.
    fn score_batch(
        &self,
        packed: &[&Packed],
        labels: &[Vec<i64>],
    ) -> Result<Vec<Vec<f64>>, IclError> {
        let tch = |e: tch::TchError| self.error(e.to_string());
        let decoder = self
            .decoder
            .lock()
            .map_err(|_| self.error("poisoned".into()))?;
        let length = packed.iter().map(|p| p.ids.len()).max().unwrap_or(0);
        if length > self.window {
            return Err(self.error(format!(
                "sequence of {length} tokens exceeds the {}-token context window",
                self.window
            )));
        }
        let batch = self
            .batch(
                packed,
                length,
                decoder.config().windows.iter().flatten().min().copied(),
            )
            .map_err(tch)?;
        let hidden = tch::no_grad(|| decoder.hidden_states(&batch)).map_err(tch)?;
        let width = hidden.size().last().copied().unwrap_or(0);
        let hidden = hidden.f_reshape([-1, width]).map_err(tch)?;
        // Row predicting each label token, and the token.
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (b, p) in packed.iter().enumerate() {
            let mut start = p.prompt;
            for label in labels {
                for (j, &token) in label.iter().enumerate() {
                    let predictor = if j == 0 { p.prompt - 1 } else { start + j - 1 };
                    rows.push((b * length + predictor) as i64);
                    targets.push(token);
                }
                start += label.len();
            }
        }
        let mut token_log_probs = Vec::with_capacity(rows.len());
        for (rows, targets) in rows.chunks(LOGIT_ROWS).zip(targets.chunks(LOGIT_ROWS)) {
            let values = tch::no_grad(|| -> Result<Vec<f32>, tch::TchError> {
                let index = Tensor::f_from_slice(rows)?.f_to_device(self.device)?;
                let target = Tensor::f_from_slice(targets)?
                    .f_to_device(self.device)?
                    .f_unsqueeze(1)?;
                let log_probs = decoder.log_probs(&hidden.f_index_select(0, &index)?)?;
                let picked = log_probs
                    .f_gather(1, &target, false)?
                    .f_to_device(Device::Cpu)?;
                Vec::<f32>::try_from(picked.f_flatten(0, -1)?)
            })
            .map_err(tch)?;
            token_log_probs.extend(values);
        }
        let mut values = token_log_probs.into_iter();
        Ok(packed
            .iter()
            .map(|_| {
                labels
                    .iter()
                    .map(|label| {
                        let sum: f64 = values.by_ref().take(label.len()).map(f64::from).sum();
                        sum / label.len() as f64
                    })
                    .collect()
            })
            .collect())
    }

    /// Right-padded ids, positions and tree attention masks.
    fn batch(
        &self,
        packed: &[&Packed],
        length: usize,
        window: Option<i64>,
    ) -> Result<Batch, tch::TchError> {
        let n = packed.len();
        let mut ids = vec![0i64; n * length];
        let mut positions = vec![0i64; n * length];
        let mut attend = vec![false; n * length * length];
        let mut attend_local = window.map(|_| vec![false; n * length * length]);
        for (b, p) in packed.iter().enumerate() {
            let base = b * length;
            ids[base..base + p.ids.len()].copy_from_slice(&p.ids);
            positions[base..base + p.positions.len()].copy_from_slice(&p.positions);
            for q in 0..length {
                let row = (b * length + q) * length;
                if q >= p.ids.len() {
                    // Padding attends to itself only, keeping softmax finite.
                    attend[row + q] = true;
                    if let Some(local) = attend_local.as_mut() {
                        local[row + q] = true;
                    }
                    continue;
                }
                for k in 0..=q {
                    let visible = p.segments[k] == 0 || p.segments[k] == p.segments[q];
                    if !visible {
                        continue;
                    }
                    attend[row + k] = true;
                    if let (Some(local), Some(w)) = (attend_local.as_mut(), window) {
                        local[row + k] = p.positions[q] - p.positions[k] < w;
                    }
                }
            }
        }
        let shape = [n as i64, length as i64];
        let mask = |m: Vec<bool>| -> Result<Tensor, tch::TchError> {
            Tensor::f_from_slice(&m)?
                .f_view([n as i64, 1, length as i64, length as i64])?
                .f_to_device(self.device)
        };
        Ok(Batch {
            ids: Tensor::f_from_slice(&ids)?
                .f_view(shape)?
                .f_to_device(self.device)?,
            positions: Tensor::f_from_slice(&positions)?
                .f_view(shape)?
                .f_to_device(self.device)?,
            attend: mask(attend)?,
            attend_local: attend_local.map(mask).transpose()?,
        })
    }
}

/// Lays out `prompt` followed by every label, positions restarting after the prompt.
fn pack(prompt: &[i64], labels: &[Vec<i64>]) -> Packed {
    let mut ids = prompt.to_vec();
    let mut positions: Vec<i64> = (0..prompt.len() as i64).collect();
    let mut segments = vec![0u32; prompt.len()];
    for (l, label) in labels.iter().enumerate() {
        ids.extend(label);
        positions.extend((0..label.len() as i64).map(|j| prompt.len() as i64 + j));
        segments.extend(std::iter::repeat_n(l as u32 + 1, label.len()));
    }
    Packed {
        ids,
        positions,
        segments,
        prompt: prompt.len(),
    }
}

impl Generator for TorchGenerator {
    fn id(&self) -> &str {
        &self.id
    }

    fn context_window(&self) -> usize {
        self.window
    }

    fn count_tokens(&self, text: &str) -> Result<usize, IclError> {
        Ok(self.tokenize(text)?.len())
    }

    fn score(&self, prompts: &[String], labels: &[String]) -> Result<Vec<Vec<f64>>, IclError> {
        let labels = self.tokenize_labels(labels)?;
        let packed: Vec<Packed> = prompts
            .iter()
            .map(|prompt| {
                let ids = self.tokenize(prompt)?;
                if ids.is_empty() {
                    return Err(self.error("empty prompt".into()));
                }
                Ok(pack(&ids, &labels))
            })
            .collect::<Result<_, IclError>>()?;
        let mut order: Vec<usize> = (0..packed.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(packed[i].ids.len()));
        let lengths: Vec<usize> = order.iter().map(|&i| packed[i].ids.len()).collect();
        let mut scores = vec![Vec::new(); packed.len()];
        for range in token_batches(&lengths, self.budget, usize::MAX) {
            let group = &order[range];
            let batch: Vec<&Packed> = group.iter().map(|&i| &packed[i]).collect();
            for (&i, s) in group.iter().zip(self.score_batch(&batch, &labels)?) {
                scores[i] = s;
            }
        }
        Ok(scores)
    }

    fn generate(&self, prompt: &str, max_new_tokens: usize) -> Result<String, IclError> {
        let tch = |e: tch::TchError| self.error(e.to_string());
        let mut ids = self.tokenize(prompt)?;
        let start = ids.len();
        for _ in 0..max_new_tokens {
            if ids.len() >= self.window {
                break;
            }
            let packed = pack(&ids, &[]);
            let decoder = self
                .decoder
                .lock()
                .map_err(|_| self.error("poisoned".into()))?;
            let window = decoder.config().windows.iter().flatten().min().copied();
            let batch = self.batch(&[&packed], ids.len(), window).map_err(tch)?;
            let next = tch::no_grad(|| -> Result<i64, tch::TchError> {
                let hidden = decoder.hidden_states(&batch)?;
                let last = hidden.f_select(1, ids.len() as i64 - 1)?;
                decoder
                    .log_probs(&last)?
                    .f_argmax(-1, false)?
                    .f_int64_value(&[0])
            })
            .map_err(tch)?;
            if self.eos.contains(&next) {
                break;
            }
            ids.push(next);
        }
        let new: Vec<u32> = ids[start..].iter().map(|&id| id as u32).collect();
        self.tokenizer
            .decode(&new, true)
            .map_err(|e| self.error(format!("decoding: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_restart_positions_after_the_prompt() {
        let packed = pack(&[5, 6, 7], &[vec![1, 2], vec![3]]);
        assert_eq!(packed.ids, vec![5, 6, 7, 1, 2, 3]);
        assert_eq!(packed.positions, vec![0, 1, 2, 3, 4, 3]);
        assert_eq!(packed.segments, vec![0, 0, 0, 1, 1, 2]);
    }
}
