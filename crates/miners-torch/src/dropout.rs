//! Dropout for fine-tuning, its masks drawn from a seeded counter-based
//! stream.
//!
//! libtorch's `dropout` draws mask elements one by one from its
//! process-wide Mersenne Twister: on a MiniLM training step that was more
//! than a third of the forward pass. Here a run's stream is SplitMix64's
//! output for the run's seed, each output giving two 32-bit draws (high
//! half, then low half), each mask starting on a fresh output; a run
//! repeats bit for bit whatever else the process draws. A mask keeps an
//! element with probability `1 - p` (to 2⁻³²) and scales it by
//! `1 / (1 - p)`, as torch's does; only which elements it keeps differs
//! from libtorch's stream. Masks are drawn on the calling thread: libtorch's
//! OpenMP workers spin between kernels, so a second pool would only slow
//! both.

use std::cell::Cell;

use tch::{TchError, Tensor};

/// SplitMix64's increment.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Dropout probabilities while training, as the model's config gives them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Dropout {
    /// After the embeddings and each sub-layer's output projection.
    pub(crate) hidden: f64,
    /// On the attention probabilities.
    pub(crate) attention: f64,
    /// In the classification head.
    pub(crate) classifier: f64,
}

/// `x` with the dropout `rate` picks from the probabilities applied while
/// training (`masks`), or `x` itself.
pub(crate) fn dropout(
    x: Tensor,
    masks: Option<&DropoutMasks>,
    rate: impl FnOnce(Dropout) -> f64,
) -> Result<Tensor, TchError> {
    match masks {
        Some(masks) => masks.apply(&x, rate(masks.rates())),
        None => Ok(x),
    }
}

/// One training run's dropout: its probabilities and its mask stream.
pub(crate) struct DropoutMasks {
    rates: Dropout,
    seed: u64,
    /// SplitMix64 outputs used so far.
    drawn: Cell<u64>,
}

impl DropoutMasks {
    /// A fresh stream for `seed`.
    pub(crate) fn new(rates: Dropout, seed: u64) -> Self {
        Self {
            rates,
            seed,
            drawn: Cell::new(0),
        }
    }

    /// The probabilities.
    pub(crate) fn rates(&self) -> Dropout {
        self.rates
    }

    /// `x` with dropout `p` applied: elements zeroed with probability `p`,
    /// the rest scaled by `1 / (1 - p)`; `x` itself when `p` is 0.
    pub(crate) fn apply(&self, x: &Tensor, p: f64) -> Result<Tensor, TchError> {
        if p <= 0.0 {
            return Ok(x.shallow_clone());
        }
        let mask = self.mask(x.numel(), p);
        let mask = Tensor::f_from_slice(&mask)?
            .f_view(x.size().as_slice())?
            .f_to_device(x.device())?
            .f_to_kind(x.kind())?;
        x.f_mul(&mask)
    }

    /// The next `n` draws of the stream as a mask of zeros and `1 / (1 - p)`.
    fn mask(&self, n: usize, p: f64) -> Vec<f32> {
        let first = self.drawn.get();
        self.drawn.set(first + n.div_ceil(2) as u64);
        // Kept when a 32-bit draw falls below (1 - p) · 2³².
        let keep_below = ((1.0 - p) * 4_294_967_296.0).round() as u64;
        let scale = 1.0 / (1.0 - p) as f32;
        let mut mask = vec![0f32; n];
        for (i, pair) in mask.chunks_mut(2).enumerate() {
            let output = splitmix64(self.seed, first + i as u64);
            for (value, draw) in pair.iter_mut().zip([output >> 32, output & 0xFFFF_FFFF]) {
                *value = if draw < keep_below { scale } else { 0.0 };
            }
        }
        mask
    }
}

/// Output `index` (from 0) of SplitMix64 started at `seed`.
fn splitmix64(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(GOLDEN.wrapping_mul(index.wrapping_add(1)));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind};

    use super::*;

    #[test]
    fn splitmix64_is_the_published_sequence() {
        // SplitMix64 from seed 1234567 (Vigna's reference implementation).
        let expected = [
            6457827717110365317u64,
            3203168211198807973,
            9817491932198370423,
        ];
        for (i, &value) in expected.iter().enumerate() {
            assert_eq!(splitmix64(1234567, i as u64), value);
        }
    }

    #[test]
    fn masks_keep_one_minus_p_scaled_and_never_repeat_within_a_run() {
        let rates = Dropout {
            hidden: 0.1,
            attention: 0.1,
            classifier: 0.1,
        };
        let masks = DropoutMasks::new(rates, 42);
        let ones = Tensor::ones([1000, 100], (Kind::Float, Device::Cpu));
        let first = masks.apply(&ones, 0.1).unwrap();
        let second = masks.apply(&ones, 0.1).unwrap();
        let kept = first.ne(0.0).to_kind(Kind::Float).mean(Kind::Float);
        let kept = kept.double_value(&[]);
        assert!((kept - 0.9).abs() < 0.003, "kept {kept}");
        let scale = first.max().double_value(&[]);
        assert_eq!(scale as f32, 1.0 / 0.9f32);
        assert!(!first.equal(&second), "the stream moves on between masks");
        // The same seed repeats the run; another seed does not.
        let again = DropoutMasks::new(rates, 42);
        assert!(again.apply(&ones, 0.1).unwrap().equal(&first));
        let other = DropoutMasks::new(rates, 43);
        assert!(!other.apply(&ones, 0.1).unwrap().equal(&first));
        // No dropout leaves the tensor as it is.
        assert!(masks.apply(&ones, 0.0).unwrap().equal(&ones));
    }
}
