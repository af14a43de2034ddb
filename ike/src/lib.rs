//! Sans-I/O IKEv1 core and its cryptography (DH, PRF, key derivation, IKE ciphers).
//!
//! Only the [`crypto`] module exists so far; the protocol core builds on it and on the
//! `isakmp` codec.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod crypto;
