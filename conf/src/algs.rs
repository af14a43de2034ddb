//! Algorithm names of racoon.conf mapped to typed enums and their RFC 2407/2409 numbers.

use std::fmt;

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident = $num:expr => [$($s:literal),+]),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($var),+ }
        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The IKE/IPsec DOI number.
            pub fn number(self) -> u16 { match self { $($name::$var => $num),+ } }
            /// The racoon.conf keyword (first spelling).
            pub fn name(self) -> &'static str { match self { $($name::$var => [$($s),+][0]),+ } }
            /// Look up a racoon.conf keyword (all accepted spellings).
            pub fn from_name(s: &str) -> Option<Self> {
                match s { $($($s)|+ => Some($name::$var),)+ _ => None }
            }
            /// The accepted spellings, for error messages.
            pub fn names() -> &'static [&'static str] { &[$($($s),+),+] }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.name()) }
        }
    };
}

named_enum!(
    /// Phase-1 encryption (OAKLEY_ATTR_ENC_ALG).
    IkeEnc {
        Des = 1 => ["des"],
        Idea = 2 => ["idea"],
        Blowfish = 3 => ["blowfish"],
        Rc5 = 4 => ["rc5"],
        TripleDes = 5 => ["3des"],
        Cast128 = 6 => ["cast128"],
        Aes = 7 => ["aes", "rijndael"],
        Camellia = 8 => ["camellia"],
    }
);

named_enum!(
    /// Phase-1 hash (OAKLEY_ATTR_HASH_ALG).
    IkeHash {
        Md5 = 1 => ["md5"],
        Sha1 = 2 => ["sha1"],
        Sha256 = 4 => ["sha256", "sha2_256"],
        Sha384 = 5 => ["sha384", "sha2_384"],
        Sha512 = 6 => ["sha512", "sha2_512"],
    }
);

named_enum!(
    /// Phase-1 authentication method (OAKLEY_ATTR_AUTH_METHOD). `GssapiKrb` is sent as 65001
    /// together with the GSSAPI vendor ID.
    AuthMethod {
        PreSharedKey = 1 => ["pre_shared_key"],
        DssSig = 2 => ["dsssig"],
        RsaSig = 3 => ["rsasig"],
        RsaEnc = 4 => ["rsaenc"],
        RsaRev = 5 => ["rsarev"],
        GssapiKrb = 65001 => ["gssapi_krb"],
        HybridRsaClient = 64221 => ["hybrid_rsa_client"],
        HybridRsaServer = 64222 => ["hybrid_rsa_server"],
        HybridDssClient = 64223 => ["hybrid_dss_client"],
        HybridDssServer = 64224 => ["hybrid_dss_server"],
        XauthPskClient = 65001 => ["xauth_psk_client"],
        XauthPskServer = 65002 => ["xauth_psk_server"],
        XauthRsaClient = 65005 => ["xauth_rsa_client"],
        XauthRsaServer = 65006 => ["xauth_rsa_server"],
    }
);

named_enum!(
    /// Diffie-Hellman group (OAKLEY_ATTR_GRP_DESC), also used for PFS.
    DhGroup {
        Modp768 = 1 => ["modp768"],
        Modp1024 = 2 => ["modp1024"],
        Ec2n155 = 3 => ["ec2n155"],
        Ec2n185 = 4 => ["ec2n185"],
        Modp1536 = 5 => ["modp1536"],
        Modp2048 = 14 => ["modp2048"],
        Modp3072 = 15 => ["modp3072"],
        Modp4096 = 16 => ["modp4096"],
        Modp6144 = 17 => ["modp6144"],
        Modp8192 = 18 => ["modp8192"],
        // racoon-rs extension (ipsec-tools has no keyword): RFC 5903 ECP groups.
        Ecp256 = 19 => ["ecp256"],
        Ecp384 = 20 => ["ecp384"],
        Ecp521 = 21 => ["ecp521"],
    }
);

impl DhGroup {
    pub fn from_number(n: u64) -> Option<Self> {
        DhGroup::ALL
            .iter()
            .copied()
            .find(|g| u64::from(g.number()) == n)
    }
    /// EC2N groups 3 and 4 have numbers but racoon cannot compute them.
    pub fn is_computable(self) -> bool {
        !matches!(self, DhGroup::Ec2n155 | DhGroup::Ec2n185)
    }
}

named_enum!(
    /// Phase-2 ESP transform ID (`encryption_algorithm` in sainfo).
    EspEnc {
        DesIv64 = 1 => ["des_iv64"],
        Des = 2 => ["des"],
        TripleDes = 3 => ["3des"],
        Rc5 = 4 => ["rc5"],
        Idea = 5 => ["idea"],
        Cast128 = 6 => ["cast128"],
        Blowfish = 7 => ["blowfish"],
        ThreeIdea = 8 => ["3idea"],
        DesIv32 = 9 => ["des_iv32"],
        Rc4 = 10 => ["rc4"],
        Null = 11 => ["null_enc", "null"],
        Aes = 12 => ["aes", "rijndael"],
        // racoon-rs extension (ipsec-tools has no keyword): AES-GCM with a 16-byte ICV,
        // RFC 4106. Combined mode: no authentication attribute.
        AesGcm16 = 20 => ["aes_gcm_16"],
        Camellia = 22 => ["camellia"],
        Twofish = 253 => ["twofish"],
    }
);

named_enum!(
    /// Phase-2 authentication (`authentication_algorithm` in sainfo): the IPSECDOI
    /// auth attribute value. `NonAuth` means the attribute is omitted (number 0).
    AuthAlg {
        HmacMd5 = 1 => ["hmac_md5"],
        HmacSha1 = 2 => ["hmac_sha1"],
        Kpdk = 4 => ["kpdk"],
        HmacSha256 = 5 => ["hmac_sha256", "hmac_sha2_256"],
        HmacSha384 = 6 => ["hmac_sha384", "hmac_sha2_384"],
        HmacSha512 = 7 => ["hmac_sha512", "hmac_sha2_512"],
        NonAuth = 0 => ["non_auth"],
    }
);

impl AuthAlg {
    /// The AH transform ID racoon proposes for this algorithm, if any.
    pub fn ah_transform(self) -> Option<u8> {
        match self {
            AuthAlg::HmacMd5 => Some(2),
            AuthAlg::HmacSha1 => Some(3),
            AuthAlg::HmacSha256 => Some(5),
            AuthAlg::HmacSha384 => Some(6),
            AuthAlg::HmacSha512 => Some(7),
            AuthAlg::Kpdk | AuthAlg::NonAuth => None,
        }
    }
}

named_enum!(
    /// IPComp transform (`compression_algorithm`).
    CompAlg {
        Oui = 1 => ["oui"],
        Deflate = 2 => ["deflate"],
        Lzs = 3 => ["lzs"],
    }
);

/// Key-length rule of a cipher: `None` = fixed size (no keylen allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLenRule {
    Fixed,
    /// default, min, max (multiples of 8)
    Range(u16, u16, u16),
    /// default; one of 128/192/256
    Aes,
}

impl KeyLenRule {
    pub fn default_len(self) -> Option<u16> {
        match self {
            KeyLenRule::Fixed => None,
            KeyLenRule::Range(d, _, _) => Some(d),
            KeyLenRule::Aes => Some(128),
        }
    }
    /// Check an explicit key length. `Err` carries the reason.
    pub fn check(self, len: u64) -> Result<u16, &'static str> {
        match self {
            KeyLenRule::Fixed => Err("keylen not allowed for this algorithm"),
            KeyLenRule::Aes => match len {
                128 | 192 | 256 => Ok(len as u16),
                _ => Err("key length must be 128, 192 or 256"),
            },
            KeyLenRule::Range(_, lo, hi) => {
                if len % 8 != 0 {
                    Err("key length must be a multiple of 8")
                } else if len < u64::from(lo) || len > u64::from(hi) {
                    Err("key length out of range for this algorithm")
                } else {
                    Ok(len as u16)
                }
            }
        }
    }
}

impl IkeEnc {
    pub fn keylen_rule(self) -> KeyLenRule {
        match self {
            IkeEnc::Blowfish => KeyLenRule::Range(128, 40, 448),
            IkeEnc::Rc5 => KeyLenRule::Range(128, 40, 2040),
            IkeEnc::Cast128 => KeyLenRule::Range(128, 40, 128),
            IkeEnc::Aes | IkeEnc::Camellia => KeyLenRule::Aes,
            IkeEnc::Des | IkeEnc::Idea | IkeEnc::TripleDes => KeyLenRule::Fixed,
        }
    }
}

impl EspEnc {
    pub fn keylen_rule(self) -> KeyLenRule {
        match self {
            EspEnc::Blowfish => KeyLenRule::Range(128, 40, 448),
            EspEnc::Rc5 => KeyLenRule::Range(128, 40, 2040),
            EspEnc::Cast128 => KeyLenRule::Range(128, 40, 128),
            EspEnc::Twofish => KeyLenRule::Range(128, 40, 256),
            EspEnc::Aes | EspEnc::AesGcm16 | EspEnc::Camellia => KeyLenRule::Aes,
            _ => KeyLenRule::Fixed,
        }
    }
    /// Combined-mode (AEAD) cipher: proposed without an authentication attribute, so the
    /// sainfo's `authentication_algorithm` must be `non_auth` (or absent) for it.
    pub fn is_aead(self) -> bool {
        matches!(self, EspEnc::AesGcm16)
    }
}

/// An algorithm with the key length racoon will use (explicit or default; `None` for
/// fixed-size ciphers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WithKeyLen<A> {
    pub alg: A,
    pub key_len: Option<u16>,
}

impl<A: fmt::Display> fmt::Display for WithKeyLen<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key_len {
            Some(k) => write!(f, "{} {}", self.alg, k),
            None => write!(f, "{}", self.alg),
        }
    }
}

/// Is this word an algorithm name of any class? (Used for "algorithm mismatched".)
pub fn is_any_algorithm(s: &str) -> bool {
    IkeEnc::from_name(s).is_some()
        || IkeHash::from_name(s).is_some()
        || AuthMethod::from_name(s).is_some()
        || DhGroup::from_name(s).is_some()
        || EspEnc::from_name(s).is_some()
        || AuthAlg::from_name(s).is_some()
        || CompAlg::from_name(s).is_some()
        || s == "tiger"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_rfc() {
        assert_eq!(IkeEnc::from_name("3des").unwrap().number(), 5);
        assert_eq!(IkeEnc::from_name("rijndael"), Some(IkeEnc::Aes));
        assert_eq!(IkeHash::from_name("sha2_256").unwrap().number(), 4);
        assert_eq!(
            AuthMethod::from_name("xauth_rsa_server").unwrap().number(),
            65006
        );
        assert_eq!(DhGroup::from_number(14), Some(DhGroup::Modp2048));
        assert_eq!(DhGroup::from_number(6), None);
        assert_eq!(DhGroup::from_number(19), Some(DhGroup::Ecp256));
        assert_eq!(DhGroup::from_name("ecp521").unwrap().number(), 21);
        assert!(DhGroup::Ecp384.is_computable());
        assert_eq!(EspEnc::from_name("aes_gcm_16").unwrap().number(), 20);
        assert!(EspEnc::AesGcm16.is_aead() && !EspEnc::Aes.is_aead());
        assert_eq!(EspEnc::from_name("null").unwrap().number(), 11);
        assert_eq!(EspEnc::from_name("twofish").unwrap().number(), 253);
        assert_eq!(AuthAlg::from_name("hmac_sha2_512").unwrap().number(), 7);
        assert_eq!(AuthAlg::HmacSha1.ah_transform(), Some(3));
        assert_eq!(CompAlg::from_name("lzs").unwrap().number(), 3);
    }

    #[test]
    fn keylen_rules() {
        assert_eq!(EspEnc::Blowfish.keylen_rule().check(448), Ok(448));
        assert!(EspEnc::Blowfish.keylen_rule().check(449).is_err());
        assert!(EspEnc::Blowfish.keylen_rule().check(32).is_err());
        assert!(IkeEnc::Aes.keylen_rule().check(64).is_err());
        assert_eq!(IkeEnc::Aes.keylen_rule().check(256), Ok(256));
        assert!(EspEnc::TripleDes.keylen_rule().check(192).is_err());
        assert_eq!(EspEnc::Twofish.keylen_rule().default_len(), Some(128));
        assert_eq!(EspEnc::Des.keylen_rule().default_len(), None);
        assert_eq!(EspEnc::AesGcm16.keylen_rule().check(256), Ok(256));
        assert!(EspEnc::AesGcm16.keylen_rule().check(160).is_err());
    }
}
