//! Hashes and HMAC-based PRFs negotiated in phase 1 (md5, sha1, sha2-256/384/512).

use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::Secret;

/// A hash algorithm; its HMAC is the phase-1 PRF (RFC 2409: the negotiated hash in HMAC
/// form unless a PRF attribute says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// MD5 (16 bytes).
    Md5,
    /// SHA-1 (20 bytes).
    Sha1,
    /// SHA2-256.
    Sha256,
    /// SHA2-384.
    Sha384,
    /// SHA2-512.
    Sha512,
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <M as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

fn digest<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = D::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().to_vec()
}

impl HashAlg {
    /// From the phase-1 hash attribute value (1 md5, 2 sha1, 4/5/6 sha2).
    pub fn from_ike(v: u16) -> Option<HashAlg> {
        Some(match v {
            1 => HashAlg::Md5,
            2 => HashAlg::Sha1,
            4 => HashAlg::Sha256,
            5 => HashAlg::Sha384,
            6 => HashAlg::Sha512,
            _ => return None,
        })
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Md5 => 16,
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// HMAC over the concatenation of `parts` (public output, e.g. HASH_I).
    pub fn prf(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            HashAlg::Md5 => mac::<Hmac<Md5>>(key, parts),
            HashAlg::Sha1 => mac::<Hmac<Sha1>>(key, parts),
            HashAlg::Sha256 => mac::<Hmac<Sha256>>(key, parts),
            HashAlg::Sha384 => mac::<Hmac<Sha384>>(key, parts),
            HashAlg::Sha512 => mac::<Hmac<Sha512>>(key, parts),
        }
    }

    /// HMAC whose output is key material.
    pub fn prf_secret(self, key: &[u8], parts: &[&[u8]]) -> Secret {
        Secret::new(self.prf(key, parts))
    }

    /// Plain hash over the concatenation of `parts` (IVs, NAT-D).
    pub fn hash(self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            HashAlg::Md5 => digest::<Md5>(parts),
            HashAlg::Sha1 => digest::<Sha1>(parts),
            HashAlg::Sha256 => digest::<Sha256>(parts),
            HashAlg::Sha384 => digest::<Sha384>(parts),
            HashAlg::Sha512 => digest::<Sha512>(parts),
        }
    }
}
