//! Choosing a device, loading libtorch's CUDA library on demand.

use miners_encoders::spec::DeviceChoice;
use tch::Device;

use crate::TorchError;

/// The `tch` device for `choice`.
///
/// The linker drops `libtorch_cuda.so` from binaries (no symbol of it is used
/// directly), so CUDA is registered by loading it at run time first.
pub fn resolve_device(choice: DeviceChoice) -> Result<Device, TorchError> {
    let cuda = |index: usize| -> Option<Device> {
        load_torch_cuda();
        (tch::Cuda::is_available() && (index as i64) < tch::Cuda::device_count())
            .then_some(Device::Cuda(index))
    };
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => Ok(cuda(0).unwrap_or(Device::Cpu)),
        DeviceChoice::Cuda(index) => cuda(index).ok_or_else(|| TorchError::Device(format!(
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
