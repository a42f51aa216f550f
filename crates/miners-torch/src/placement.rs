//! Where a decoder's layers run: one device, or contiguous segments of
//! layers over several devices, sized by what each device can hold, as
//! transformers' `device_map="auto"` places them. Activations move from one
//! segment's device to the next; the embedding, the final norm and the
//! output matrix stay on the first device.

use std::ops::Range;

use miners_encoders::spec::DeviceChoice;
use tch::{Device, TchError, Tensor};

use crate::{TorchError, resolve_device, weights::Weights};

/// The device of each layer, as contiguous segments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Placement {
    /// The segments' devices, first to last.
    devices: Vec<Device>,
    /// One past the last layer of each segment.
    ends: Vec<usize>,
}

impl Placement {
    /// Every layer on `device`.
    pub(crate) fn single(device: Device) -> Self {
        Self {
            devices: vec![device],
            ends: vec![usize::MAX],
        }
    }

    /// `layers` layers over `devices`, each device taking a share of the
    /// layers proportional to its `capacity` (free bytes), largest
    /// remainders rounded up; a device with no share gets no segment.
    pub(crate) fn split(devices: &[Device], capacity: &[f64], layers: usize) -> Self {
        let total: f64 = capacity.iter().sum();
        let exact: Vec<f64> = capacity.iter().map(|c| c / total * layers as f64).collect();
        let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
        let mut order: Vec<usize> = (0..devices.len()).collect();
        order.sort_by(|&a, &b| {
            (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor()))
        });
        let short = layers - counts.iter().sum::<usize>();
        for &i in order.iter().take(short) {
            counts[i] += 1;
        }
        let mut placement = Self {
            devices: Vec::new(),
            ends: Vec::new(),
        };
        let mut end = 0;
        for (&device, count) in devices.iter().zip(counts) {
            if count > 0 {
                end += count;
                placement.devices.push(device);
                placement.ends.push(end);
            }
        }
        placement
    }

    /// The placement `choices` ask for: one device, or several (`auto` alone
    /// means every CUDA device there is, split by free memory).
    pub(crate) fn resolve(choices: &[DeviceChoice], layers: usize) -> Result<Self, TorchError> {
        let devices: Vec<Device> = match choices {
            [] => return Err(TorchError::Device("no device given".into())),
            [DeviceChoice::Auto] => {
                let first = resolve_device(DeviceChoice::Auto)?;
                match first {
                    Device::Cuda(_) => (0..tch::Cuda::device_count() as usize)
                        .map(Device::Cuda)
                        .collect(),
                    other => vec![other],
                }
            }
            choices => choices
                .iter()
                .map(|&c| resolve_device(c))
                .collect::<Result<_, _>>()?,
        };
        if devices.len() == 1 {
            return Ok(Self::single(devices[0]));
        }
        let capacity: Vec<f64> = devices
            .iter()
            .map(|&d| free_bytes(d).unwrap_or(1.0))
            .collect();
        Ok(Self::split(&devices, &capacity, layers))
    }

    /// The device of layer `layer`.
    pub(crate) fn device_of(&self, layer: usize) -> Device {
        let segment = self
            .ends
            .iter()
            .position(|&end| layer < end)
            .unwrap_or(self.ends.len() - 1);
        self.devices[segment]
    }

    /// Loads the layers numbered `layers` (in the whole model's count), each
    /// with its weights on the device this placement gives it.
    pub(crate) fn load_layers<L>(
        &self,
        weights: &Weights,
        layers: Range<usize>,
        mut load: impl FnMut(&Weights, usize) -> Result<L, TorchError>,
    ) -> Result<PlacedLayers<L>, TorchError> {
        let placed = layers
            .map(|i| {
                let device = self.device_of(i);
                Ok((load(&weights.on(device), i)?, device))
            })
            .collect::<Result<_, TorchError>>()?;
        Ok(PlacedLayers(placed))
    }

    /// The first device: embedding, final norm and output matrix live there.
    pub(crate) fn first(&self) -> Device {
        self.devices[0]
    }
}

/// A stack of layers, each with the device its weights are on.
pub(crate) struct PlacedLayers<L>(Vec<(L, Device)>);

impl<L> PlacedLayers<L> {
    /// Runs `x` through every layer in turn (`layer(index, layer, x,
    /// inputs)`), each on its own device: `x` and the per-layer `inputs`
    /// follow the layers onto each device, and `x` returns to its own device
    /// at the end.
    pub(crate) fn forward<I: OnDevice>(
        &self,
        x: Tensor,
        mut inputs: I,
        mut layer: impl FnMut(usize, &L, &Tensor, &I) -> Result<Tensor, TchError>,
    ) -> Result<Tensor, TchError> {
        let home = x.device();
        let mut x = x;
        for (i, (weights, device)) in self.0.iter().enumerate() {
            if x.device() != *device {
                x = x.f_to_device(*device)?;
                inputs = inputs.on(*device)?;
            }
            x = layer(i, weights, &x, &inputs)?;
        }
        x.f_to_device(home)
    }

    /// How many layers there are.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// What a layer reads besides the hidden states, movable to a layer's device.
pub(crate) trait OnDevice: Sized {
    /// The same values on `device`.
    fn on(&self, device: Device) -> Result<Self, TchError>;
}

impl OnDevice for Tensor {
    fn on(&self, device: Device) -> Result<Self, TchError> {
        self.f_to_device(device)
    }
}

impl<T: OnDevice> OnDevice for Option<T> {
    fn on(&self, device: Device) -> Result<Self, TchError> {
        self.as_ref().map(|t| t.on(device)).transpose()
    }
}

impl<A: OnDevice, B: OnDevice> OnDevice for (A, B) {
    fn on(&self, device: Device) -> Result<Self, TchError> {
        Ok((self.0.on(device)?, self.1.on(device)?))
    }
}

/// Free bytes on a CUDA device (`cudaMemGetInfo`, found in the CUDA runtime
/// libtorch loaded); `None` on the CPU or where the runtime cannot be asked,
/// and devices then share the layers equally.
fn free_bytes(device: Device) -> Option<f64> {
    let Device::Cuda(index) = device else {
        return None;
    };
    cuda::free_bytes(index)
}

#[allow(unsafe_code)]
mod cuda {
    type SetDevice = unsafe extern "C" fn(i32) -> i32;
    type MemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> i32;

    /// Free bytes on CUDA device `index`, through the runtime's C API.
    pub(super) fn free_bytes(index: usize) -> Option<f64> {
        // SAFETY: the symbols are looked up by their C names in the global
        // scope libtorch_cuda.so was loaded into (RTLD_GLOBAL); each is called
        // with its documented signature, on valid pointers to locals, and a
        // missing symbol or a non-zero status gives `None`.
        unsafe {
            let set = libc::dlsym(libc::RTLD_DEFAULT, c"cudaSetDevice".as_ptr());
            let info = libc::dlsym(libc::RTLD_DEFAULT, c"cudaMemGetInfo".as_ptr());
            if set.is_null() || info.is_null() {
                return None;
            }
            let set: SetDevice = std::mem::transmute(set);
            let info: MemGetInfo = std::mem::transmute(info);
            let (mut free, mut total) = (0usize, 0usize);
            (set(index as i32) == 0 && info(&mut free, &mut total) == 0).then_some(free as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_shared_by_capacity_in_contiguous_segments() {
        let cpu = Device::Cpu;
        let split = Placement::split(&[cpu, cpu, cpu], &[1.0, 1.0, 1.0], 8);
        assert_eq!(split.ends, [3, 6, 8]);
        assert_eq!(
            (0..8)
                .map(|l| split.ends.iter().position(|&e| l < e).unwrap())
                .collect::<Vec<_>>(),
            [0, 0, 0, 1, 1, 1, 2, 2]
        );
        let weighted = Placement::split(&[cpu, cpu], &[3.0, 1.0], 8);
        assert_eq!(weighted.ends, [6, 8]);
        let empty = Placement::split(&[cpu, cpu], &[1.0, 0.0], 4);
        assert_eq!((empty.ends.clone(), empty.devices.len()), (vec![4], 1));
        assert_eq!(Placement::single(cpu).device_of(1000), cpu);
    }
}
