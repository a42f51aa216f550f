//! Choosing a device, loading libtorch's CUDA library on demand.

use std::str::FromStr;

use miners_encoders::EncoderError;
use tch::Device;

/// Which device to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The CPU.
    #[default]
    Cpu,
    /// A CUDA device by index; an error if unavailable.
    Cuda(usize),
    /// CUDA device 0 if available, else the CPU.
    Auto,
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "auto" => Ok(DeviceChoice::Auto),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| {
                    format!("unknown device `{other}` (expected cpu, cuda, cuda:N or auto)")
                }),
        }
    }
}

/// The `tch` device for `choice`.
///
/// The linker drops `libtorch_cuda.so` from binaries (no symbol of it is used
/// directly), so CUDA is registered by loading it at run time first.
pub fn resolve_device(choice: DeviceChoice) -> Result<Device, EncoderError> {
    let cuda = |index: usize| -> Option<Device> {
        load_torch_cuda();
        (tch::Cuda::is_available() && (index as i64) < tch::Cuda::device_count())
            .then_some(Device::Cuda(index))
    };
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => Ok(cuda(0).unwrap_or(Device::Cpu)),
        DeviceChoice::Cuda(index) => cuda(index).ok_or_else(|| EncoderError::Device(format!(
            "CUDA device {index} is not available (libtorch_cuda.so must be on the library path and a GPU present)"
        ))),
    }
}

/// Loads `libtorch_cuda.so` globally so that libtorch registers its CUDA backend.
#[allow(unsafe_code)]
fn load_torch_cuda() {
    let name = c"libtorch_cuda.so";
    // SAFETY: dlopen with a valid NUL-terminated name; the handle is
    // intentionally kept for the life of the process, and a failure is a null
    // handle that we ignore (CUDA then stays unavailable).
    unsafe {
        libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
    }
}
