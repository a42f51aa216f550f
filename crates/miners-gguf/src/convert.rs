//! GGUF → Hugging Face directory (`config.json`, `model.safetensors`, `tokenizer.json`).

use std::{
    collections::{BTreeMap, HashMap},
    fs,
    path::Path,
};

use half::bf16;
use safetensors::{Dtype, tensor::TensorView};
use serde_json::{Value as Json, json};

use crate::{
    GgufError, GgufFile, TensorInfo, Value,
    tokenizer::{tokenizer_config_json, tokenizer_json},
};

/// How imported weights are stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StoreType {
    /// 32-bit floats: exact dequantized values.
    #[default]
    F32,
    /// bfloat16: half the size, rounded to nearest even.
    Bf16,
}

/// What an import wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    /// `general.architecture`.
    pub architecture: String,
    /// Tensors written.
    pub tensors: usize,
    /// Parameters written.
    pub parameters: u64,
    /// How many source tensors had each ggml type.
    pub source_types: BTreeMap<String, usize>,
}

/// The decoder families miners can import, with their GGUF conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// Llama and SmolLM2: llama.cpp permutes Q and K rows for its rotary layout.
    Llama,
    /// Qwen2: Q/K/V biases, no permutation.
    Qwen2,
    /// Gemma 3: llama.cpp stores RMSNorm weights plus one.
    Gemma3,
}

impl Family {
    fn of(gguf: &GgufFile) -> Result<Self, GgufError> {
        match gguf.require_str("general.architecture")? {
            "llama" => Ok(Self::Llama),
            "qwen2" => Ok(Self::Qwen2),
            "gemma3" => Ok(Self::Gemma3),
            other => Err(GgufError::unsupported(
                gguf.path(),
                format!("architecture `{other}` (supported: llama, qwen2, gemma3)"),
            )),
        }
    }
}

/// Imports `gguf` into the directory `out` (created if needed).
pub fn import_gguf(gguf: &Path, out: &Path, store: StoreType) -> Result<ImportReport, GgufError> {
    let file = GgufFile::open(gguf)?;
    let family = Family::of(&file)?;
    let hparams = HyperParams::read(&file)?;
    fs::create_dir_all(out).map_err(|e| GgufError::io(out, e))?;
    let tokenizer = tokenizer_json(&file)?;
    let tokenizer_config = tokenizer_config_json(&file)?;
    let config = config_json(&file, family, &hparams)?;
    let report = write_weights(
        &file,
        family,
        &hparams,
        store,
        &out.join("model.safetensors"),
    )?;
    write_json(&out.join("config.json"), &config)?;
    write_json(&out.join("tokenizer.json"), &tokenizer)?;
    write_json(&out.join("tokenizer_config.json"), &tokenizer_config)?;
    Ok(report)
}

/// The hyper-parameters every family needs.
struct HyperParams {
    arch: String,
    layers: u64,
    hidden: u64,
    heads: u64,
    kv_heads: u64,
    head_dim: u64,
    vocab: u64,
    tied: bool,
}

impl HyperParams {
    fn read(file: &GgufFile) -> Result<Self, GgufError> {
        let arch = file.require_str("general.architecture")?.to_owned();
        let key = |k: &str| format!("{arch}.{k}");
        let hidden = file.require_u64(&key("embedding_length"))?;
        let heads = file.require_u64(&key("attention.head_count"))?;
        let kv_heads = file
            .get(&key("attention.head_count_kv"))
            .and_then(Value::as_u64)
            .unwrap_or(heads);
        let head_dim = file
            .get(&key("attention.key_length"))
            .and_then(Value::as_u64)
            .unwrap_or(hidden / heads.max(1));
        let embedding = file
            .tensor("token_embd.weight")
            .ok_or_else(|| GgufError::format(file.path(), "missing tensor `token_embd.weight`"))?;
        Ok(Self {
            layers: file.require_u64(&key("block_count"))?,
            hidden,
            heads,
            kv_heads,
            head_dim,
            vocab: embedding.dims.last().copied().unwrap_or(0),
            tied: file.tensor("output.weight").is_none(),
            arch,
        })
    }
}

fn config_json(file: &GgufFile, family: Family, hp: &HyperParams) -> Result<Json, GgufError> {
    let key = |k: &str| format!("{}.{k}", hp.arch);
    let optional_id = |k: &str| file.get(k).and_then(Value::as_u64);
    let mut config = json!({
        "vocab_size": hp.vocab,
        "hidden_size": hp.hidden,
        "intermediate_size": file.require_u64(&key("feed_forward_length"))?,
        "num_hidden_layers": hp.layers,
        "num_attention_heads": hp.heads,
        "num_key_value_heads": hp.kv_heads,
        "head_dim": hp.head_dim,
        "max_position_embeddings": file.require_u64(&key("context_length"))?,
        "rms_norm_eps": file.require_f64(&key("attention.layer_norm_rms_epsilon"))?,
        "rope_theta": file.get(&key("rope.freq_base")).and_then(Value::as_f64).unwrap_or(10_000.0),
        "tie_word_embeddings": hp.tied,
        "bos_token_id": optional_id("tokenizer.ggml.bos_token_id"),
        "eos_token_id": optional_id("tokenizer.ggml.eos_token_id"),
        "torch_dtype": "float32",
    });
    let extra = match family {
        Family::Llama => json!({
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_act": "silu", "attention_bias": false, "mlp_bias": false,
        }),
        Family::Qwen2 => json!({
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
            "hidden_act": "silu", "use_sliding_window": false,
        }),
        Family::Gemma3 => {
            let window = file.require_u64(&key("attention.sliding_window"))?;
            let layer_types: Vec<&str> = (0..hp.layers)
                .map(|i| {
                    if (i + 1) % 6 == 0 {
                        "full_attention"
                    } else {
                        "sliding_attention"
                    }
                })
                .collect();
            json!({
                "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text",
                "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": hp.head_dim,
                "sliding_window": window, "layer_types": layer_types,
                "rope_local_base_freq": 10_000.0,
                "final_logit_softcapping": null, "attn_logit_softcapping": null,
            })
        }
    };
    merge(&mut config, extra);
    Ok(config)
}

fn merge(into: &mut Json, from: Json) {
    if let (Json::Object(into), Json::Object(from)) = (into, from) {
        into.extend(from);
    }
}

/// The Hugging Face name of a GGUF tensor, or `None` if it is not known.
fn hf_name(family: Family, gguf_name: &str) -> Option<String> {
    let global = match gguf_name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(name) = global {
        return Some(name.to_owned());
    }
    let rest = gguf_name.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    layer.parse::<u32>().ok()?;
    let (part, suffix) = rest.rsplit_once('.')?;
    let hf_part = match (part, family) {
        ("attn_norm", _) => "input_layernorm",
        ("ffn_norm", Family::Gemma3) => "pre_feedforward_layernorm",
        ("ffn_norm", _) => "post_attention_layernorm",
        ("post_attention_norm", Family::Gemma3) => "post_attention_layernorm",
        ("post_ffw_norm", Family::Gemma3) => "post_feedforward_layernorm",
        ("attn_q", _) => "self_attn.q_proj",
        ("attn_k", _) => "self_attn.k_proj",
        ("attn_v", _) => "self_attn.v_proj",
        ("attn_output", _) => "self_attn.o_proj",
        ("attn_q_norm", Family::Gemma3) => "self_attn.q_norm",
        ("attn_k_norm", Family::Gemma3) => "self_attn.k_norm",
        ("ffn_gate", _) => "mlp.gate_proj",
        ("ffn_up", _) => "mlp.up_proj",
        ("ffn_down", _) => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf_part}.{suffix}"))
}

/// Undoes llama.cpp's conversion-time changes to one tensor.
fn restore(family: Family, hp: &HyperParams, info: &TensorInfo, values: &mut Vec<f32>) {
    let name = info.name.as_str();
    match family {
        Family::Llama if name.ends_with("attn_q.weight") || name.ends_with("attn_q.bias") => {
            *values = unpermute_rotary(values, hp.heads as usize, row_len(info));
        }
        Family::Llama if name.ends_with("attn_k.weight") || name.ends_with("attn_k.bias") => {
            *values = unpermute_rotary(values, hp.kv_heads as usize, row_len(info));
        }
        Family::Gemma3 if name.ends_with("norm.weight") => {
            values.iter_mut().for_each(|v| *v -= 1.0);
        }
        _ => {}
    }
}

fn row_len(info: &TensorInfo) -> usize {
    if info.dims.len() > 1 {
        info.dims[0] as usize
    } else {
        1
    }
}

/// Row `h·d + a·d/2 + b` of the Hugging Face layout is row `h·d + 2b + a` of
/// llama.cpp's interleaved rotary layout (`d` rows per head).
fn unpermute_rotary(values: &[f32], heads: usize, row: usize) -> Vec<f32> {
    let rows = values.len() / row;
    let per_head = rows / heads;
    let half = per_head / 2;
    let mut out = vec![0f32; values.len()];
    for h in 0..heads {
        for a in 0..2 {
            for b in 0..half {
                let to = h * per_head + a * half + b;
                let from = h * per_head + 2 * b + a;
                out[to * row..(to + 1) * row]
                    .copy_from_slice(&values[from * row..(from + 1) * row]);
            }
        }
    }
    out
}

fn write_weights(
    file: &GgufFile,
    family: Family,
    hp: &HyperParams,
    store: StoreType,
    path: &Path,
) -> Result<ImportReport, GgufError> {
    let mut report = ImportReport {
        architecture: hp.arch.clone(),
        tensors: 0,
        parameters: 0,
        source_types: BTreeMap::new(),
    };
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for info in &file.tensors {
        let name = hf_name(family, &info.name).ok_or_else(|| {
            GgufError::unsupported(
                file.path(),
                format!(
                    "tensor `{}` has no Hugging Face counterpart for {}",
                    info.name, hp.arch
                ),
            )
        })?;
        let mut values = file.read_f32(info)?;
        restore(family, hp, info, &mut values);
        *report
            .source_types
            .entry(format!("{:?}", info.kind))
            .or_default() += 1;
        report.tensors += 1;
        report.parameters += values.len() as u64;
        tensors.push((name, info.shape(), encode(&values, store)));
    }
    let dtype = match store {
        StoreType::F32 => Dtype::F32,
        StoreType::Bf16 => Dtype::BF16,
    };
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(dtype, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| GgufError::format(file.path(), format!("tensor `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // `format: pt` is what transformers 4.x insists on when loading.
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| GgufError::format(path, format!("writing safetensors: {e}")))?;
    drop(tensors);
    miners_core::atomic_write(path, &bytes).map_err(|e| GgufError::io(path, e))?;
    Ok(report)
}

fn encode(values: &[f32], store: StoreType) -> Vec<u8> {
    match store {
        StoreType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        StoreType::Bf16 => values
            .iter()
            .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
            .collect(),
    }
}

fn write_json(path: &Path, value: &Json) -> Result<(), GgufError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| GgufError::format(path, format!("serializing: {e}")))?;
    miners_core::atomic_write(path, text.as_bytes()).map_err(|e| GgufError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_inverts_llama_cpp_permutation() {
        // Two heads of four rows, rows of one value: llama.cpp turns
        // [0 1 2 3 | 4 5 6 7] into [0 2 1 3 | 4 6 5 7].
        let permuted = [0., 2., 1., 3., 4., 6., 5., 7.];
        assert_eq!(
            unpermute_rotary(&permuted, 2, 1),
            vec![0., 1., 2., 3., 4., 5., 6., 7.]
        );
    }

    #[test]
    fn gemma_norms_map_to_sandwich_layernorms() {
        assert_eq!(
            hf_name(Family::Gemma3, "blk.3.ffn_norm.weight").unwrap(),
            "model.layers.3.pre_feedforward_layernorm.weight"
        );
        assert_eq!(
            hf_name(Family::Llama, "blk.3.ffn_norm.weight").unwrap(),
            "model.layers.3.post_attention_layernorm.weight"
        );
        assert!(hf_name(Family::Llama, "blk.3.attn_q_norm.weight").is_none());
    }
}
