//! A pickle reader that executes nothing: the opcodes `torch.save` writes,
//! and only the globals a state dict needs out of those that
//! `torch.load(weights_only=True)` allows. Any other global is an error
//! naming it; nothing is ever called or imported.

use std::{cell::RefCell, collections::HashMap, rc::Rc};

use crate::Dtype;

/// A global the reader accepts, by what it does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Global {
    /// `collections.OrderedDict`.
    OrderedDict,
    /// `torch._utils._rebuild_tensor_v2`.
    RebuildTensor,
    /// `torch._utils._rebuild_parameter` and `_rebuild_parameter_with_state`.
    RebuildParameter,
    /// `torch._tensor._rebuild_from_type_v2`.
    RebuildFromType,
    /// `torch.Tensor` and `torch.nn.Parameter`: a type named, never called.
    TensorType,
    /// A typed storage class (`torch.FloatStorage`, …).
    Storage(Dtype),
}

impl Global {
    /// The accepted global `module.name`, or `None` for any other.
    fn resolve(module: &str, name: &str) -> Option<Self> {
        Some(match (module, name) {
            ("collections", "OrderedDict") => Self::OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2") => Self::RebuildTensor,
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                Self::RebuildParameter
            }
            ("torch._tensor", "_rebuild_from_type_v2") => Self::RebuildFromType,
            ("torch", "Tensor") | ("torch.nn.parameter", "Parameter") => Self::TensorType,
            ("torch", storage) => Self::Storage(Dtype::from_storage_class(storage)?),
            _ => return None,
        })
    }
}

/// A storage named by a persistent id: `('storage', class, key, location, numel)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StorageRef {
    /// Element type.
    pub dtype: Dtype,
    /// The archive entry under `data/`.
    pub key: String,
    /// Elements in the storage.
    pub numel: usize,
}

/// A tensor view of a storage, as `_rebuild_tensor_v2` describes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TensorRef {
    /// The storage it views.
    pub storage: StorageRef,
    /// First element, in elements.
    pub offset: usize,
    /// Shape.
    pub shape: Vec<usize>,
    /// Strides, in elements.
    pub strides: Vec<usize>,
}

/// A container shared between the stack and the memo, as Python's are.
type Shared<T> = Rc<RefCell<T>>;

/// A pickled value. Lists and dicts are shared, as Python's are, so that a
/// memoised container sees later changes.
#[derive(Debug, Clone)]
#[allow(
    dead_code,
    reason = "scalars are read only through Debug, in error messages"
)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Shared<Vec<Value>>),
    Dict(Shared<Vec<(Value, Value)>>),
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
}

/// Why a pickle was refused.
#[derive(Debug, PartialEq)]
pub(crate) enum PickleError {
    /// A global outside the accepted set, as `module.name`.
    Forbidden(String),
    /// Anything else, in words.
    Malformed(String),
}

fn malformed<T>(message: impl Into<String>) -> Result<T, PickleError> {
    Err(PickleError::Malformed(message.into()))
}

/// Runs the pickle `bytes` and returns the tensors of the state dict it
/// holds, by name, in the pickle's order. Entries that are not tensors are
/// left out; nested dicts are not state dicts and are refused.
pub(crate) fn state_dict(bytes: &[u8]) -> Result<Vec<(String, TensorRef)>, PickleError> {
    let Value::Dict(dict) = Machine::new(bytes).run()? else {
        return malformed("the pickle does not hold a dict of tensors");
    };
    let mut tensors = Vec::new();
    for (key, value) in dict.borrow().iter() {
        let Value::Str(name) = key else {
            return malformed(format!("a state-dict key is not a string: {key:?}"));
        };
        match value {
            Value::Tensor(tensor) => tensors.push((name.clone(), tensor.clone())),
            Value::Dict(_) => {
                return malformed(format!(
                    "`{name}` is a nested dict, not a tensor: not a state dict"
                ));
            }
            _ => {}
        }
    }
    Ok(tensors)
}

/// The pickle virtual machine: a stack, marks and a memo.
struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl<'a> Machine<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn run(mut self) -> Result<Value, PickleError> {
        loop {
            let op = self.take(1)?[0];
            if op == b'.' {
                return self.pop();
            }
            self.step(op)?;
        }
    }

    fn step(&mut self, op: u8) -> Result<(), PickleError> {
        match op {
            0x80 => drop(self.take(1)?),                                   // PROTO
            0x95 => drop(self.take(8)?),                                   // FRAME
            b'}' => self.push(Value::Dict(Rc::default())),                 // EMPTY_DICT
            b']' => self.push(Value::List(Rc::default())),                 // EMPTY_LIST
            b')' => self.push(Value::Tuple(Vec::new())),                   // EMPTY_TUPLE
            b'(' => self.marks.push(self.stack.len()),                     // MARK
            b'N' => self.push(Value::None),                                // NONE
            0x88 => self.push(Value::Bool(true)),                          // NEWTRUE
            0x89 => self.push(Value::Bool(false)),                         // NEWFALSE
            b'K' => self.push_int(|m| Ok(m.take(1)?[0] as i64))?,          // BININT1
            b'M' => self.push_int(|m| Ok(m.le(2)? as i64))?,               // BININT2
            b'J' => self.push_int(|m| Ok(m.le(4)? as u32 as i32 as i64))?, // BININT
            0x8a => self.push_int(Self::long1)?,                           // LONG1
            b'G' => {
                let bits = u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                self.push(Value::Float(f64::from_bits(bits)));
            }
            b'X' => self.push_str(4)?,    // BINUNICODE
            0x8c => self.push_str(1)?,    // SHORT_BINUNICODE
            0x8d => self.push_str(8)?,    // BINUNICODE8
            b'C' => self.push_bytes(1)?,  // SHORT_BINBYTES
            b'B' => self.push_bytes(4)?,  // BINBYTES
            b'q' => self.put(1)?,         // BINPUT
            b'r' => self.put(4)?,         // LONG_BINPUT
            0x94 => self.memoize()?,      // MEMOIZE
            b'h' => self.get(1)?,         // BINGET
            b'j' => self.get(4)?,         // LONG_BINGET
            b'c' => self.global()?,       // GLOBAL
            0x93 => self.stack_global()?, // STACK_GLOBAL
            b't' => {
                let items = self.pop_mark()?;
                self.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize; // TUPLE1..3
                let items = self.pop_n(n)?;
                self.push(Value::Tuple(items));
            }
            b'l' => {
                let items = self.pop_mark()?; // LIST
                self.push(Value::List(Rc::new(RefCell::new(items))));
            }
            b'a' => {
                let item = self.pop()?; // APPEND
                self.list_top()?.borrow_mut().push(item);
            }
            b'e' => {
                let items = self.pop_mark()?; // APPENDS
                self.list_top()?.borrow_mut().extend(items);
            }
            b's' => {
                let value = self.pop()?; // SETITEM
                let key = self.pop()?;
                self.dict_top()?.borrow_mut().push((key, value));
            }
            b'u' => {
                let items = self.pop_mark()?; // SETITEMS
                if items.len() % 2 != 0 {
                    return malformed("SETITEMS with an odd number of items");
                }
                let dict = self.dict_top()?;
                let mut items = items.into_iter();
                while let (Some(key), Some(value)) = (items.next(), items.next()) {
                    dict.borrow_mut().push((key, value));
                }
            }
            b'Q' => {
                let id = self.pop()?; // BINPERSID
                self.push(Value::Storage(storage_of(id)?));
            }
            b'R' => {
                let args = self.pop()?; // REDUCE
                let callable = self.pop()?;
                let value = reduce(callable, args)?;
                self.push(value);
            }
            b'b' => {
                // BUILD: the state of a dict (`_metadata`) or a tensor; kept out.
                self.pop()?;
                match self.stack.last() {
                    Some(Value::Dict(_) | Value::Tensor(_)) => {}
                    other => return malformed(format!("BUILD on {other:?}")),
                }
            }
            other => {
                return malformed(format!(
                    "opcode 0x{other:02x} at byte {} is not one torch.save writes",
                    self.at - 1
                ));
            }
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return malformed(format!("truncated at byte {}", self.at));
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    /// A little-endian unsigned integer of `n` bytes (n ≤ 8).
    fn le(&mut self, n: usize) -> Result<u64, PickleError> {
        let mut buffer = [0u8; 8];
        buffer[..n].copy_from_slice(self.take(n)?);
        Ok(u64::from_le_bytes(buffer))
    }

    fn long1(&mut self) -> Result<i64, PickleError> {
        let n = self.take(1)?[0] as usize;
        if n > 8 {
            return malformed(format!("an integer of {n} bytes"));
        }
        let bytes = self.take(n)?;
        let mut buffer = match bytes.last() {
            Some(&last) if last & 0x80 != 0 => [0xff; 8],
            _ => [0; 8],
        };
        buffer[..n].copy_from_slice(bytes);
        Ok(i64::from_le_bytes(buffer))
    }

    fn push(&mut self, value: Value) {
        self.stack.push(value);
    }

    fn push_int(
        &mut self,
        read: fn(&mut Self) -> Result<i64, PickleError>,
    ) -> Result<(), PickleError> {
        let value = read(self)?;
        self.push(Value::Int(value));
        Ok(())
    }

    fn push_str(&mut self, width: usize) -> Result<(), PickleError> {
        let text = self.string(width)?;
        self.push(Value::Str(text));
        Ok(())
    }

    fn push_bytes(&mut self, width: usize) -> Result<(), PickleError> {
        let n = self.le(width)? as usize;
        let bytes = self.take(n)?.to_vec();
        self.push(Value::Bytes(bytes));
        Ok(())
    }

    fn string(&mut self, width: usize) -> Result<String, PickleError> {
        let n = usize::try_from(self.le(width)?).unwrap_or(usize::MAX);
        match std::str::from_utf8(self.take(n)?) {
            Ok(text) => Ok(text.to_owned()),
            Err(_) => malformed(format!(
                "a string that is not UTF-8 before byte {}",
                self.at
            )),
        }
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.bytes[self.at..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return malformed("GLOBAL without a newline");
        };
        let text = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.at += n + 1;
        Ok(text)
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        self.stack
            .pop()
            .map_or_else(|| malformed("pop from an empty stack"), Ok)
    }

    fn pop_n(&mut self, n: usize) -> Result<Vec<Value>, PickleError> {
        if self.stack.len() < n {
            return malformed("a tuple longer than the stack");
        }
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        match self.marks.pop() {
            Some(mark) if mark <= self.stack.len() => Ok(self.stack.split_off(mark)),
            _ => malformed("no MARK to pop to"),
        }
    }

    fn dict_top(&self) -> Result<Shared<Vec<(Value, Value)>>, PickleError> {
        match self.stack.last() {
            Some(Value::Dict(dict)) => Ok(dict.clone()),
            other => malformed(format!("SETITEM(S) on {other:?}")),
        }
    }

    fn list_top(&self) -> Result<Shared<Vec<Value>>, PickleError> {
        match self.stack.last() {
            Some(Value::List(list)) => Ok(list.clone()),
            other => malformed(format!("APPEND(S) on {other:?}")),
        }
    }

    fn put(&mut self, width: usize) -> Result<(), PickleError> {
        let key = self.le(width)? as u32;
        self.memo_top(key)
    }

    fn memoize(&mut self) -> Result<(), PickleError> {
        let key = self.memo.len() as u32;
        self.memo_top(key)
    }

    fn memo_top(&mut self, key: u32) -> Result<(), PickleError> {
        let Some(top) = self.stack.last() else {
            return malformed("memoising an empty stack");
        };
        self.memo.insert(key, top.clone());
        Ok(())
    }

    fn get(&mut self, width: usize) -> Result<(), PickleError> {
        let key = self.le(width)? as u32;
        match self.memo.get(&key) {
            Some(value) => {
                let value = value.clone();
                self.push(value);
                Ok(())
            }
            None => malformed(format!("memo key {key} was never stored")),
        }
    }

    fn global(&mut self) -> Result<(), PickleError> {
        let module = self.line()?;
        let name = self.line()?;
        self.push_global(&module, &name)
    }

    fn stack_global(&mut self) -> Result<(), PickleError> {
        let (Value::Str(name), Value::Str(module)) = (self.pop()?, self.pop()?) else {
            return malformed("STACK_GLOBAL without two strings");
        };
        self.push_global(&module, &name)
    }

    fn push_global(&mut self, module: &str, name: &str) -> Result<(), PickleError> {
        let global = Global::resolve(module, name)
            .ok_or_else(|| PickleError::Forbidden(format!("{module}.{name}")))?;
        self.push(Value::Global(global));
        Ok(())
    }
}

/// The storage a persistent id names.
fn storage_of(id: Value) -> Result<StorageRef, PickleError> {
    let Value::Tuple(parts) = id else {
        return malformed(format!("a persistent id that is not a tuple: {id:?}"));
    };
    match parts.as_slice() {
        [
            Value::Str(kind),
            Value::Global(Global::Storage(dtype)),
            Value::Str(key),
            _,
            Value::Int(numel),
        ] if kind == "storage" && *numel >= 0 => Ok(StorageRef {
            dtype: *dtype,
            key: key.clone(),
            numel: *numel as usize,
        }),
        _ => malformed(format!("a persistent id that is not a storage: {parts:?}")),
    }
}

/// Applies an accepted callable: builds data, never runs code.
fn reduce(callable: Value, args: Value) -> Result<Value, PickleError> {
    let Value::Tuple(args) = args else {
        return malformed("REDUCE with arguments that are not a tuple");
    };
    let Value::Global(global) = callable else {
        return malformed(format!("REDUCE on {callable:?}, which is not a global"));
    };
    match (global, args.as_slice()) {
        (Global::OrderedDict, []) => Ok(Value::Dict(Rc::default())),
        (
            Global::RebuildTensor,
            [
                Value::Storage(storage),
                Value::Int(offset),
                size,
                stride,
                ..,
            ],
        ) => Ok(Value::Tensor(TensorRef {
            storage: storage.clone(),
            offset: non_negative(*offset)?,
            shape: int_tuple(size)?,
            strides: int_tuple(stride)?,
        })),
        (Global::RebuildParameter, [tensor @ Value::Tensor(_), ..]) => Ok(tensor.clone()),
        (Global::RebuildFromType, [function, _, Value::Tuple(inner), ..]) => {
            reduce(function.clone(), Value::Tuple(inner.clone()))
        }
        (global, args) => malformed(format!("{global:?} called with {args:?}")),
    }
}

fn non_negative(value: i64) -> Result<usize, PickleError> {
    usize::try_from(value).or_else(|_| malformed(format!("a negative size or offset: {value}")))
}

fn int_tuple(value: &Value) -> Result<Vec<usize>, PickleError> {
    let Value::Tuple(items) = value else {
        return malformed(format!("expected a tuple of integers, found {value:?}"));
    };
    items
        .iter()
        .map(|item| match item {
            Value::Int(n) => non_negative(*n),
            other => malformed(format!("expected an integer, found {other:?}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `GLOBAL os system`, its argument, REDUCE: what a malicious pickle does.
    #[test]
    fn a_forbidden_global_is_refused_before_anything_runs() {
        let pickle = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00echoq\x00\x85R.";
        assert_eq!(
            state_dict(pickle),
            Err(PickleError::Forbidden("os.system".into()))
        );
    }

    #[test]
    fn builtins_eval_through_stack_global_is_refused() {
        let pickle = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.";
        assert_eq!(
            state_dict(pickle),
            Err(PickleError::Forbidden("builtins.eval".into()))
        );
    }

    #[test]
    fn truncated_and_garbage_pickles_are_errors_not_panics() {
        for pickle in [
            &b""[..],
            b"\x80",
            b"\x80\x02}q",
            b"\xff\xff",
            b"\x80\x02(u.",
        ] {
            assert!(matches!(state_dict(pickle), Err(PickleError::Malformed(_))));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_a_result_or_an_error(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = state_dict(&bytes);
        }
    }
}
