//! Algorithm identifiers (PF_KEY `SADB_EALG_*` / `SADB_AALG_*` / `SADB_X_CALG_*`
//! numbers as Linux and ipsec-tools use them) and their static properties.

use crate::XformError;

/// ESP encryption algorithm, numbered as `sadb_sa_encrypt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncAlg {
    /// `null` (RFC 2410).
    Null,
    /// `des-cbc` (RFC 2405).
    DesCbc,
    /// `3des-cbc` (RFC 2451).
    TripleDesCbc,
    /// `cast128-cbc` (RFC 2451).
    Cast128Cbc,
    /// `blowfish-cbc` (RFC 2451).
    BlowfishCbc,
    /// `aes-cbc` / `rijndael-cbc` (RFC 3602), 128/192/256-bit keys.
    AesCbc,
    /// `aes-ctr` (RFC 3686): key followed by a 32-bit nonce.
    AesCtr,
    /// `aes-gcm-16` (RFC 4106): key followed by a 32-bit salt, 16-byte ICV.
    AesGcm16,
}

impl EncAlg {
    /// Map a `sadb_sa_encrypt` value.
    pub fn from_sadb(id: u8) -> Result<EncAlg, XformError> {
        Ok(match id {
            2 => EncAlg::DesCbc,
            3 => EncAlg::TripleDesCbc,
            6 => EncAlg::Cast128Cbc,
            7 => EncAlg::BlowfishCbc,
            11 => EncAlg::Null,
            12 => EncAlg::AesCbc,
            13 => EncAlg::AesCtr,
            20 => EncAlg::AesGcm16,
            _ => return Err(XformError::UnsupportedEncryption(id)),
        })
    }

    /// The `sadb_sa_encrypt` value.
    pub fn sadb(self) -> u8 {
        match self {
            EncAlg::DesCbc => 2,
            EncAlg::TripleDesCbc => 3,
            EncAlg::Cast128Cbc => 6,
            EncAlg::BlowfishCbc => 7,
            EncAlg::Null => 11,
            EncAlg::AesCbc => 12,
            EncAlg::AesCtr => 13,
            EncAlg::AesGcm16 => 20,
        }
    }

    /// Accepted key lengths in bits (including CTR nonce / GCM salt), as
    /// `(min, max)`; `valid_key_bits` has the exact rule.
    pub fn key_bits_range(self) -> (u16, u16) {
        match self {
            EncAlg::Null => (0, 0),
            EncAlg::DesCbc => (64, 64),
            EncAlg::TripleDesCbc => (192, 192),
            EncAlg::Cast128Cbc => (40, 128),
            EncAlg::BlowfishCbc => (40, 448),
            EncAlg::AesCbc => (128, 256),
            EncAlg::AesCtr | EncAlg::AesGcm16 => (160, 288),
        }
    }

    /// Whether a key of `bits` bits is usable.
    pub fn valid_key_bits(self, bits: usize) -> bool {
        match self {
            EncAlg::Null => bits == 0,
            EncAlg::DesCbc => bits == 64,
            EncAlg::TripleDesCbc => bits == 192,
            EncAlg::Cast128Cbc => (40..=128).contains(&bits) && bits % 8 == 0,
            EncAlg::BlowfishCbc => (40..=448).contains(&bits) && bits % 8 == 0,
            EncAlg::AesCbc => matches!(bits, 128 | 192 | 256),
            EncAlg::AesCtr | EncAlg::AesGcm16 => matches!(bits, 160 | 224 | 288),
        }
    }

    /// Bytes of IV carried in each packet.
    pub fn iv_len(self) -> usize {
        match self {
            EncAlg::Null => 0,
            EncAlg::DesCbc | EncAlg::TripleDesCbc | EncAlg::Cast128Cbc | EncAlg::BlowfishCbc => 8,
            EncAlg::AesCbc => 16,
            EncAlg::AesCtr | EncAlg::AesGcm16 => 8,
        }
    }

    /// The ciphertext (payload + padding + 2-byte trailer) must be a multiple
    /// of this (RFC 4303 §2.4: at least 4).
    pub fn pad_align(self) -> usize {
        match self {
            EncAlg::DesCbc | EncAlg::TripleDesCbc | EncAlg::Cast128Cbc | EncAlg::BlowfishCbc => 8,
            EncAlg::AesCbc => 16,
            EncAlg::Null | EncAlg::AesCtr | EncAlg::AesGcm16 => 4,
        }
    }

    /// Whether this is a combined-mode (AEAD) algorithm that carries its own ICV.
    pub fn is_aead(self) -> bool {
        matches!(self, EncAlg::AesGcm16)
    }

    /// setkey's name for it.
    pub fn name(self) -> &'static str {
        match self {
            EncAlg::Null => "null",
            EncAlg::DesCbc => "des-cbc",
            EncAlg::TripleDesCbc => "3des-cbc",
            EncAlg::Cast128Cbc => "cast128-cbc",
            EncAlg::BlowfishCbc => "blowfish-cbc",
            EncAlg::AesCbc => "aes-cbc",
            EncAlg::AesCtr => "aes-ctr",
            EncAlg::AesGcm16 => "aes-gcm-16",
        }
    }
}

/// Integrity algorithm for ESP and AH, numbered as `sadb_sa_auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthAlg {
    /// No integrity (ESP only; `SADB_AALG_NONE` 0 or `SADB_X_AALG_NULL` 251).
    None,
    /// `hmac-md5` → HMAC-MD5-96 (RFC 2403).
    HmacMd5,
    /// `hmac-sha1` → HMAC-SHA1-96 (RFC 2404).
    HmacSha1,
    /// `hmac-sha256` → HMAC-SHA-256-128 (RFC 4868).
    HmacSha256,
    /// `hmac-sha384` → HMAC-SHA-384-192 (RFC 4868).
    HmacSha384,
    /// `hmac-sha512` → HMAC-SHA-512-256 (RFC 4868).
    HmacSha512,
    /// `aes-xcbc-mac` → AES-XCBC-MAC-96 (RFC 3566).
    AesXcbc,
}

impl AuthAlg {
    /// Map a `sadb_sa_auth` value.
    pub fn from_sadb(id: u8) -> Result<AuthAlg, XformError> {
        Ok(match id {
            0 | 251 => AuthAlg::None,
            2 => AuthAlg::HmacMd5,
            3 => AuthAlg::HmacSha1,
            5 => AuthAlg::HmacSha256,
            6 => AuthAlg::HmacSha384,
            7 => AuthAlg::HmacSha512,
            9 => AuthAlg::AesXcbc,
            _ => return Err(XformError::UnsupportedAuthentication(id)),
        })
    }

    /// The `sadb_sa_auth` value (`None` maps to 0).
    pub fn sadb(self) -> u8 {
        match self {
            AuthAlg::None => 0,
            AuthAlg::HmacMd5 => 2,
            AuthAlg::HmacSha1 => 3,
            AuthAlg::HmacSha256 => 5,
            AuthAlg::HmacSha384 => 6,
            AuthAlg::HmacSha512 => 7,
            AuthAlg::AesXcbc => 9,
        }
    }

    /// The key length in bits the algorithm requires.
    pub fn key_bits(self) -> usize {
        match self {
            AuthAlg::None => 0,
            AuthAlg::HmacMd5 | AuthAlg::AesXcbc => 128,
            AuthAlg::HmacSha1 => 160,
            AuthAlg::HmacSha256 => 256,
            AuthAlg::HmacSha384 => 384,
            AuthAlg::HmacSha512 => 512,
        }
    }

    /// Bytes of ICV in each packet.
    pub fn icv_len(self) -> usize {
        match self {
            AuthAlg::None => 0,
            AuthAlg::HmacMd5 | AuthAlg::HmacSha1 | AuthAlg::AesXcbc => 12,
            AuthAlg::HmacSha256 => 16,
            AuthAlg::HmacSha384 => 24,
            AuthAlg::HmacSha512 => 32,
        }
    }

    /// setkey's name for it.
    pub fn name(self) -> &'static str {
        match self {
            AuthAlg::None => "null",
            AuthAlg::HmacMd5 => "hmac-md5",
            AuthAlg::HmacSha1 => "hmac-sha1",
            AuthAlg::HmacSha256 => "hmac-sha256",
            AuthAlg::HmacSha384 => "hmac-sha384",
            AuthAlg::HmacSha512 => "hmac-sha512",
            AuthAlg::AesXcbc => "aes-xcbc-mac",
        }
    }
}

/// IPComp algorithm, numbered as `sadb_sa_encrypt` of an IPCOMP SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompAlg {
    /// `deflate` (RFC 2394).
    Deflate,
}

impl CompAlg {
    /// Map a `SADB_X_CALG_*` value.
    pub fn from_sadb(id: u8) -> Result<CompAlg, XformError> {
        match id {
            2 => Ok(CompAlg::Deflate),
            _ => Err(XformError::UnsupportedCompression(id)),
        }
    }
}
