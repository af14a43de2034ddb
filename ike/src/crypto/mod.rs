//! IKEv1 cryptography, sans-I/O: Diffie-Hellman ([`dh`]), PRFs and hashes ([`prf`]), the
//! RFC 2409 key schedule ([`keys`]) and the IKE CBC ciphers with explicit IV chaining
//! ([`cipher`]). Randomness is always passed in; nothing here reads a clock or does I/O.

pub mod cipher;
pub mod dh;
pub mod keys;
pub mod prf;
mod primes;

pub use cipher::{CipherAlg, IkeCipher};
pub use dh::{DhGroup, DhPrivate};
pub use keys::{
    expand_appendix_b, natd_hash, phase1_iv, phase2_iv, Phase1Auth, Phase1Inputs, Phase1Keys,
};
pub use prf::HashAlg;

use zeroize::Zeroizing;

/// Errors from the cryptographic layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The peer's public value is out of range, of the wrong length, or not on the curve.
    #[error("invalid Diffie-Hellman public value")]
    InvalidPublicValue,
    /// A private exponent or scalar that cannot be used (zero, too long, out of range).
    #[error("invalid Diffie-Hellman private value")]
    InvalidPrivateValue,
    /// The group is not implemented.
    #[error("unsupported Diffie-Hellman group")]
    UnsupportedGroup,
    /// A key of the wrong length for the cipher.
    #[error("invalid key length")]
    InvalidKeyLength,
    /// An IV of the wrong length, or data that is not a whole number of blocks.
    #[error("data or IV is not a multiple of the block size")]
    BadBlockLength,
}

/// Secret bytes (keys, g^xy, SKEYIDs): zeroized on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps bytes.
    pub fn new(v: Vec<u8>) -> Self {
        Secret(Zeroizing::new(v))
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl AsRef<[u8]> for Secret {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Secret {
    fn from(b: &[u8]) -> Self {
        Secret::new(b.to_vec())
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}
