//! Model fingerprints: a hash of everything that determines an encoder's output.

use std::{io::Read, path::Path};

use sha2::{Digest, Sha256};

use crate::EncoderError;

/// Accumulates files and settings into a SHA-256 fingerprint.
#[derive(Debug, Clone, Default)]
pub struct Fingerprint(Sha256);

impl Fingerprint {
    /// Starts a fingerprint for an encoder family (a version tag of its computation).
    pub fn new(family: &str) -> Self {
        let mut fingerprint = Self::default();
        fingerprint.field("family", family);
        fingerprint
    }

    /// Adds a named setting.
    pub fn field(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Self {
        self.0.update(format!("{name}={value}\n").as_bytes());
        self
    }

    /// Adds a file's bytes.
    pub fn file(&mut self, path: &Path) -> Result<&mut Self, EncoderError> {
        let io = |source| EncoderError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let mut buffer = vec![0u8; 1 << 20];
        self.0
            .update(path.file_name().map_or(&[][..], |n| n.as_encoded_bytes()));
        loop {
            let n = file.read(&mut buffer).map_err(io)?;
            if n == 0 {
                return Ok(self);
            }
            self.0.update(&buffer[..n]);
        }
    }

    /// The lower-case hex digest.
    pub fn finish(&self) -> String {
        miners_core::hex(&self.0.clone().finalize())
    }
}
