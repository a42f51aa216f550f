//! A SentencePiece model file (`*.model`, the `ModelProto` protobuf), read by
//! a small protobuf reader: the pieces, the trainer's model type and special
//! ids, and the normaliser's precompiled charsmap.

use std::path::Path;

use crate::EncoderError;

/// What a piece is, as SentencePiece types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    /// An ordinary piece.
    Normal,
    /// The unknown piece.
    Unknown,
    /// A control symbol (`<s>`, `</s>`).
    Control,
    /// A user-defined symbol, matched before tokenization.
    UserDefined,
    /// Never produced.
    Unused,
    /// A byte-fallback piece (`<0x41>`).
    Byte,
}

/// One vocabulary entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// The piece text (`▁` for a space).
    pub piece: String,
    /// Its log-probability (unigram) or merge rank (BPE).
    pub score: f32,
    /// Its type.
    pub kind: PieceKind,
}

/// The algorithm a model was trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelType {
    /// Unigram language model (SentencePiece's default).
    Unigram,
    /// Byte-pair encoding.
    Bpe,
    /// Whitespace words.
    Word,
    /// Characters.
    Char,
}

/// The parts of a SentencePiece `ModelProto` a tokenizer is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct SentencePieceModel {
    /// Pieces in id order.
    pub pieces: Vec<Piece>,
    /// How it was trained.
    pub model_type: ModelType,
    /// Unknown characters become `<0xNN>` byte pieces.
    pub byte_fallback: bool,
    /// Id of the unknown piece.
    pub unk_id: usize,
    /// Text of the unknown piece.
    pub unk_piece: String,
    /// The normaliser's precompiled charsmap (empty when it has none).
    pub precompiled_charsmap: Vec<u8>,
}

impl SentencePieceModel {
    /// Reads and parses a model file; anything that is not one is an error naming it.
    pub fn read(path: &Path) -> Result<Self, EncoderError> {
        let bytes = std::fs::read(path).map_err(|source| EncoderError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&bytes).map_err(|message| {
            EncoderError::format(path, format!("not a SentencePiece model: {message}"))
        })
    }

    /// Parses the bytes of a model file.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut model = Self {
            pieces: Vec::new(),
            model_type: ModelType::Unigram,
            byte_fallback: false,
            unk_id: 0,
            unk_piece: "<unk>".into(),
            precompiled_charsmap: Vec::new(),
        };
        for field in Fields::new(bytes) {
            match field? {
                (1, Value::Bytes(piece)) => model.pieces.push(parse_piece(piece)?),
                (2, Value::Bytes(trainer)) => model.read_trainer(trainer)?,
                (3, Value::Bytes(normalizer)) => model.read_normalizer(normalizer)?,
                _ => {}
            }
        }
        if model.pieces.is_empty() {
            return Err("no pieces".into());
        }
        if model.unk_id >= model.pieces.len() {
            return Err(format!("unk_id {} is not a piece", model.unk_id));
        }
        Ok(model)
    }

    fn read_trainer(&mut self, bytes: &[u8]) -> Result<(), String> {
        for field in Fields::new(bytes) {
            match field? {
                (3, Value::Varint(kind)) => {
                    self.model_type = match kind {
                        1 => ModelType::Unigram,
                        2 => ModelType::Bpe,
                        3 => ModelType::Word,
                        4 => ModelType::Char,
                        other => return Err(format!("unknown model type {other}")),
                    }
                }
                (35, Value::Varint(flag)) => self.byte_fallback = flag != 0,
                (40, Value::Varint(id)) => self.unk_id = id as usize,
                (45, Value::Bytes(piece)) => self.unk_piece = text(piece)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn read_normalizer(&mut self, bytes: &[u8]) -> Result<(), String> {
        for field in Fields::new(bytes) {
            if let (2, Value::Bytes(charsmap)) = field? {
                tokenizers::normalizers::Precompiled::from(charsmap)
                    .map_err(|e| format!("the precompiled charsmap cannot be read: {e:?}"))?;
                self.precompiled_charsmap = charsmap.to_vec();
            }
        }
        Ok(())
    }
}

fn parse_piece(bytes: &[u8]) -> Result<Piece, String> {
    let mut piece = Piece {
        piece: String::new(),
        score: 0.0,
        kind: PieceKind::Normal,
    };
    for field in Fields::new(bytes) {
        match field? {
            (1, Value::Bytes(text_bytes)) => piece.piece = text(text_bytes)?,
            (2, Value::Fixed32(bits)) => piece.score = f32::from_bits(bits),
            (3, Value::Varint(kind)) => {
                piece.kind = match kind {
                    1 => PieceKind::Normal,
                    2 => PieceKind::Unknown,
                    3 => PieceKind::Control,
                    4 => PieceKind::UserDefined,
                    5 => PieceKind::Unused,
                    6 => PieceKind::Byte,
                    other => return Err(format!("unknown piece type {other}")),
                }
            }
            _ => {}
        }
    }
    Ok(piece)
}

fn text(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "a piece that is not UTF-8".to_owned())
}

/// A protobuf field's value, by wire type.
enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The `(field number, value)` pairs of one protobuf message.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at).ok_or("truncated varint")?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated at byte {}", self.at))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn field(&mut self) -> Result<(u64, Value<'a>), String> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                Value::Bytes(self.take(n)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            )),
            wire => return Err(format!("wire type {wire} at byte {}", self.at)),
        };
        Ok((key >> 3, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            self.at = self.bytes.len();
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b""[..],
            b"\x0a",
            b"\x0a\x05ab",
            b"\xff\xff\xff",
            b"not a model at all",
        ] {
            assert!(SentencePieceModel::parse(bytes).is_err(), "{bytes:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = SentencePieceModel::parse(&bytes);
        }
    }
}
