//! The algorithms the engine advertises in REGISTER replies (`SUPPORTED_AUTH` /
//! `SUPPORTED_ENCRYPT`) and accepts in ADD/UPDATE. Numbers are the Linux/KAME SADB
//! values; `ivlen` is in bytes as Linux reports it; key sizes are in bits.

use crate::Errno;

/// One `sadb_alg` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlgInfo {
    pub id: u8,
    pub ivlen: u8,
    pub min_bits: u16,
    pub max_bits: u16,
    /// Name as setkey prints it.
    pub name: &'static str,
    /// Combined-mode (AEAD) cipher: no separate authentication algorithm allowed.
    pub aead: bool,
}

const fn alg(id: u8, ivlen: u8, min_bits: u16, max_bits: u16, name: &'static str) -> AlgInfo {
    AlgInfo {
        id,
        ivlen,
        min_bits,
        max_bits,
        name,
        aead: false,
    }
}

pub const AALG_NONE: u8 = 0;
pub const AALG_MD5HMAC: u8 = 2;
pub const AALG_SHA1HMAC: u8 = 3;
pub const AALG_SHA2_256HMAC: u8 = 5;
pub const AALG_SHA2_384HMAC: u8 = 6;
pub const AALG_SHA2_512HMAC: u8 = 7;
pub const AALG_AES_XCBC_MAC: u8 = 9;
pub const AALG_NULL: u8 = 251;

pub const EALG_NONE: u8 = 0;
pub const EALG_DESCBC: u8 = 2;
pub const EALG_3DESCBC: u8 = 3;
pub const EALG_CAST128CBC: u8 = 6;
pub const EALG_BLOWFISHCBC: u8 = 7;
pub const EALG_NULL: u8 = 11;
pub const EALG_AESCBC: u8 = 12;
pub const EALG_AESCTR: u8 = 13;
pub const EALG_AES_GCM_ICV16: u8 = 20;

pub const CALG_NONE: u8 = 0;
pub const CALG_OUI: u8 = 1;
pub const CALG_DEFLATE: u8 = 2;
pub const CALG_LZS: u8 = 3;

/// Authentication algorithms (SUPPORTED_AUTH).
pub static AUTH: &[AlgInfo] = &[
    alg(AALG_MD5HMAC, 0, 128, 128, "hmac-md5"),
    alg(AALG_SHA1HMAC, 0, 160, 160, "hmac-sha1"),
    alg(AALG_SHA2_256HMAC, 0, 256, 256, "hmac-sha256"),
    alg(AALG_SHA2_384HMAC, 0, 384, 384, "hmac-sha384"),
    alg(AALG_SHA2_512HMAC, 0, 512, 512, "hmac-sha512"),
    alg(AALG_AES_XCBC_MAC, 0, 128, 128, "aes-xcbc-mac"),
    alg(AALG_NULL, 0, 0, 0, "null"),
];

/// Encryption algorithms (SUPPORTED_ENCRYPT for AH/ESP/UNSPEC registrations).
/// aes-ctr and aes-gcm-16 keys include the 32-bit nonce/salt (RFC 3686, RFC 4106).
pub static ENCRYPT: &[AlgInfo] = &[
    alg(EALG_DESCBC, 8, 64, 64, "des-cbc"),
    alg(EALG_3DESCBC, 8, 192, 192, "3des-cbc"),
    alg(EALG_CAST128CBC, 8, 40, 128, "cast128-cbc"),
    alg(EALG_BLOWFISHCBC, 8, 40, 448, "blowfish-cbc"),
    alg(EALG_NULL, 0, 0, 0, "null"),
    alg(EALG_AESCBC, 16, 128, 256, "aes-cbc"),
    alg(EALG_AESCTR, 8, 160, 288, "aes-ctr"),
    AlgInfo {
        id: EALG_AES_GCM_ICV16,
        ivlen: 8,
        min_bits: 160,
        max_bits: 288,
        name: "aes-gcm-16",
        aead: true,
    },
];

/// Compression algorithms (SUPPORTED_ENCRYPT for IPCOMP registrations).
pub static COMPRESS: &[AlgInfo] = &[alg(CALG_DEFLATE, 0, 0, 0, "deflate")];

pub fn auth(id: u8) -> Option<&'static AlgInfo> {
    AUTH.iter().find(|a| a.id == id)
}

pub fn encrypt(id: u8) -> Option<&'static AlgInfo> {
    ENCRYPT.iter().find(|a| a.id == id)
}

pub fn compress(id: u8) -> Option<&'static AlgInfo> {
    COMPRESS.iter().find(|a| a.id == id)
}

/// Checks a key against an algorithm's advertised size (bits as declared in the
/// `sadb_key` extension). Keyless algorithms accept a missing or empty key.
pub fn check_key(alg: &AlgInfo, key_bits: Option<u16>) -> Result<(), Errno> {
    match key_bits {
        None | Some(0) if alg.min_bits == 0 => Ok(()),
        None => Err(Errno::EINVAL),
        Some(b) if b >= alg.min_bits && b <= alg.max_bits => Ok(()),
        Some(_) => Err(Errno::EINVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_cover_the_data_plane_algorithms() {
        for id in [2, 3, 5, 6, 7, 9, 251] {
            assert!(auth(id).is_some(), "auth {id}");
        }
        for id in [2, 3, 6, 7, 11, 12, 13, 20] {
            assert!(encrypt(id).is_some(), "encrypt {id}");
        }
        assert!(compress(CALG_DEFLATE).is_some());
        assert!(auth(1).is_none());
        assert!(encrypt(253).is_none());
    }

    #[test]
    fn key_sizes() {
        let aes = encrypt(EALG_AESCBC).unwrap();
        assert!(check_key(aes, Some(128)).is_ok());
        assert!(check_key(aes, Some(256)).is_ok());
        assert_eq!(check_key(aes, Some(64)), Err(Errno::EINVAL));
        assert_eq!(check_key(aes, None), Err(Errno::EINVAL));
        let null = encrypt(EALG_NULL).unwrap();
        assert!(check_key(null, None).is_ok());
        assert_eq!(check_key(null, Some(8)), Err(Errno::EINVAL));
    }
}
