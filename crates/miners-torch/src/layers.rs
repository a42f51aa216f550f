//! Layers shared by the model families: dense, LayerNorm, RMSNorm, rotary positions.
//!
//! Each loads its tensors by name from [`Weights`], checking shapes.

use tch::{Kind, TchError, Tensor};

use crate::{TorchError, weights::Weights};

/// A dense layer `y = x Wᵀ + b`, computed in its weight's kind and returned
/// in its input's kind (generators keep a float32 residual stream around
/// reduced-precision weights; an encoder in bfloat16 stays in bfloat16).
pub(crate) struct Linear {
    weight: LinearWeight,
    bias: Option<Tensor>,
}

/// A linear layer's weight matrix as held.
enum LinearWeight {
    /// In the model's weight kind.
    Full(Tensor),
    /// int8 rows `q` with one scale per output channel (`[out, 1]`, in the
    /// kind the layer computes in): `W ≈ q × scale`.
    Int8 { q: Tensor, scale: Tensor },
}

impl Linear {
    /// Loads `<name>.weight` (`out × in`) and, if `bias`, `<name>.bias`;
    /// quantized to int8 when the weights ask for it.
    pub(crate) fn load(
        w: &Weights,
        name: &str,
        inputs: i64,
        outputs: i64,
        bias: bool,
    ) -> Result<Self, TorchError> {
        let weight = w.take(&format!("{name}.weight"), &[outputs, inputs])?;
        let weight = match w.int8_linear() {
            true => quantize(&weight)?,
            false => LinearWeight::Full(weight),
        };
        Ok(Self {
            weight,
            bias: bias
                .then(|| w.take(&format!("{name}.bias"), &[outputs]))
                .transpose()?,
        })
    }

    /// A layer of the given weight (`out × in`) and bias.
    pub(crate) fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            weight: LinearWeight::Full(weight),
            bias,
        }
    }

    /// The trainable tensors, named `<name>.weight` and `<name>.bias`; an
    /// int8 layer has none to train.
    pub(crate) fn parameters(&self, name: &str) -> Result<Vec<(String, Tensor)>, TchError> {
        let LinearWeight::Full(weight) = &self.weight else {
            return Err(TchError::Convert(format!(
                "{name}: an int8 layer cannot be trained"
            )));
        };
        let mut found = vec![(format!("{name}.weight"), weight.shallow_clone())];
        if let Some(bias) = &self.bias {
            found.push((format!("{name}.bias"), bias.shallow_clone()));
        }
        Ok(found)
    }

    /// Applies the layer.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, TchError> {
        let dequantized;
        let weight = match &self.weight {
            LinearWeight::Full(weight) => weight,
            LinearWeight::Int8 { q, scale } => {
                dequantized = q.f_to_kind(scale.kind())?.f_mul(scale)?;
                &dequantized
            }
        };
        let kind = x.kind();
        if kind == weight.kind() {
            return x.f_linear(weight, self.bias.as_ref());
        }
        x.f_to_kind(weight.kind())?
            .f_linear(weight, self.bias.as_ref())?
            .f_to_kind(kind)
    }

    /// One layer computing several layers of the same input side by side
    /// (fused Q/K/V, gate/up projections).
    pub(crate) fn stack(parts: &[Linear]) -> Result<Self, TorchError> {
        let matrices: Vec<&Tensor> = parts.iter().map(|p| p.weight.matrix()).collect();
        let scales: Option<Vec<&Tensor>> = parts.iter().map(|p| p.weight.scale()).collect();
        let matrix = Tensor::f_cat(&matrices, 0)?;
        let weight = match scales {
            Some(scales) => LinearWeight::Int8 {
                q: matrix,
                scale: Tensor::f_cat(&scales, 0)?,
            },
            None => LinearWeight::Full(matrix),
        };
        let biases: Option<Vec<&Tensor>> = parts.iter().map(|p| p.bias.as_ref()).collect();
        Ok(Self {
            weight,
            bias: biases.map(|b| Tensor::f_cat(&b, 0)).transpose()?,
        })
    }
}

impl LinearWeight {
    /// The stored matrix: the weight, or its int8 rows.
    fn matrix(&self) -> &Tensor {
        match self {
            Self::Full(weight) | Self::Int8 { q: weight, .. } => weight,
        }
    }

    /// The per-channel scales of an int8 matrix.
    fn scale(&self) -> Option<&Tensor> {
        match self {
            Self::Full(_) => None,
            Self::Int8 { scale, .. } => Some(scale),
        }
    }
}

/// Per-output-channel absmax int8: `scale = max|row| / 127`, `q = round(W / scale)`.
fn quantize(weight: &Tensor) -> Result<LinearWeight, TchError> {
    let absmax = weight
        .f_abs()?
        .f_amax([1].as_slice(), true)?
        .f_to_kind(Kind::Float)?
        .f_clamp_min(f64::from(f32::MIN_POSITIVE))?;
    let scale = absmax.f_div_scalar(127.0)?;
    let q = weight
        .f_to_kind(Kind::Float)?
        .f_div(&scale)?
        .f_round()?
        .f_clamp(-127.0, 127.0)?
        .f_to_kind(Kind::Int8)?;
    Ok(LinearWeight::Int8 {
        q,
        scale: scale.f_to_kind(weight.kind())?,
    })
}

/// Rows of an embedding `table` for `ids`, as float32: generators keep
/// their residual stream in float32 whatever the weights are held in.
pub(crate) fn embed_float(table: &Tensor, ids: &Tensor) -> Result<Tensor, TchError> {
    Tensor::f_embedding(table, ids, -1, false, false)?.f_to_kind(Kind::Float)
}

/// Next-token logits (float32) of `hidden` rows against an output matrix
/// `[vocab, hidden]`, the product taken in the matrix's kind.
pub(crate) fn vocabulary_logits(hidden: &Tensor, matrix: &Tensor) -> Result<Tensor, TchError> {
    hidden
        .f_to_kind(matrix.kind())?
        .f_matmul(&matrix.f_tr()?)?
        .f_to_kind(Kind::Float)
}

/// Layer normalisation with weight and bias (BERT, XLM-R, BLOOM).
pub(crate) struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Loads `<name>.weight` and `<name>.bias` of `width`.
    pub(crate) fn load(w: &Weights, name: &str, width: i64, eps: f64) -> Result<Self, TorchError> {
        Ok(Self {
            weight: w.take(&format!("{name}.weight"), &[width])?,
            bias: w.take(&format!("{name}.bias"), &[width])?,
            eps,
        })
    }

    /// The trainable tensors, named `<name>.weight` and `<name>.bias`.
    pub(crate) fn parameters(&self, name: &str) -> Vec<(String, Tensor)> {
        vec![
            (format!("{name}.weight"), self.weight.shallow_clone()),
            (format!("{name}.bias"), self.bias.shallow_clone()),
        ]
    }

    /// Normalises the last dimension, in the input's kind.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, TchError> {
        let width = x.size().last().copied().unwrap_or(0);
        let (weight, bias) = match x.kind() == self.weight.kind() {
            true => (self.weight.shallow_clone(), self.bias.shallow_clone()),
            false => (
                self.weight.f_to_kind(x.kind())?,
                self.bias.f_to_kind(x.kind())?,
            ),
        };
        x.f_layer_norm([width], Some(&weight), Some(&bias), self.eps, true)
    }
}

/// Root-mean-square norm (Llama, Qwen2, Gemma); centred, it is a LayerNorm
/// without bias (Cohere).
pub(crate) struct RmsNorm {
    weight: Tensor,
    eps: f64,
    centered: bool,
}

/// How an RMSNorm's stored weight scales its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NormWeight {
    /// `x̂ · w` (Llama, Qwen2).
    Plain,
    /// `x̂ · (1 + w)` (Gemma); folded into the weight on load.
    OnePlus,
}

impl RmsNorm {
    /// Loads `<name>.weight` of `width`.
    pub(crate) fn load(
        w: &Weights,
        name: &str,
        width: i64,
        eps: f64,
        kind: NormWeight,
    ) -> Result<Self, TorchError> {
        // float32, as transformers computes these norms.
        let weight = w
            .take(&format!("{name}.weight"), &[width])?
            .f_to_kind(Kind::Float)?;
        let weight = match kind {
            NormWeight::Plain => weight,
            NormWeight::OnePlus => weight.f_add_scalar(1.0)?,
        };
        Ok(Self {
            weight,
            eps,
            centered: false,
        })
    }

    /// Subtracts the mean first: a LayerNorm without bias.
    pub(crate) fn centered(mut self) -> Self {
        self.centered = true;
        self
    }

    /// Normalises the last dimension.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, TchError> {
        let centered;
        let x = match self.centered {
            true => {
                centered = x.f_sub(&x.f_mean_dim(-1, true, Kind::Float)?)?;
                &centered
            }
            false => x,
        };
        let variance = x.f_square()?.f_mean_dim(-1, true, Kind::Float)?;
        x.f_mul(&variance.f_add_scalar(self.eps)?.f_rsqrt()?)?
            .f_mul(&self.weight)
    }
}

/// Rotary position embedding: `1 / θ^(2i/d)` frequencies, in float32 as
/// transformers computes them, applied in the rotate-half layout.
pub(crate) struct Rotary {
    frequencies: Tensor,
}

impl Rotary {
    /// Frequencies for base `theta` and heads of `head_dim`, each passed
    /// through `scale` (Llama 3's scaling; identity otherwise).
    pub(crate) fn new(
        theta: f64,
        head_dim: i64,
        scale: Option<&dyn Fn(f64) -> f64>,
        device: tch::Device,
    ) -> Result<Self, TchError> {
        let exponents = Tensor::f_arange_start_step(0, head_dim, 2, (Kind::Int64, device))?
            .f_to_kind(Kind::Float)?
            .f_div_scalar(head_dim as f64)?;
        let mut frequencies = Tensor::f_pow_scalar(theta, &exponents)?.f_reciprocal()?;
        if let Some(scale) = scale {
            let scaled: Vec<f32> =
                Vec::<f32>::try_from(frequencies.f_to_device(tch::Device::Cpu)?)?
                    .into_iter()
                    .map(|f| scale(f64::from(f)) as f32)
                    .collect();
            frequencies = Tensor::f_from_slice(&scaled)?.f_to_device(device)?;
        }
        Ok(Self { frequencies })
    }

    /// `(cos, sin)` `[batch, 1, length, head_dim]` for `[batch, length]` positions.
    pub(crate) fn angles(&self, positions: &Tensor) -> Result<(Tensor, Tensor), TchError> {
        let angles = positions
            .f_to_kind(Kind::Float)?
            .f_unsqueeze(-1)?
            .f_mul(&self.frequencies)?;
        let angles = Tensor::f_cat(&[&angles, &angles], -1)?.f_unsqueeze(1)?;
        Ok((angles.f_cos()?, angles.f_sin()?))
    }
}

/// Rotates `x` `[batch, heads, length, head_dim]` by angles laid out for
/// adjacent pairs `(x₀, x₁), (x₂, x₃), …` (Cohere's layout): each angle
/// repeated twice in place.
pub(crate) fn rotate_interleaved(
    x: &Tensor,
    (cos, sin): &(Tensor, Tensor),
) -> Result<Tensor, TchError> {
    let half = x.size().last().copied().unwrap_or(0) / 2;
    let pairs = |t: &Tensor| -> Result<Tensor, TchError> {
        // Angles come as [a, a] halves; keep one half, repeat each in place.
        t.f_narrow(-1, 0, half)?
            .f_repeat_interleave_self_int(2, -1, None)
    };
    let (cos, sin) = (pairs(cos)?, pairs(sin)?);
    let shape = x.size();
    let split = x.f_unflatten(-1, [half, 2])?;
    let (even, odd) = (split.f_select(-1, 0)?, split.f_select(-1, 1)?);
    let rotated = Tensor::f_stack(&[odd.f_neg()?, even], -1)?.f_reshape(&shape)?;
    x.f_mul(&cos)?.f_add(&rotated.f_mul(&sin)?)
}

/// Rotates `x` `[batch, heads, length, head_dim]` by precomputed angles.
pub(crate) fn rotate(x: &Tensor, (cos, sin): &(Tensor, Tensor)) -> Result<Tensor, TchError> {
    let half = x.size().last().copied().unwrap_or(0) / 2;
    let halves = x.f_split(half, -1)?;
    let rotated = Tensor::f_cat(&[&halves[1].f_neg()?, &halves[0]], -1)?;
    x.f_mul(cos)?.f_add(&rotated.f_mul(sin)?)
}
