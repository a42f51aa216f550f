//! [`TorchGenerator`]: label scoring and greedy decoding with a [`Decoder`].
//!
//! Every label of one prompt is scored in the same forward pass: the prompt
//! is followed by all label continuations side by side, each label attending
//! to the prompt and to its own earlier tokens only, with rotary positions
//! restarting after the prompt. This computes exactly what one forward per
//! (prompt, label) computes, for the prompt's cost once. Prompts are packed
//! into batches under a token budget.

use std::{path::Path, sync::Mutex};

use miners_encoders::{spec::DType, tokenizer::load_tokenizer};
use miners_icl::{ChatTemplate, Decoding, Generation, Generator, IclError, Sampling};
use tch::{Device, Tensor};
use tokenizers::Tokenizer;

use crate::{
    DeviceChoice, TorchError,
    batch::{Batch, token_batches},
    models::{Decoder, KvCache},
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
    /// Tokens that end a generation: end-of-sequence and end-of-turn.
    stop: Vec<i64>,
    chat: Option<ChatTemplate>,
    /// Where the model came from (`hf:<org>/<name>@<commit>`), if recorded.
    source: Option<String>,
}

/// The chat template of `tokenizer_config.json` (if any) and the ids of the
/// end-of-sequence token it names.
fn read_chat(
    dir: &Path,
    tokenizer: &Tokenizer,
) -> Result<(Option<ChatTemplate>, Vec<i64>), TorchError> {
    let path = dir.join("tokenizer_config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok((None, Vec::new()));
    };
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| TorchError::model(&path, e.to_string()))?;
    let token = |key: &str| -> String {
        match &config[key] {
            serde_json::Value::String(s) => s.clone(),
            value => value["content"].as_str().unwrap_or_default().to_owned(),
        }
    };
    let (bos, eos) = (token("bos_token"), token("eos_token"));
    let stop = tokenizer
        .token_to_id(&eos)
        .map(i64::from)
        .into_iter()
        .collect();
    let chat = config["chat_template"]
        .as_str()
        .map(|source| ChatTemplate::new(source, &bos, &eos));
    Ok((chat, stop))
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
    /// Loads `dir` (`config.json`, weights in any layout, `tokenizer.json`)
    /// as generator `id`, its weights held in `dtype` (activations stay float32).
    pub fn load(
        id: &str,
        dir: &Path,
        device: DeviceChoice,
        dtype: DType,
    ) -> Result<Self, IclError> {
        Self::load_on(id, dir, &[device], dtype)
    }

    /// [`TorchGenerator::load`] with its layers split over `devices` in
    /// contiguous segments sized by each device's free memory (`[Auto]`:
    /// every CUDA device); activations move between them.
    pub fn load_on(
        id: &str,
        dir: &Path,
        devices: &[DeviceChoice],
        dtype: DType,
    ) -> Result<Self, IclError> {
        let error = |e: TorchError| e.for_generator(id);
        let decoder = Decoder::load(dir, devices, dtype).map_err(error)?;
        let device = decoder.device();
        let tokenizer =
            load_tokenizer(dir).map_err(|e| TorchError::Tokenizer(e).for_generator(id))?;
        let config = decoder.config();
        let (chat, mut stop) = read_chat(dir, &tokenizer).map_err(error)?;
        stop.extend(&config.eos);
        stop.sort_unstable();
        stop.dedup();
        Ok(Self {
            id: id.to_owned(),
            window: config.max_positions,
            stop,
            chat,
            tokenizer,
            decoder: Mutex::new(decoder),
            device,
            budget: DEFAULT_GENERATOR_BUDGET,
            source: None,
        })
    }

    /// The same generator, recording where it came from.
    pub fn with_source(mut self, source: Option<String>) -> Self {
        self.source = source;
        self
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

    fn source(&self) -> Option<&str> {
        self.source.as_deref()
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

    fn generate(&self, prompt: &str, decoding: &Decoding) -> Result<Generation, IclError> {
        self.decode(prompt, decoding, true)
    }

    fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat.as_ref()
    }
}

impl TorchGenerator {
    /// Decodes as [`Generator::generate`]; `cached = false` recomputes the
    /// whole sequence for every token (what a model without a KV cache does),
    /// for measuring the cache's gain.
    pub fn decode(
        &self,
        prompt: &str,
        decoding: &Decoding,
        cached: bool,
    ) -> Result<Generation, IclError> {
        let tch = |e: tch::TchError| self.error(e.to_string());
        let mut ids = self.tokenize(prompt)?;
        if ids.is_empty() {
            return Err(self.error("an empty prompt cannot be continued".into()));
        }
        let start = ids.len();
        let decoder = self
            .decoder
            .lock()
            .map_err(|_| self.error("poisoned".into()))?;
        let mut cache = KvCache::default();
        let mut draws = Draws::new(&decoding.sampling);
        let mut stopped = false;
        while ids.len() - start < decoding.max_new_tokens && ids.len() < self.window {
            let log_probs = tch::no_grad(|| -> Result<Tensor, tch::TchError> {
                let hidden =
                    match cached.then(|| decoder.step(&ids[cache.len() as usize..], &mut cache)) {
                        Some(Some(hidden)) => hidden?,
                        _ => {
                            let packed = pack(&ids, &[]);
                            let window = decoder.config().windows.iter().flatten().min().copied();
                            let batch = self.batch(&[&packed], ids.len(), window)?;
                            decoder
                                .hidden_states(&batch)?
                                .f_select(1, ids.len() as i64 - 1)?
                        }
                    };
                decoder
                    .log_probs(&hidden)?
                    .f_squeeze_dim(0)?
                    .f_to_device(Device::Cpu)
            })
            .map_err(tch)?;
            let log_probs = Vec::<f32>::try_from(log_probs).map_err(tch)?;
            let next = draws.pick(&log_probs) as i64;
            if self.stop.contains(&next) {
                stopped = true;
                break;
            }
            ids.push(next);
        }
        let new: Vec<u32> = ids[start..].iter().map(|&id| id as u32).collect();
        let text = self
            .tokenizer
            .decode(&new, true)
            .map_err(|e| self.error(format!("decoding: {e}")))?;
        Ok(Generation {
            text,
            tokens: new.len(),
            stopped,
        })
    }
}

/// Picks tokens from log-probabilities: the best, or a seeded draw.
pub(crate) struct Draws {
    sampling: Sampling,
    state: u64,
}

impl Draws {
    pub(crate) fn new(sampling: &Sampling) -> Self {
        let seed = match sampling {
            Sampling::Greedy => 0,
            Sampling::Sample { seed, .. } => *seed,
        };
        Self {
            sampling: *sampling,
            // splitmix64 of the seed: a non-zero xorshift state.
            state: seed.wrapping_add(0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    /// A uniform draw in [0, 1) (xorshift64*).
    fn uniform(&mut self) -> f64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let bits = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        bits as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn pick(&mut self, log_probs: &[f32]) -> usize {
        let best = || {
            (0..log_probs.len())
                .max_by(|&a, &b| log_probs[a].total_cmp(&log_probs[b]).then(b.cmp(&a)))
                .unwrap_or(0)
        };
        let Sampling::Sample {
            temperature, top_p, ..
        } = self.sampling
        else {
            return best();
        };
        if temperature <= 0.0 {
            return best();
        }
        // Temperature-scaled probabilities, most probable first, cut at top_p.
        let max = f64::from(log_probs[best()]);
        let mut weighted: Vec<(usize, f64)> = log_probs
            .iter()
            .enumerate()
            .map(|(i, &lp)| (i, ((f64::from(lp) - max) / temperature).exp()))
            .filter(|&(_, w)| w > 0.0)
            .collect();
        weighted.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let total: f64 = weighted.iter().map(|(_, w)| w).sum();
        let mut kept = 0.0;
        let cut = weighted
            .iter()
            .position(|(_, w)| {
                kept += w / total;
                kept >= top_p
            })
            .map_or(weighted.len(), |i| i + 1);
        let weighted = &weighted[..cut];
        let mass: f64 = weighted.iter().map(|(_, w)| w).sum();
        let mut target = self.uniform() * mass;
        for &(i, w) in weighted {
            if target < w {
                return i;
            }
            target -= w;
        }
        weighted.last().map_or(0, |&(i, _)| i)
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
