//! IKE phase-1/phase-2 message encryption: DES, 3DES, AES-128/192/256, Blowfish and CAST-128
//! in CBC mode without padding (IKE pads itself). The caller owns the IV chain: `encrypt` and
//! `decrypt` return the IV for the next message (the last ciphertext block), which the
//! caller commits only once the message has been accepted.

use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockCipher, BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};

use super::{CryptoError, Secret};

/// An IKE encryption algorithm with its key length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherAlg {
    /// DES-CBC (8-byte key incl. parity).
    Des,
    /// 3DES-CBC (24-byte key).
    TripleDes,
    /// AES-CBC with a 128, 192 or 256-bit key.
    Aes {
        /// Key length in bits.
        bits: u16,
    },
    /// Blowfish-CBC, 40-448-bit key in steps of 8 (default 128).
    Blowfish {
        /// Key length in bits.
        bits: u16,
    },
    /// CAST-128-CBC, 40-128-bit key in steps of 8 (default 128).
    Cast128 {
        /// Key length in bits.
        bits: u16,
    },
}

impl CipherAlg {
    /// From the phase-1 encryption attribute and optional key-length attribute (bits), with
    /// racoon's defaults and ranges; `None` if unsupported or the length is not allowed.
    pub fn from_ike(enc: u16, key_bits: Option<u16>) -> Option<CipherAlg> {
        let alg = match (enc, key_bits) {
            (1, None) => CipherAlg::Des,
            (5, None) => CipherAlg::TripleDes,
            (7, b) => CipherAlg::Aes {
                bits: b.unwrap_or(128),
            },
            (3, b) => CipherAlg::Blowfish {
                bits: b.unwrap_or(128),
            },
            (6, b) => CipherAlg::Cast128 {
                bits: b.unwrap_or(128),
            },
            _ => return None,
        };
        alg.valid().then_some(alg)
    }

    fn valid(self) -> bool {
        match self {
            CipherAlg::Des | CipherAlg::TripleDes => true,
            CipherAlg::Aes { bits } => matches!(bits, 128 | 192 | 256),
            CipherAlg::Blowfish { bits } => bits % 8 == 0 && (40..=448).contains(&bits),
            CipherAlg::Cast128 { bits } => bits % 8 == 0 && (40..=128).contains(&bits),
        }
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            CipherAlg::Des => 8,
            CipherAlg::TripleDes => 24,
            CipherAlg::Aes { bits }
            | CipherAlg::Blowfish { bits }
            | CipherAlg::Cast128 { bits } => usize::from(bits) / 8,
        }
    }

    /// Block (and IV) size in bytes.
    pub fn block_size(self) -> usize {
        match self {
            CipherAlg::Aes { .. } => 16,
            _ => 8,
        }
    }
}

/// A keyed IKE cipher.
#[derive(Debug, Clone)]
pub struct IkeCipher {
    alg: CipherAlg,
    key: Secret,
}

fn enc<C: BlockEncryptMut + BlockCipher>(
    c: C,
    iv: &[u8],
    buf: &mut [u8],
) -> Result<(), CryptoError> {
    let e =
        cbc::Encryptor::<C>::inner_iv_slice_init(c, iv).map_err(|_| CryptoError::BadBlockLength)?;
    let n = buf.len();
    e.encrypt_padded_mut::<NoPadding>(buf, n)
        .map_err(|_| CryptoError::BadBlockLength)?;
    Ok(())
}

fn dec<C: BlockDecryptMut + BlockCipher>(
    c: C,
    iv: &[u8],
    buf: &mut [u8],
) -> Result<(), CryptoError> {
    let d =
        cbc::Decryptor::<C>::inner_iv_slice_init(c, iv).map_err(|_| CryptoError::BadBlockLength)?;
    d.decrypt_padded_mut::<NoPadding>(buf)
        .map_err(|_| CryptoError::BadBlockLength)?;
    Ok(())
}

fn key<C: KeyInit>(k: &[u8]) -> Result<C, CryptoError> {
    C::new_from_slice(k).map_err(|_| CryptoError::InvalidKeyLength)
}

impl IkeCipher {
    /// Keys the cipher; `key` must be exactly [`CipherAlg::key_len`] bytes.
    pub fn new(alg: CipherAlg, key: &[u8]) -> Result<Self, CryptoError> {
        if !alg.valid() || key.len() != alg.key_len() {
            return Err(CryptoError::InvalidKeyLength);
        }
        Ok(IkeCipher {
            alg,
            key: Secret::new(key.to_vec()),
        })
    }

    /// The algorithm.
    pub fn alg(&self) -> CipherAlg {
        self.alg
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> usize {
        self.alg.block_size()
    }

    fn check(&self, iv: &[u8], buf: &[u8]) -> Result<(), CryptoError> {
        let b = self.block_size();
        if iv.len() != b || buf.is_empty() || buf.len() % b != 0 {
            return Err(CryptoError::BadBlockLength);
        }
        Ok(())
    }

    /// Encrypts `buf` in place (a whole number of blocks) and returns the next IV.
    pub fn encrypt(&self, iv: &[u8], buf: &mut [u8]) -> Result<Vec<u8>, CryptoError> {
        self.check(iv, buf)?;
        let k = self.key.as_ref();
        match self.alg {
            CipherAlg::Des => enc(key::<des::Des>(k)?, iv, buf)?,
            CipherAlg::TripleDes => enc(key::<des::TdesEde3>(k)?, iv, buf)?,
            CipherAlg::Aes { bits: 128 } => enc(key::<aes::Aes128>(k)?, iv, buf)?,
            CipherAlg::Aes { bits: 192 } => enc(key::<aes::Aes192>(k)?, iv, buf)?,
            CipherAlg::Aes { .. } => enc(key::<aes::Aes256>(k)?, iv, buf)?,
            CipherAlg::Blowfish { .. } => enc(key::<blowfish::Blowfish>(k)?, iv, buf)?,
            CipherAlg::Cast128 { .. } => enc(key::<cast5::Cast5>(k)?, iv, buf)?,
        }
        Ok(buf[buf.len() - self.block_size()..].to_vec())
    }

    /// Decrypts `buf` in place and returns the next IV (the last ciphertext block).
    pub fn decrypt(&self, iv: &[u8], buf: &mut [u8]) -> Result<Vec<u8>, CryptoError> {
        self.check(iv, buf)?;
        let next = buf[buf.len() - self.block_size()..].to_vec();
        let k = self.key.as_ref();
        match self.alg {
            CipherAlg::Des => dec(key::<des::Des>(k)?, iv, buf)?,
            CipherAlg::TripleDes => dec(key::<des::TdesEde3>(k)?, iv, buf)?,
            CipherAlg::Aes { bits: 128 } => dec(key::<aes::Aes128>(k)?, iv, buf)?,
            CipherAlg::Aes { bits: 192 } => dec(key::<aes::Aes192>(k)?, iv, buf)?,
            CipherAlg::Aes { .. } => dec(key::<aes::Aes256>(k)?, iv, buf)?,
            CipherAlg::Blowfish { .. } => dec(key::<blowfish::Blowfish>(k)?, iv, buf)?,
            CipherAlg::Cast128 { .. } => dec(key::<cast5::Cast5>(k)?, iv, buf)?,
        }
        Ok(next)
    }

    /// Pads a payload chain for encryption: zero bytes up to the next block boundary with the
    /// last byte holding the pad length (RFC 2409 §5.3 permits any padding; racoon and
    /// strongSwan put the length last). At least one byte is always added.
    pub fn pad(&self, plain: &mut Vec<u8>) {
        let b = self.block_size();
        let pad = b - (plain.len() % b);
        plain.resize(plain.len() + pad - 1, 0);
        plain.push((pad - 1) as u8);
    }
}
