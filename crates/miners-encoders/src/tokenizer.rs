//! A model directory's tokenizer: its `tokenizer.json`, or, where a
//! repository ships only the slow tokenizer's files, the pipeline that
//! transformers' fast-tokenizer conversion (`convert_slow_tokenizer`, as of
//! 4.44) builds from them: XLM-R / Multilingual-MiniLM and XGLM
//! (`sentencepiece.bpe.model`), T5 / mT5 (`spiece.model`), Llama-style
//! `tokenizer.model` (BPE with byte fallback) and BERT's `vocab.txt`.
//!
//! The pipeline is written as the `tokenizer.json` a fast tokenizer would
//! save ([`converted_tokenizer_json`]), loaded by the `tokenizers` crate, and
//! given the added tokens transformers adds: SentencePiece control and
//! user-defined pieces, then `tokenizer_config.json`'s `added_tokens_decoder`
//! and special tokens.

use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};
use tokenizers::{AddedToken, Tokenizer};

use crate::{
    EncoderError,
    sentencepiece::{ModelType, PieceKind, SentencePieceModel},
};

/// SentencePiece's word-boundary mark.
const SPACE: &str = "▁";

/// The tokenizer of the model in `dir`: `tokenizer.json` when present, else
/// converted from the slow tokenizer's files.
pub fn load_tokenizer(dir: &Path) -> Result<Tokenizer, EncoderError> {
    let file = dir.join("tokenizer.json");
    if file.is_file() {
        return Tokenizer::from_file(&file).map_err(|e| EncoderError::format(&file, e.to_string()));
    }
    let conversion = Conversion::read(dir)?;
    let json = conversion.tokenizer_json()?;
    let mut tokenizer: Tokenizer = serde_json::from_value(json)
        .map_err(|e| EncoderError::format(&conversion.source, format!("converting: {e}")))?;
    conversion
        .add_tokens(&mut tokenizer)
        .map_err(|e| EncoderError::format(&conversion.source, format!("adding tokens: {e}")))?;
    Ok(tokenizer)
}

/// The files the tokenizer of `dir` is built from, for fingerprints:
/// `tokenizer.json`, else the slow tokenizer's file and its configuration.
pub fn tokenizer_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let file = dir.join("tokenizer.json");
    if file.is_file() {
        return vec![file];
    }
    let mut files: Vec<std::path::PathBuf> = Conversion::read(dir)
        .map(|c| c.source)
        .into_iter()
        .collect();
    let config = dir.join("tokenizer_config.json");
    if config.is_file() {
        files.push(config);
    }
    files
}

/// Whether `dir` has a tokenizer miners can load.
pub fn has_tokenizer(dir: &Path) -> bool {
    dir.join("tokenizer.json").is_file() || Kind::from_files(dir).is_some()
}

/// The `tokenizer.json` (without added tokens) that transformers' conversion
/// builds for the slow tokenizer files in `dir`.
pub fn converted_tokenizer_json(dir: &Path) -> Result<Value, EncoderError> {
    Conversion::read(dir)?.tokenizer_json()
}

/// Which slow tokenizer a directory has, with the settings its conversion reads.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// `XLMRobertaTokenizer`: fairseq ids (`<s> <pad> </s> <unk>`, then the pieces, then `<mask>`).
    XlmRoberta,
    /// `XGLMTokenizer`: fairseq ids, then seven `<madeupwordN>`.
    Xglm,
    /// `T5Tokenizer`: the pieces, then `<extra_id_N>` in reverse.
    T5 {
        extra_ids: usize,
        prepend: &'static str,
    },
    /// `LlamaTokenizer`: BPE with byte fallback.
    Llama {
        legacy: bool,
        add_prefix_space: bool,
        add_bos: bool,
        add_eos: bool,
    },
    /// `BertTokenizer`: WordPiece over `vocab.txt`.
    Bert {
        lowercase: bool,
        chinese: bool,
        strip_accents: Option<bool>,
    },
}

impl Kind {
    /// The kind `tokenizer_config.json`'s class names, else the one its files imply.
    fn read(dir: &Path, config: &Value) -> Result<Self, EncoderError> {
        let class = config["tokenizer_class"]
            .as_str()
            .map(|c| c.trim_end_matches("Fast"));
        let flag = |name: &str, default: bool| config[name].as_bool().unwrap_or(default);
        let legacy = flag("legacy", true);
        let kind = match class {
            Some("XLMRobertaTokenizer") => Self::XlmRoberta,
            Some("XGLMTokenizer") => Self::Xglm,
            Some("T5Tokenizer" | "MT5Tokenizer") => Self::T5 {
                extra_ids: config["extra_ids"].as_u64().unwrap_or(100) as usize,
                prepend: match (flag("add_prefix_space", true), legacy) {
                    (false, _) => "never",
                    (true, true) => "always",
                    (true, false) => "first",
                },
            },
            Some("LlamaTokenizer") => Self::Llama {
                legacy,
                add_prefix_space: flag("add_prefix_space", true),
                add_bos: flag("add_bos_token", true),
                add_eos: flag("add_eos_token", false),
            },
            Some("BertTokenizer") => Self::Bert {
                lowercase: flag("do_lower_case", true),
                chinese: flag("tokenize_chinese_chars", true),
                strip_accents: config["strip_accents"].as_bool(),
            },
            Some(other) => {
                return Err(EncoderError::format(
                    &dir.join("tokenizer_config.json"),
                    format!(
                        "no tokenizer.json, and `{other}` is not a slow tokenizer miners converts \
                         (XLMRobertaTokenizer, XGLMTokenizer, T5Tokenizer, MT5Tokenizer, LlamaTokenizer, BertTokenizer)"
                    ),
                ));
            }
            None => Self::from_files(dir)
                .ok_or_else(|| EncoderError::missing(&dir.join("tokenizer.json")))?,
        };
        Ok(kind)
    }

    /// The kind a directory's files imply when no configuration names one.
    fn from_files(dir: &Path) -> Option<Self> {
        let has = |name: &str| dir.join(name).is_file();
        if has("sentencepiece.bpe.model") {
            Some(Self::XlmRoberta)
        } else if has("spiece.model") {
            Some(Self::T5 {
                extra_ids: 100,
                prepend: "always",
            })
        } else if has("tokenizer.model") {
            Some(Self::Llama {
                legacy: true,
                add_prefix_space: true,
                add_bos: true,
                add_eos: false,
            })
        } else if has("vocab.txt") {
            Some(Self::Bert {
                lowercase: true,
                chinese: true,
                strip_accents: None,
            })
        } else {
            None
        }
    }

    /// The file the conversion reads.
    fn file(&self) -> &'static str {
        match self {
            Self::XlmRoberta | Self::Xglm => "sentencepiece.bpe.model",
            Self::T5 { .. } => "spiece.model",
            Self::Llama { .. } => "tokenizer.model",
            Self::Bert { .. } => "vocab.txt",
        }
    }
}

/// A conversion in progress: the kind, its source file and configuration.
struct Conversion {
    kind: Kind,
    source: std::path::PathBuf,
    config: Value,
    /// The SentencePiece model, for every kind but BERT.
    model: Option<SentencePieceModel>,
}

impl Conversion {
    fn read(dir: &Path) -> Result<Self, EncoderError> {
        let config_path = dir.join("tokenizer_config.json");
        let config = match std::fs::read_to_string(&config_path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| EncoderError::format(&config_path, e.to_string()))?,
            Err(_) => Value::Null,
        };
        let kind = Kind::read(dir, &config)?;
        let source = dir.join(kind.file());
        if !source.is_file() {
            return Err(EncoderError::format(
                &dir.join("tokenizer.json"),
                format!("not found, nor the {} it could be built from", kind.file()),
            ));
        }
        let model = match kind {
            Kind::Bert { .. } => None,
            _ => Some(SentencePieceModel::read(&source)?),
        };
        Ok(Self {
            kind,
            source,
            config,
            model,
        })
    }

    fn tokenizer_json(&self) -> Result<Value, EncoderError> {
        let (model, vocab) = match (&self.kind, &self.model) {
            (Kind::Bert { .. }, _) => self.wordpiece()?,
            (_, Some(spm)) => self.sentencepiece(spm)?,
            (_, None) => unreachable!("every SentencePiece kind reads its model"),
        };
        let id = |token: &str| vocab.iter().position(|t| t == token).map(|i| i as u32);
        Ok(json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [],
            "normalizer": self.normalizer(),
            "pre_tokenizer": self.pre_tokenizer(),
            "model": model,
            "post_processor": self.post_processor(&id),
            "decoder": self.decoder(),
        }))
    }

    /// The model and its vocabulary in id order.
    fn sentencepiece(
        &self,
        spm: &SentencePieceModel,
    ) -> Result<(Value, Vec<String>), EncoderError> {
        let fairseq = || -> Vec<(String, f64)> {
            let mut vocab: Vec<(String, f64)> = ["<s>", "<pad>", "</s>", "<unk>"]
                .iter()
                .map(|t| (t.to_string(), 0.0))
                .collect();
            vocab.extend(
                spm.pieces
                    .iter()
                    .skip(3)
                    .map(|p| (p.piece.clone(), f64::from(p.score))),
            );
            vocab
        };
        let pieces = || {
            spm.pieces
                .iter()
                .map(|p| (p.piece.clone(), f64::from(p.score)))
        };
        let (vocab, unk_id) = match &self.kind {
            Kind::XlmRoberta => {
                let mut vocab = fairseq();
                vocab.push(("<mask>".into(), 0.0));
                (vocab, 3)
            }
            Kind::Xglm => {
                let mut vocab = fairseq();
                vocab.extend((0..7).map(|i| (format!("<madeupword{i}>"), 0.0)));
                (vocab, 3)
            }
            Kind::T5 { extra_ids, .. } => {
                let mut vocab: Vec<(String, f64)> = pieces().collect();
                vocab.extend(
                    (0..*extra_ids)
                        .rev()
                        .map(|i| (format!("<extra_id_{i}>"), 0.0)),
                );
                (vocab, spm.unk_id)
            }
            Kind::Llama { .. } => {
                let vocab: Vec<(String, f64)> = pieces()
                    .enumerate()
                    .map(|(i, (piece, score))| (piece, if i < 3 { 0.0 } else { score }))
                    .collect();
                (vocab, 0)
            }
            Kind::Bert { .. } => unreachable!("BERT has no SentencePiece model"),
        };
        let byte_fallback = matches!(self.kind, Kind::Llama { .. });
        let model = match spm.model_type {
            ModelType::Unigram => json!({
                "type": "Unigram",
                "unk_id": unk_id,
                "vocab": vocab.iter().map(|(p, s)| json!([p, s])).collect::<Vec<_>>(),
                "byte_fallback": byte_fallback,
            }),
            ModelType::Bpe => json!({
                "type": "BPE",
                "dropout": null,
                "unk_token": spm.unk_piece,
                "continuing_subword_prefix": null,
                "end_of_word_suffix": null,
                "fuse_unk": true,
                "byte_fallback": byte_fallback,
                "ignore_merges": false,
                "vocab": vocab.iter().enumerate().map(|(i, (p, _))| (p.clone(), json!(i))).collect::<serde_json::Map<_, _>>(),
                "merges": merges(spm, &vocab),
            }),
            other => {
                return Err(EncoderError::format(
                    &self.source,
                    format!(
                        "a {other:?} SentencePiece model; transformers converts unigram and BPE models only"
                    ),
                ));
            }
        };
        Ok((model, vocab.into_iter().map(|(p, _)| p).collect()))
    }

    /// WordPiece over `vocab.txt` (a token a line, its line number its id).
    fn wordpiece(&self) -> Result<(Value, Vec<String>), EncoderError> {
        let text = std::fs::read_to_string(&self.source).map_err(|source| EncoderError::Io {
            path: self.source.clone(),
            source,
        })?;
        let tokens: Vec<String> = text
            .split('\n')
            .map(|l| l.trim_end_matches('\r').to_owned())
            .collect();
        let tokens = match tokens.last() {
            Some(last) if last.is_empty() => tokens[..tokens.len() - 1].to_vec(),
            _ => tokens,
        };
        let mut vocab = serde_json::Map::new();
        for (i, token) in tokens.iter().enumerate() {
            vocab.insert(token.clone(), json!(i));
        }
        let unk = self.special("unk_token").unwrap_or_else(|| "[UNK]".into());
        let model = json!({
            "type": "WordPiece",
            "unk_token": unk,
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": vocab,
        });
        Ok((model, tokens))
    }

    fn normalizer(&self) -> Value {
        match &self.kind {
            Kind::Bert {
                lowercase,
                chinese,
                strip_accents,
            } => json!({
                "type": "BertNormalizer",
                "clean_text": true,
                "handle_chinese_chars": chinese,
                "strip_accents": strip_accents,
                "lowercase": lowercase,
            }),
            Kind::Llama { legacy: false, .. } => Value::Null,
            Kind::Llama {
                add_prefix_space, ..
            } => {
                let mut steps = Vec::new();
                if *add_prefix_space {
                    steps.push(json!({"type": "Prepend", "prepend": SPACE}));
                }
                steps
                    .push(json!({"type": "Replace", "pattern": {"String": " "}, "content": SPACE}));
                json!({"type": "Sequence", "normalizers": steps})
            }
            _ => {
                let spm = self.model.as_ref().expect("a SentencePiece kind");
                let mut steps = Vec::new();
                if !spm.precompiled_charsmap.is_empty() {
                    let charsmap =
                        base64::engine::general_purpose::STANDARD.encode(&spm.precompiled_charsmap);
                    steps.push(json!({"type": "Precompiled", "precompiled_charsmap": charsmap}));
                }
                steps.push(json!({"type": "Strip", "strip_left": false, "strip_right": true}));
                steps.push(
                    json!({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": SPACE}),
                );
                json!({"type": "Sequence", "normalizers": steps})
            }
        }
    }

    /// The Metaspace prepend scheme of the SentencePiece kinds.
    fn prepend_scheme(&self) -> &'static str {
        match &self.kind {
            Kind::T5 { prepend, .. } => prepend,
            Kind::Llama {
                add_prefix_space: false,
                ..
            } => "never",
            Kind::Llama { legacy: false, .. } => "first",
            _ => "always",
        }
    }

    fn pre_tokenizer(&self) -> Value {
        match &self.kind {
            Kind::Bert { .. } => json!({"type": "BertPreTokenizer"}),
            Kind::Llama { legacy: true, .. } => Value::Null,
            Kind::Llama { .. } => json!({
                "type": "Metaspace", "replacement": SPACE, "prepend_scheme": self.prepend_scheme(), "split": false,
            }),
            _ => json!({
                "type": "Metaspace", "replacement": SPACE, "prepend_scheme": self.prepend_scheme(), "split": true,
            }),
        }
    }

    fn decoder(&self) -> Value {
        match &self.kind {
            Kind::Bert { .. } => json!({"type": "WordPiece", "prefix": "##", "cleanup": true}),
            Kind::Llama {
                add_prefix_space, ..
            } => {
                let mut steps = vec![
                    json!({"type": "Replace", "pattern": {"String": SPACE}, "content": " "}),
                    json!({"type": "ByteFallback"}),
                    json!({"type": "Fuse"}),
                ];
                if *add_prefix_space {
                    steps.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
                }
                json!({"type": "Sequence", "decoders": steps})
            }
            _ => json!({
                "type": "Metaspace", "replacement": SPACE, "prepend_scheme": self.prepend_scheme(), "split": true,
            }),
        }
    }

    /// The special-token template each tokenizer class adds, as transformers
    /// writes it: `$A`, `$B:1`, tokens, `TOKEN:1` for type id 1.
    fn post_processor(&self, id: &dyn Fn(&str) -> Option<u32>) -> Value {
        let (bos, eos) = (
            self.special_or("bos_token", "<s>"),
            self.special_or("eos_token", "</s>"),
        );
        let (single, pair): (Vec<String>, Vec<String>) = match &self.kind {
            Kind::XlmRoberta => (
                words(&[&bos, "$A", &eos]),
                words(&[&bos, "$A", &eos, &eos, "$B", &eos]),
            ),
            Kind::Xglm => (words(&[&eos, "$A"]), words(&[&eos, "$A", &eos, &eos, "$B"])),
            Kind::T5 { .. } => (words(&["$A", &eos]), words(&["$A", &eos, "$B", &eos])),
            Kind::Bert { .. } => {
                let (cls, sep) = (
                    self.special_or("cls_token", "[CLS]"),
                    self.special_or("sep_token", "[SEP]"),
                );
                (
                    words(&[&cls, "$A", &sep]),
                    words(&[&cls, "$A", &sep, "$B:1", &format!("{sep}:1")]),
                )
            }
            Kind::Llama {
                add_bos, add_eos, ..
            } => {
                let mut single = Vec::new();
                let mut second = Vec::new();
                for (sequence, list, suffix) in
                    [("$A", &mut single, ""), ("$B:1", &mut second, ":1")]
                {
                    if *add_bos {
                        list.push(format!("{bos}{suffix}"));
                    }
                    list.push(sequence.to_owned());
                    if *add_eos {
                        list.push(format!("{eos}{suffix}"));
                    }
                }
                let pair = single.iter().chain(&second).cloned().collect();
                (single, pair)
            }
        };
        template(&single, &pair, id)
    }

    /// A special token named in `tokenizer_config.json` (a string or an added-token object).
    fn special(&self, key: &str) -> Option<String> {
        let value = &self.config[key];
        value
            .as_str()
            .or_else(|| value["content"].as_str())
            .map(str::to_owned)
    }

    fn special_or(&self, key: &str, default: &str) -> String {
        self.special(key).unwrap_or_else(|| default.to_owned())
    }

    /// Adds the tokens transformers adds after converting: SentencePiece
    /// control (special) and user-defined pieces, then `added_tokens_decoder`
    /// entries and named special tokens not added yet.
    fn add_tokens(&self, tokenizer: &mut Tokenizer) -> tokenizers::Result<()> {
        let mut added: Vec<String> = Vec::new();
        let mut add = |tokenizer: &mut Tokenizer, token: AddedToken| -> tokenizers::Result<()> {
            if added.contains(&token.content) {
                return Ok(());
            }
            added.push(token.content.clone());
            match token.special {
                true => tokenizer.add_special_tokens([token])?,
                false => tokenizer.add_tokens([token])?,
            };
            Ok(())
        };
        if let Some(spm) = &self.model {
            for piece in &spm.pieces {
                let special = match piece.kind {
                    PieceKind::Control => true,
                    PieceKind::UserDefined => false,
                    _ => continue,
                };
                add(
                    tokenizer,
                    AddedToken::from(piece.piece.clone(), special).normalized(false),
                )?;
            }
        }
        if let Some(decoder) = self.config["added_tokens_decoder"].as_object() {
            let mut entries: Vec<(u64, &Value)> = decoder
                .iter()
                .filter_map(|(id, v)| Some((id.parse().ok()?, v)))
                .collect();
            entries.sort_by_key(|(id, _)| *id);
            for (_, entry) in entries {
                let Some(content) = entry["content"].as_str() else {
                    continue;
                };
                let flag = |name: &str| entry[name].as_bool().unwrap_or(false);
                let token = AddedToken::from(content.to_owned(), flag("special"))
                    .lstrip(flag("lstrip"))
                    .rstrip(flag("rstrip"))
                    .single_word(flag("single_word"))
                    .normalized(flag("normalized"));
                add(tokenizer, token)?;
            }
        }
        let named = [
            "bos_token",
            "eos_token",
            "unk_token",
            "sep_token",
            "pad_token",
            "cls_token",
            "mask_token",
        ];
        for key in named {
            if let Some(content) = self.special(key) {
                add(tokenizer, AddedToken::from(content, true).normalized(false))?;
            }
        }
        Ok(())
    }
}

fn words(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

/// A TemplateProcessing post-processor from transformers' template items,
/// with the ids of the special tokens they use.
fn template(single: &[String], pair: &[String], id: &dyn Fn(&str) -> Option<u32>) -> Value {
    let parse = |item: &str| -> (String, u32, bool) {
        let (name, type_id) = match item.rsplit_once(':') {
            Some((name, digits))
                if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) =>
            {
                (name.to_owned(), digits.parse().unwrap_or(0))
            }
            _ => (item.to_owned(), 0),
        };
        match name.strip_prefix('$') {
            Some(sequence) => (sequence.to_owned(), type_id, true),
            None => (name, type_id, false),
        }
    };
    let render = |items: &[String]| -> Vec<Value> {
        items
            .iter()
            .map(|item| match parse(item) {
                (name, type_id, true) => json!({"Sequence": {"id": name, "type_id": type_id}}),
                (name, type_id, false) => json!({"SpecialToken": {"id": name, "type_id": type_id}}),
            })
            .collect()
    };
    let mut specials = serde_json::Map::new();
    for item in single.iter().chain(pair) {
        if let (name, _, false) = parse(item) {
            let ids: Vec<u32> = id(&name).into_iter().collect();
            specials.insert(
                name.clone(),
                json!({"id": name, "ids": ids, "tokens": [name]}),
            );
        }
    }
    json!({"type": "TemplateProcessing", "single": render(single), "pair": render(pair), "special_tokens": specials})
}

/// transformers' `generate_merges` with piece scores: every split of a
/// piece into two pieces of the model, by the ids of the parts, then all
/// ordered by the merged piece's score, highest first, then by the parts'
/// lengths in characters (a stable sort, as Python's).
fn merges(spm: &SentencePieceModel, vocab: &[(String, f64)]) -> Vec<Value> {
    let ids: std::collections::HashMap<&str, usize> = spm
        .pieces
        .iter()
        .enumerate()
        .map(|(i, p)| (p.piece.as_str(), i))
        .collect();
    // Python's dict of the scored vocabulary: first position, last score.
    let mut scored: Vec<(&str, f64)> = Vec::new();
    let mut position: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (piece, score) in vocab {
        match position.get(piece.as_str()) {
            Some(&at) => scored[at].1 = *score,
            None => {
                position.insert(piece.as_str(), scored.len());
                scored.push((piece, *score));
            }
        }
    }
    let mut all: Vec<(&str, &str, f64)> = Vec::new();
    for (merged, score) in scored {
        let mut local: Vec<(&str, &str, f64)> = merged
            .char_indices()
            .skip(1)
            .map(|(at, _)| (&merged[..at], &merged[at..]))
            .filter(|(left, right)| ids.contains_key(left) && ids.contains_key(right))
            .map(|(left, right)| (left, right, score))
            .collect();
        local.sort_by_key(|(left, right, _)| (ids[left], ids[right]));
        all.extend(local);
    }
    let chars = |s: &str| s.chars().count();
    all.sort_by(|a, b| {
        b.2.partial_cmp(&a.2)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(chars(b.0).cmp(&chars(a.0)))
            .then(chars(b.1).cmp(&chars(a.1)))
    });
    all.into_iter()
        .map(|(left, right, _)| json!([left, right]))
        .collect()
}
