//! AdamW as `torch.optim.AdamW` computes it, with gradient clipping folded
//! in, in one pass over each tensor on CPU.
//!
//! libtorch's own AdamW (and `Trainer`'s default on CPU, the single-tensor
//! loop) runs a kernel per operation: decay, first moment, second moment,
//! square root, division and update each read and write whole tensors. On
//! e5-small's 250k-row embedding table that costs more than the forward and
//! backward passes of a batch. Here each element of a float32 CPU tensor is
//! read and written once, on every core; any other tensor (another device or
//! dtype, or not contiguous) takes the same formula as tensor operations.
//! Either way the arithmetic is `torch.optim.AdamW`'s, in its order, so the
//! two agree to float32 rounding.

use rayon::prelude::*;
use tch::{COptimizer, Device, Kind, TchError, Tensor};

/// Elements per parallel chunk of a fused update.
const CHUNK: usize = 1 << 14;

/// AdamW (β 0.9, 0.999, ε 1e-8, no AMSGrad) over tensors that each carry
/// their own weight decay.
pub(crate) struct AdamW {
    slots: Vec<Slot>,
    steps: i32,
    learning_rate: f64,
    /// libtorch's optimizer over the same tensors, kept only to drop their
    /// gradients (`set_to_none`), which tch offers no other way: a dropped
    /// gradient is stolen by the next backward pass instead of summed into.
    gradients: COptimizer,
}

/// One tensor and its moments.
struct Slot {
    parameter: Tensor,
    weight_decay: f64,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

/// The scalars of one step, as `torch.optim.AdamW` derives them.
#[derive(Clone, Copy)]
struct Coefficients {
    grad_scale: f32,
    decay: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    bias_correction2_sqrt: f32,
    step_size: f32,
    eps: f32,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl AdamW {
    /// AdamW over `parameters`, each with its weight decay.
    pub(crate) fn new(parameters: &[(Tensor, f64)]) -> Result<Self, TchError> {
        let mut gradients = COptimizer::sgd(0.0, 0.0, 0.0, 0.0, false)?;
        let mut slots = Vec::with_capacity(parameters.len());
        for (parameter, weight_decay) in parameters {
            gradients.add_parameters(parameter, 0)?;
            slots.push(Slot {
                parameter: parameter.shallow_clone(),
                weight_decay: *weight_decay,
                exp_avg: parameter.f_zeros_like()?.f_detach()?,
                exp_avg_sq: parameter.f_zeros_like()?.f_detach()?,
            });
        }
        Ok(Self {
            slots,
            steps: 0,
            learning_rate: 0.0,
            gradients,
        })
    }

    /// The learning rate of the steps that follow.
    pub(crate) fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }

    /// Drops every gradient, as `zero_grad(set_to_none=True)`.
    pub(crate) fn zero_grad(&self) -> Result<(), TchError> {
        self.gradients.zero_grad()
    }

    /// Gradients clipped to norm `max_norm` as
    /// `torch.nn.utils.clip_grad_norm_` clips them, then one step. The
    /// clipping factor is applied as each gradient is read, saving a pass
    /// over them.
    pub(crate) fn clip_and_step(&mut self, max_norm: f64) -> Result<(), TchError> {
        let scale = self.clip_coefficient(max_norm)?;
        self.step(self.learning_rate, scale)
    }

    /// `max_norm / (norm + 1e-6)` where that is below 1, else 1, the norm
    /// taken over every gradient together.
    fn clip_coefficient(&self, max_norm: f64) -> Result<f64, TchError> {
        let mut squares = 0.0;
        for slot in &self.slots {
            let grad = slot.parameter.grad();
            if grad.defined() {
                let norm = grad.f_norm()?.f_double_value(&[])?;
                squares += norm * norm;
            }
        }
        Ok((max_norm / (squares.sqrt() + 1e-6)).min(1.0))
    }

    /// One step at learning rate `lr`, each gradient first multiplied by
    /// `grad_scale`; tensors without a gradient are left alone, as torch
    /// leaves them.
    fn step(&mut self, lr: f64, grad_scale: f64) -> Result<(), TchError> {
        self.steps += 1;
        tch::no_grad(|| {
            for slot in &mut self.slots {
                let grad = slot.parameter.grad();
                if grad.defined() {
                    let c = Coefficients::at(self.steps, lr, slot.weight_decay, grad_scale);
                    slot.update(&grad, c)?;
                }
            }
            Ok(())
        })
    }
}

impl Coefficients {
    /// Step number `steps` (from 1) at learning rate `lr`.
    fn at(steps: i32, lr: f64, weight_decay: f64, grad_scale: f64) -> Self {
        Self {
            grad_scale: grad_scale as f32,
            decay: (1.0 - lr * weight_decay) as f32,
            one_minus_beta1: (1.0 - BETA1) as f32,
            beta2: BETA2 as f32,
            one_minus_beta2: (1.0 - BETA2) as f32,
            bias_correction2_sqrt: (1.0 - BETA2.powi(steps)).sqrt() as f32,
            step_size: (lr / (1.0 - BETA1.powi(steps))) as f32,
            eps: EPS as f32,
        }
    }
}

impl Slot {
    fn update(&mut self, grad: &Tensor, c: Coefficients) -> Result<(), TchError> {
        let fusable = [&self.parameter, grad, &self.exp_avg, &self.exp_avg_sq]
            .iter()
            .all(|t| t.device() == Device::Cpu && t.kind() == Kind::Float && t.is_contiguous());
        match fusable && grad.numel() == self.parameter.numel() {
            true => {
                self.update_fused(grad, c);
                Ok(())
            }
            false => self.update_tensors(grad, c),
        }
    }

    /// One pass over contiguous float32 CPU memory.
    #[allow(unsafe_code)]
    fn update_fused(&mut self, grad: &Tensor, c: Coefficients) {
        let n = self.parameter.numel();
        // SAFETY: the four tensors are distinct contiguous float32 CPU
        // tensors of `n` elements (checked by `update`; the moments are this
        // slot's own allocations and a gradient never shares its parameter's
        // storage), alive for the whole call, and nothing else touches them
        // during it (autograd is off and the step holds `&mut self`).
        let writable =
            |t: &Tensor| unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut f32, n) };
        let (parameter, exp_avg, exp_avg_sq) = (
            writable(&self.parameter),
            writable(&self.exp_avg),
            writable(&self.exp_avg_sq),
        );
        let grad = unsafe { std::slice::from_raw_parts(grad.data_ptr() as *const f32, n) };
        parameter
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(exp_avg.par_chunks_mut(CHUNK))
            .zip(exp_avg_sq.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| update_chunk(p, g, m, v, c));
    }

    /// The same formula as tensor operations, on any device and dtype.
    fn update_tensors(&mut self, grad: &Tensor, c: Coefficients) -> Result<(), TchError> {
        let grad = grad.f_mul_scalar(c.grad_scale as f64)?;
        let _ = self.parameter.f_mul_scalar_(c.decay as f64)?;
        let _ = self.exp_avg.f_lerp_(&grad, c.one_minus_beta1 as f64)?;
        let _ = self
            .exp_avg_sq
            .f_mul_scalar_(c.beta2 as f64)?
            .f_add_(&grad.f_square()?.f_mul_scalar(c.one_minus_beta2 as f64)?)?;
        let denom = self
            .exp_avg_sq
            .f_sqrt()?
            .f_div_scalar(c.bias_correction2_sqrt as f64)?
            .f_add_scalar(c.eps as f64)?;
        let update = self
            .exp_avg
            .f_div(&denom)?
            .f_mul_scalar(c.step_size as f64)?;
        let _ = self.parameter.f_sub_(&update)?;
        Ok(())
    }
}

/// `torch.optim.AdamW`'s single-tensor update, element by element: decay,
/// `exp_avg.lerp_(g, 1 - β1)`, `exp_avg_sq.mul_(β2).addcmul_(g, g, 1 - β2)`,
/// `denom = sqrt(exp_avg_sq) / sqrt(bias_correction2) + ε`,
/// `param.addcdiv_(exp_avg, denom, -step_size)`.
fn update_chunk(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: Coefficients) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = g * c.grad_scale;
        *m += c.one_minus_beta1 * (g - *m);
        *v = *v * c.beta2 + c.one_minus_beta2 * g * g;
        let denom = v.sqrt() / c.bias_correction2_sqrt + c.eps;
        *p = *p * c.decay - c.step_size * (*m / denom);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(shape: &[i64], seed: i64) -> Tensor {
        tch::manual_seed(seed);
        Tensor::randn(shape, (Kind::Float, Device::Cpu))
    }

    /// Runs `steps` steps on a fresh parameter with fixed gradients.
    fn run(parameter: Tensor, fused: bool, steps: usize) -> Tensor {
        let parameter = parameter.set_requires_grad(true);
        let mut adamw = AdamW::new(&[(parameter.shallow_clone(), 0.01)]).unwrap();
        for step in 0..steps {
            adamw.zero_grad().unwrap();
            let target = random(&parameter.size(), 100 + step as i64);
            let loss = (&parameter * &target).sum(Kind::Float);
            loss.backward();
            let lr = 1e-3 * (steps - step) as f64 / steps as f64;
            let scale = 0.5;
            let slot = &mut adamw.slots[0];
            let grad = slot.parameter.grad();
            let c = Coefficients::at(step as i32 + 1, lr, 0.01, scale);
            tch::no_grad(|| match fused {
                true => slot.update_fused(&grad, c),
                false => slot.update_tensors(&grad, c).unwrap(),
            });
        }
        parameter.detach()
    }

    #[test]
    fn the_fused_pass_equals_the_tensor_operations_and_libtorch() {
        // Larger than a chunk, not a multiple of it.
        let shape = [3 * CHUNK as i64 / 64 + 5, 64];
        let fused = run(random(&shape, 1), true, 5);
        let tensors = run(random(&shape, 1), false, 5);
        let moved = (&fused - random(&shape, 1)).abs().max().double_value(&[]);
        assert!(moved > 1e-3, "the steps moved the parameter by {moved}");
        let difference = (&fused - &tensors).abs().max().double_value(&[]);
        assert!(
            difference < 1e-6,
            "fused and tensor updates differ by {difference}"
        );
        // libtorch's AdamW, gradients clipped by hand, as the reference runs it.
        let parameter = random(&shape, 1).set_requires_grad(true);
        let mut libtorch = COptimizer::adamw(1e-3, BETA1, BETA2, 0.01, EPS, false).unwrap();
        libtorch.add_parameters(&parameter, 0).unwrap();
        for step in 0..5usize {
            libtorch.zero_grad().unwrap();
            let target = random(&shape, 100 + step as i64);
            (&parameter * &target).sum(Kind::Float).backward();
            let _ = tch::no_grad(|| parameter.grad().f_mul_scalar_(0.5)).unwrap();
            libtorch
                .set_learning_rate(1e-3 * (5 - step) as f64 / 5.0)
                .unwrap();
            libtorch.step().unwrap();
        }
        let difference = (&fused - parameter.detach()).abs().max().double_value(&[]);
        assert!(
            difference < 1e-6,
            "fused and libtorch's AdamW differ by {difference}"
        );
    }
}
