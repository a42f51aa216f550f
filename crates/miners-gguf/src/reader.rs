//! The GGUF container: header, metadata and tensor directory.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufReader, Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use crate::{GgufError, quant::TensorType};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Any unsigned integer type.
    Uint(u64),
    /// Any signed integer type.
    Int(i64),
    /// `f32` or `f64`.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string.
    String(String),
    /// An array of values of one type.
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Uint(v) => Some(v),
            Value::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, if it is numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(v) => Some(v),
            Value::Uint(v) => Some(v as f64),
            Value::Int(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value as an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// Where one tensor lies in the file and how it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// GGUF tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions, fastest-varying first (GGUF order: `[columns, rows]`).
    pub dims: Vec<u64>,
    /// Storage type.
    pub kind: TensorType,
    /// Offset from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn len(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape in row-major (PyTorch / safetensors) order: the GGUF dims reversed.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}

/// An open GGUF v2/v3 file: metadata and tensor directory in memory, tensor
/// data read on demand.
#[derive(Debug)]
pub struct GgufFile {
    path: PathBuf,
    file_len: u64,
    data_start: u64,
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata key-value pairs.
    pub metadata: BTreeMap<String, Value>,
    /// Tensor directory, in file order.
    pub tensors: Vec<TensorInfo>,
}

impl GgufFile {
    /// Opens `path` and reads its header, metadata and tensor directory.
    pub fn open(path: &Path) -> Result<Self, GgufError> {
        let file = File::open(path).map_err(|e| GgufError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| GgufError::io(path, e))?.len();
        let mut cursor = Cursor {
            reader: BufReader::new(file),
            path,
            remaining: file_len,
        };
        let mut magic = [0u8; 4];
        cursor.fill(&mut magic)?;
        if &magic != MAGIC {
            return Err(GgufError::format(path, "not a GGUF file (bad magic)"));
        }
        let version = cursor.u32()?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::format(
                path,
                format!("GGUF version {version} is not supported (2 or 3)"),
            ));
        }
        let tensor_count = cursor.u64()?;
        let kv_count = cursor.u64()?;
        let mut metadata = BTreeMap::new();
        for _ in 0..kv_count {
            let key = cursor.string()?;
            let kind = cursor.u32()?;
            let value = cursor
                .value(kind)
                .map_err(|e| e.context(&format!("metadata `{key}`")))?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::new();
        for _ in 0..tensor_count {
            tensors.push(cursor.tensor_info()?);
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_ALIGNMENT)
            .max(1);
        let header_end = file_len - cursor.remaining;
        let data_start = header_end.div_ceil(alignment) * alignment;
        let gguf = Self {
            path: path.to_owned(),
            file_len,
            data_start,
            version,
            metadata,
            tensors,
        };
        gguf.check_extents()?;
        Ok(gguf)
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// A required metadata value, or an error naming the key.
    pub fn require(&self, key: &str) -> Result<&Value, GgufError> {
        self.get(key)
            .ok_or_else(|| GgufError::format(&self.path, format!("missing metadata `{key}`")))
    }

    /// A required unsigned integer.
    pub fn require_u64(&self, key: &str) -> Result<u64, GgufError> {
        self.require(key)?.as_u64().ok_or_else(|| {
            GgufError::format(&self.path, format!("metadata `{key}` is not an integer"))
        })
    }

    /// A required float.
    pub fn require_f64(&self, key: &str) -> Result<f64, GgufError> {
        self.require(key)?.as_f64().ok_or_else(|| {
            GgufError::format(&self.path, format!("metadata `{key}` is not a number"))
        })
    }

    /// A required string.
    pub fn require_str(&self, key: &str) -> Result<&str, GgufError> {
        self.require(key)?.as_str().ok_or_else(|| {
            GgufError::format(&self.path, format!("metadata `{key}` is not a string"))
        })
    }

    /// The tensor named `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Reads and dequantizes one tensor to `f32`, row-major.
    pub fn read_f32(&self, info: &TensorInfo) -> Result<Vec<f32>, GgufError> {
        let bytes = self.read_raw(info)?;
        info.kind
            .dequantize(&bytes, info.len() as usize)
            .map_err(|why| GgufError::format(&self.path, format!("tensor `{}`: {why}", info.name)))
    }

    /// Reads a tensor's stored bytes.
    pub fn read_raw(&self, info: &TensorInfo) -> Result<Vec<u8>, GgufError> {
        let size = self.byte_size(info)?;
        let mut file = File::open(&self.path).map_err(|e| GgufError::io(&self.path, e))?;
        file.seek(SeekFrom::Start(self.data_start + info.offset))
            .map_err(|e| GgufError::io(&self.path, e))?;
        let mut bytes = vec![0u8; size as usize];
        file.read_exact(&mut bytes)
            .map_err(|e| GgufError::io(&self.path, e))?;
        Ok(bytes)
    }

    fn byte_size(&self, info: &TensorInfo) -> Result<u64, GgufError> {
        info.kind
            .byte_size(info.len())
            .map_err(|why| GgufError::format(&self.path, format!("tensor `{}`: {why}", info.name)))
    }

    fn check_extents(&self) -> Result<(), GgufError> {
        for info in &self.tensors {
            let end = self.data_start + info.offset + self.byte_size(info)?;
            if end > self.file_len {
                return Err(GgufError::format(
                    &self.path,
                    format!(
                        "tensor `{}` ends at byte {end}, past the end of the file ({} bytes): truncated?",
                        info.name, self.file_len
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A bounds-checked little-endian reader over the header.
struct Cursor<'a> {
    reader: BufReader<File>,
    path: &'a Path,
    remaining: u64,
}

/// Nesting limit of metadata arrays (real files nest at most one level).
const MAX_ARRAY_DEPTH: usize = 8;

impl Cursor<'_> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), GgufError> {
        if buf.len() as u64 > self.remaining {
            return Err(GgufError::format(
                self.path,
                "unexpected end of file in header",
            ));
        }
        self.reader
            .read_exact(buf)
            .map_err(|e| GgufError::io(self.path, e))?;
        self.remaining -= buf.len() as u64;
        Ok(())
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let mut buf = [0u8; N];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    fn u64(&mut self) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }

    /// A length that must fit in what is left of the file.
    fn length(&mut self, unit: u64) -> Result<u64, GgufError> {
        let len = self.u64()?;
        if len.saturating_mul(unit) > self.remaining {
            return Err(GgufError::format(
                self.path,
                format!("length {len} runs past the end of the file"),
            ));
        }
        Ok(len)
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let len = self.length(1)?;
        let mut buf = vec![0u8; len as usize];
        self.fill(&mut buf)?;
        String::from_utf8(buf).map_err(|_| GgufError::format(self.path, "string is not UTF-8"))
    }

    fn value(&mut self, kind: u32) -> Result<Value, GgufError> {
        self.value_at(kind, 0)
    }

    /// A value `depth` arrays deep; deeper than [`MAX_ARRAY_DEPTH`] is an error,
    /// so a crafted file cannot exhaust the stack.
    fn value_at(&mut self, kind: u32, depth: usize) -> Result<Value, GgufError> {
        Ok(match kind {
            0 => Value::Uint(u8::from_le_bytes(self.bytes()?).into()),
            1 => Value::Int(i8::from_le_bytes(self.bytes()?).into()),
            2 => Value::Uint(u16::from_le_bytes(self.bytes()?).into()),
            3 => Value::Int(i16::from_le_bytes(self.bytes()?).into()),
            4 => Value::Uint(self.u32()?.into()),
            5 => Value::Int(i32::from_le_bytes(self.bytes()?).into()),
            6 => Value::Float(f32::from_le_bytes(self.bytes()?).into()),
            7 => Value::Bool(self.bytes::<1>()?[0] != 0),
            8 => Value::String(self.string()?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::format(
                        self.path,
                        format!("metadata arrays nested deeper than {MAX_ARRAY_DEPTH}"),
                    ));
                }
                let item_kind = self.u32()?;
                let len = self.length(1)?;
                let items = (0..len)
                    .map(|_| self.value_at(item_kind, depth + 1))
                    .collect::<Result<_, _>>()?;
                Value::Array(items)
            }
            10 => Value::Uint(self.u64()?),
            11 => Value::Int(i64::from_le_bytes(self.bytes()?)),
            12 => Value::Float(f64::from_le_bytes(self.bytes()?)),
            other => {
                return Err(GgufError::format(
                    self.path,
                    format!("unknown metadata value type {other}"),
                ));
            }
        })
    }

    fn tensor_info(&mut self) -> Result<TensorInfo, GgufError> {
        let name = self.string()?;
        let n_dims = self.u32()?;
        if n_dims > 4 {
            return Err(GgufError::format(
                self.path,
                format!("tensor `{name}` has {n_dims} dimensions (at most 4)"),
            ));
        }
        let dims = (0..n_dims)
            .map(|_| self.u64())
            .collect::<Result<Vec<_>, _>>()?;
        let kind_id = self.u32()?;
        let kind = TensorType::from_id(kind_id).ok_or_else(|| {
            GgufError::unsupported(
                self.path,
                format!("tensor `{name}` has ggml type {kind_id}, which miners cannot dequantize"),
            )
        })?;
        let offset = self.u64()?;
        Ok(TensorInfo {
            name,
            dims,
            kind,
            offset,
        })
    }
}
