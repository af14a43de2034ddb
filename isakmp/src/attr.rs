//! Data attributes (RFC 2408 §3.3): TV ("basic", AF=1, 16-bit value) and TLV ("variable",
//! AF=0, any length), kept generic, plus typed views for the IKE (Oakley) and IPsec DOI classes.

use crate::codec::{LengthPatch, Reader};
use crate::error::{DecodeError, ErrorKind};
use crate::types::wire_enum;
use crate::MAX_ATTRIBUTES;

/// The value of one attribute as sent.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum AttrValue {
    /// TV format: the AF bit was set and the value is 16 bits.
    Basic(u16),
    /// TLV format: any number of bytes.
    Variable(Vec<u8>),
}

impl core::fmt::Debug for AttrValue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AttrValue::Basic(v) => write!(f, "{v}"),
            AttrValue::Variable(b) => {
                write!(f, "0x")?;
                for x in b {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// One data attribute: a 15-bit type and a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// Attribute type without the AF bit.
    pub kind: u16,
    /// The value as encoded.
    pub value: AttrValue,
}

impl Attribute {
    /// A TV attribute.
    pub fn basic(kind: impl Into<u16>, v: u16) -> Self {
        Attribute {
            kind: kind.into() & 0x7fff,
            value: AttrValue::Basic(v),
        }
    }

    /// A TLV attribute.
    pub fn variable(kind: impl Into<u16>, v: impl Into<Vec<u8>>) -> Self {
        Attribute {
            kind: kind.into() & 0x7fff,
            value: AttrValue::Variable(v.into()),
        }
    }

    /// The shortest sensible encoding of an integer: TV when it fits 16 bits, else a 4-byte TLV
    /// (as racoon sends life durations), else 8 bytes.
    pub fn integer(kind: impl Into<u16>, v: u64) -> Self {
        if let Ok(b) = u16::try_from(v) {
            Self::basic(kind, b)
        } else if let Ok(w) = u32::try_from(v) {
            Self::variable(kind, w.to_be_bytes().to_vec())
        } else {
            Self::variable(kind, v.to_be_bytes().to_vec())
        }
    }

    /// The value as an unsigned integer: TV values directly, TLV values of any length as a
    /// big-endian number if it fits 64 bits (leading zero bytes are allowed). `None` for an
    /// empty TLV or one too large.
    pub fn as_u64(&self) -> Option<u64> {
        match &self.value {
            AttrValue::Basic(v) => Some(u64::from(*v)),
            AttrValue::Variable(b) => {
                if b.is_empty() {
                    return None;
                }
                let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
                let sig = &b[first..];
                if sig.len() > 8 {
                    return None;
                }
                Some(sig.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
            }
        }
    }

    /// The TV value, `None` for a TLV attribute.
    pub fn as_basic(&self) -> Option<u16> {
        match self.value {
            AttrValue::Basic(v) => Some(v),
            AttrValue::Variable(_) => None,
        }
    }

    /// The raw bytes of a TLV value, `None` for a TV attribute.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.value {
            AttrValue::Basic(_) => None,
            AttrValue::Variable(b) => Some(b),
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let t = r.u16()?;
        let kind = t & 0x7fff;
        if t & 0x8000 != 0 {
            Ok(Attribute {
                kind,
                value: AttrValue::Basic(r.u16()?),
            })
        } else {
            let len = usize::from(r.u16()?);
            Ok(Attribute {
                kind,
                value: AttrValue::Variable(r.take(len)?.to_vec()),
            })
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match &self.value {
            AttrValue::Basic(v) => {
                out.extend_from_slice(&(self.kind | 0x8000).to_be_bytes());
                out.extend_from_slice(&v.to_be_bytes());
            }
            AttrValue::Variable(b) => {
                out.extend_from_slice(&(self.kind & 0x7fff).to_be_bytes());
                let start = out.len() + 2;
                let mut g = LengthPatch::u16(out, start);
                g.extend_from_slice(b);
            }
        }
    }
}

/// Decodes attributes until `r` is exhausted, with the [`MAX_ATTRIBUTES`] cap.
pub(crate) fn decode_attributes(r: &mut Reader<'_>) -> Result<Vec<Attribute>, DecodeError> {
    let mut v = Vec::new();
    while !r.is_empty() {
        if v.len() >= MAX_ATTRIBUTES {
            return Err(r.err(ErrorKind::TooManyAttributes));
        }
        v.push(Attribute::decode(r)?);
    }
    Ok(v)
}

pub(crate) fn encode_attributes(attrs: &[Attribute], out: &mut Vec<u8>) {
    for a in attrs {
        a.encode(out);
    }
}

wire_enum! {
    /// Phase-1 (Oakley) attribute classes (RFC 2409 appendix A).
    IkeAttrType(u16) {
        ENCRYPTION_ALGORITHM = 1 => "Encryption Algorithm",
        HASH_ALGORITHM = 2 => "Hash Algorithm",
        AUTH_METHOD = 3 => "Authentication Method",
        GROUP_DESCRIPTION = 4 => "Group Description",
        GROUP_TYPE = 5 => "Group Type",
        GROUP_PRIME = 6 => "Group Prime/Irreducible Polynomial",
        GROUP_GENERATOR_ONE = 7 => "Group Generator One",
        GROUP_GENERATOR_TWO = 8 => "Group Generator Two",
        GROUP_CURVE_A = 9 => "Group Curve A",
        GROUP_CURVE_B = 10 => "Group Curve B",
        LIFE_TYPE = 11 => "Life Type",
        LIFE_DURATION = 12 => "Life Duration",
        PRF = 13 => "PRF",
        KEY_LENGTH = 14 => "Key Length",
        FIELD_SIZE = 15 => "Field Size",
        GROUP_ORDER = 16 => "Group Order",
    }
}

wire_enum! {
    /// Phase-2 (IPsec DOI) attribute classes (RFC 2407 §4.5).
    IpsecAttrType(u16) {
        SA_LIFE_TYPE = 1 => "SA Life Type",
        SA_LIFE_DURATION = 2 => "SA Life Duration",
        GROUP_DESCRIPTION = 3 => "Group Description",
        ENCAPSULATION_MODE = 4 => "Encapsulation Mode",
        AUTH_ALGORITHM = 5 => "Authentication Algorithm",
        KEY_LENGTH = 6 => "Key Length",
        KEY_ROUNDS = 7 => "Key Rounds",
        COMP_DICT_SIZE = 8 => "Compress Dictionary Size",
        COMP_PRIVATE_ALG = 9 => "Compress Private Algorithm",
        SECURITY_CONTEXT = 10 => "Security Context",
    }
}

wire_enum! {
    /// Phase-1 encryption algorithm.
    EncryptionAlgorithm(u16) {
        DES_CBC = 1 => "DES-CBC",
        IDEA_CBC = 2 => "IDEA-CBC",
        BLOWFISH_CBC = 3 => "Blowfish-CBC",
        RC5_CBC = 4 => "RC5-R16-B64-CBC",
        TRIPLE_DES_CBC = 5 => "3DES-CBC",
        CAST_CBC = 6 => "CAST-CBC",
        AES_CBC = 7 => "AES-CBC",
        CAMELLIA_CBC = 8 => "CAMELLIA-CBC",
    }
}

wire_enum! {
    /// Phase-1 hash algorithm.
    HashAlgorithm(u16) {
        MD5 = 1 => "MD5",
        SHA1 = 2 => "SHA",
        TIGER = 3 => "Tiger",
        SHA2_256 = 4 => "SHA2-256",
        SHA2_384 = 5 => "SHA2-384",
        SHA2_512 = 6 => "SHA2-512",
    }
}

wire_enum! {
    /// Phase-1 authentication method (RFC 2409, XAUTH/hybrid drafts).
    AuthMethod(u16) {
        PRE_SHARED_KEY = 1 => "pre-shared key",
        DSS_SIG = 2 => "DSS signatures",
        RSA_SIG = 3 => "RSA signatures",
        RSA_ENC = 4 => "Encryption with RSA",
        RSA_REV_ENC = 5 => "Revised encryption with RSA",
        ECDSA_SHA256 = 9 => "ECDSA with SHA-256 on P-256",
        ECDSA_SHA384 = 10 => "ECDSA with SHA-384 on P-384",
        ECDSA_SHA512 = 11 => "ECDSA with SHA-512 on P-521",
        HYBRID_RSA_CLIENT = 64221 => "HybridInitRSA",
        HYBRID_RSA_SERVER = 64222 => "HybridRespRSA",
        HYBRID_DSS_CLIENT = 64223 => "HybridInitDSS",
        HYBRID_DSS_SERVER = 64224 => "HybridRespDSS",
        XAUTH_PSK_CLIENT = 65001 => "XAUTHInitPreShared",
        XAUTH_PSK_SERVER = 65002 => "XAUTHRespPreShared",
        XAUTH_DSS_CLIENT = 65003 => "XAUTHInitDSS",
        XAUTH_DSS_SERVER = 65004 => "XAUTHRespDSS",
        XAUTH_RSA_CLIENT = 65005 => "XAUTHInitRSA",
        XAUTH_RSA_SERVER = 65006 => "XAUTHRespRSA",
        XAUTH_RSA_ENC_CLIENT = 65007 => "XAUTHInitRSAEncryption",
        XAUTH_RSA_ENC_SERVER = 65008 => "XAUTHRespRSAEncryption",
        XAUTH_RSA_REV_CLIENT = 65009 => "XAUTHInitRSARevisedEncryption",
        XAUTH_RSA_REV_SERVER = 65010 => "XAUTHRespRSARevisedEncryption",
    }
}

wire_enum! {
    /// Group description (phase 1 and PFS in phase 2).
    GroupDescription(u16) {
        MODP_768 = 1 => "MODP-768",
        MODP_1024 = 2 => "MODP-1024",
        EC2N_155 = 3 => "EC2N-155",
        EC2N_185 = 4 => "EC2N-185",
        MODP_1536 = 5 => "MODP-1536",
        MODP_2048 = 14 => "MODP-2048",
        MODP_3072 = 15 => "MODP-3072",
        MODP_4096 = 16 => "MODP-4096",
        MODP_6144 = 17 => "MODP-6144",
        MODP_8192 = 18 => "MODP-8192",
        ECP_256 = 19 => "ECP-256",
        ECP_384 = 20 => "ECP-384",
        ECP_521 = 21 => "ECP-521",
    }
}

wire_enum! {
    /// Life type (phase 1 and phase 2 share the values).
    LifeType(u16) {
        SECONDS = 1 => "seconds",
        KILOBYTES = 2 => "kilobytes",
    }
}

wire_enum! {
    /// IPsec encapsulation mode (RFC 2407, RFC 3947, NAT-T drafts).
    EncapsulationMode(u16) {
        TUNNEL = 1 => "Tunnel",
        TRANSPORT = 2 => "Transport",
        UDP_TUNNEL = 3 => "UDP-Encapsulated-Tunnel",
        UDP_TRANSPORT = 4 => "UDP-Encapsulated-Transport",
        UDP_TUNNEL_DRAFT = 61443 => "UDP-Encapsulated-Tunnel(draft)",
        UDP_TRANSPORT_DRAFT = 61444 => "UDP-Encapsulated-Transport(draft)",
    }
}

impl EncapsulationMode {
    /// True for the UDP-encapsulated modes (RFC or draft numbering).
    pub fn is_udp(self) -> bool {
        matches!(self.0, 3 | 4 | 61443 | 61444)
    }
    /// True for tunnel-like modes (plain or UDP-encapsulated).
    pub fn is_tunnel(self) -> bool {
        matches!(self.0, 1 | 3 | 61443)
    }
}

wire_enum! {
    /// IPsec authentication algorithm attribute (RFC 2407 §4.5, RFC 4868).
    AuthAlgorithm(u16) {
        HMAC_MD5 = 1 => "HMAC-MD5",
        HMAC_SHA1 = 2 => "HMAC-SHA",
        DES_MAC = 3 => "DES-MAC",
        KPDK = 4 => "KPDK",
        HMAC_SHA2_256 = 5 => "HMAC-SHA2-256",
        HMAC_SHA2_384 = 6 => "HMAC-SHA2-384",
        HMAC_SHA2_512 = 7 => "HMAC-SHA2-512",
        HMAC_RIPEMD = 8 => "HMAC-RIPEMD",
        AES_XCBC_MAC = 9 => "AES-XCBC-MAC",
    }
}

wire_enum! {
    /// ESP transform identifiers (RFC 2407 §4.4.4 and later registrations).
    EspTransformId(u8) {
        DES_IV64 = 1 => "ESP_DES_IV64",
        DES = 2 => "ESP_DES",
        TRIPLE_DES = 3 => "ESP_3DES",
        RC5 = 4 => "ESP_RC5",
        IDEA = 5 => "ESP_IDEA",
        CAST = 6 => "ESP_CAST",
        BLOWFISH = 7 => "ESP_BLOWFISH",
        TRIPLE_IDEA = 8 => "ESP_3IDEA",
        DES_IV32 = 9 => "ESP_DES_IV32",
        RC4 = 10 => "ESP_RC4",
        NULL = 11 => "ESP_NULL",
        AES_CBC = 12 => "ESP_AES",
        AES_CTR = 13 => "ESP_AES-CTR",
        AES_CCM_8 = 14 => "ESP_AES-CCM_8",
        AES_CCM_12 = 15 => "ESP_AES-CCM_12",
        AES_CCM_16 = 16 => "ESP_AES-CCM_16",
        AES_GCM_8 = 18 => "ESP_AES-GCM_8",
        AES_GCM_12 = 19 => "ESP_AES-GCM_12",
        AES_GCM_16 = 20 => "ESP_AES-GCM_16",
        NULL_AUTH_AES_GMAC = 23 => "ESP_NULL_AUTH_AES-GMAC",
        CAMELLIA = 22 => "ESP_CAMELLIA",
        TWOFISH = 253 => "ESP_TWOFISH",
    }
}

wire_enum! {
    /// AH transform identifiers (RFC 2407 §4.4.3, RFC 4868).
    AhTransformId(u8) {
        MD5 = 2 => "AH_MD5",
        SHA = 3 => "AH_SHA",
        DES = 4 => "AH_DES",
        SHA2_256 = 5 => "AH_SHA2-256",
        SHA2_384 = 6 => "AH_SHA2-384",
        SHA2_512 = 7 => "AH_SHA2-512",
    }
}

wire_enum! {
    /// IPComp transform identifiers (RFC 2407 §4.4.5).
    IpcompTransformId(u8) {
        OUI = 1 => "IPCOMP_OUI",
        DEFLATE = 2 => "IPCOMP_DEFLATE",
        LZS = 3 => "IPCOMP_LZS",
    }
}

/// Phase-1 transform identifier for ISAKMP: only KEY_IKE (1) is defined.
pub const KEY_IKE: u8 = 1;

/// Why a list of attributes is not a valid set for its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttrError {
    /// The same attribute appeared twice (life type/duration pairs excepted).
    #[error("duplicate attribute {0}")]
    Duplicate(u16),
    /// A basic-only attribute came in TLV form, or vice versa with a value that cannot be used.
    #[error("attribute {0} has the wrong format")]
    WrongFormat(u16),
    /// A life duration without a preceding life type, or a life type without a duration.
    #[error("unpaired life type/duration")]
    UnpairedLife,
    /// A value too large to be an integer of interest (over 64 bits).
    #[error("attribute {0} value out of range")]
    OutOfRange(u16),
}

/// One lifetime: a type and a duration (seconds or kilobytes), of any encoded length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lifetime {
    /// Seconds or kilobytes.
    pub kind: LifeType,
    /// The duration in that unit.
    pub value: u64,
}

/// Shared helper: walks attributes, calling `f` for each non-life attribute, collecting life
/// pairs, rejecting duplicates.
fn walk(
    attrs: &[Attribute],
    life_type: u16,
    life_duration: u16,
    mut f: impl FnMut(&Attribute) -> Result<(), AttrError>,
) -> Result<Vec<Lifetime>, AttrError> {
    let mut lifetimes = Vec::new();
    let mut pending: Option<LifeType> = None;
    let mut seen: Vec<u16> = Vec::new();
    for a in attrs {
        if a.kind == life_type {
            if pending.is_some() {
                return Err(AttrError::UnpairedLife);
            }
            pending = Some(LifeType(
                a.as_basic().ok_or(AttrError::WrongFormat(a.kind))?,
            ));
        } else if a.kind == life_duration {
            let kind = pending.take().ok_or(AttrError::UnpairedLife)?;
            let value = a.as_u64().ok_or(AttrError::OutOfRange(a.kind))?;
            lifetimes.push(Lifetime { kind, value });
        } else {
            if seen.contains(&a.kind) {
                return Err(AttrError::Duplicate(a.kind));
            }
            seen.push(a.kind);
            f(a)?;
        }
    }
    if pending.is_some() {
        return Err(AttrError::UnpairedLife);
    }
    Ok(lifetimes)
}

fn basic(a: &Attribute) -> Result<u16, AttrError> {
    a.as_basic().ok_or(AttrError::WrongFormat(a.kind))
}

fn int16(a: &Attribute) -> Result<u16, AttrError> {
    a.as_u64()
        .and_then(|v| u16::try_from(v).ok())
        .ok_or(AttrError::OutOfRange(a.kind))
}

/// Typed view of a phase-1 transform's attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IkeAttrs {
    /// Encryption algorithm.
    pub encryption: Option<EncryptionAlgorithm>,
    /// Hash algorithm.
    pub hash: Option<HashAlgorithm>,
    /// Authentication method.
    pub auth_method: Option<AuthMethod>,
    /// Group description.
    pub group: Option<GroupDescription>,
    /// Group type (1 MODP, 2 ECP, 3 EC2N).
    pub group_type: Option<u16>,
    /// PRF (rarely used).
    pub prf: Option<u16>,
    /// Key length in bits.
    pub key_length: Option<u16>,
    /// Field size in bits.
    pub field_size: Option<u16>,
    /// Lifetimes in the order sent.
    pub lifetimes: Vec<Lifetime>,
    /// Attributes of other classes (private groups, GSS-ID ...), unchanged.
    pub other: Vec<Attribute>,
}

impl IkeAttrs {
    /// Interprets a phase-1 attribute list.
    pub fn parse(attrs: &[Attribute]) -> Result<Self, AttrError> {
        let mut s = IkeAttrs::default();
        let lifetimes = walk(
            attrs,
            IkeAttrType::LIFE_TYPE.0,
            IkeAttrType::LIFE_DURATION.0,
            |a| {
                match IkeAttrType(a.kind) {
                    IkeAttrType::ENCRYPTION_ALGORITHM => {
                        s.encryption = Some(EncryptionAlgorithm(basic(a)?))
                    }
                    IkeAttrType::HASH_ALGORITHM => s.hash = Some(HashAlgorithm(basic(a)?)),
                    IkeAttrType::AUTH_METHOD => s.auth_method = Some(AuthMethod(basic(a)?)),
                    IkeAttrType::GROUP_DESCRIPTION => s.group = Some(GroupDescription(basic(a)?)),
                    IkeAttrType::GROUP_TYPE => s.group_type = Some(basic(a)?),
                    IkeAttrType::PRF => s.prf = Some(basic(a)?),
                    IkeAttrType::KEY_LENGTH => s.key_length = Some(int16(a)?),
                    IkeAttrType::FIELD_SIZE => s.field_size = Some(int16(a)?),
                    _ => s.other.push(a.clone()),
                }
                Ok(())
            },
        )?;
        s.lifetimes = lifetimes;
        Ok(s)
    }

    /// Back to an attribute list, in racoon's order (enc, hash, auth, group, lifetimes, key
    /// length, then the rest).
    pub fn to_attributes(&self) -> Vec<Attribute> {
        let mut v = Vec::new();
        let t = |k: IkeAttrType| k.0;
        if let Some(x) = self.encryption {
            v.push(Attribute::basic(t(IkeAttrType::ENCRYPTION_ALGORITHM), x.0));
        }
        if let Some(x) = self.hash {
            v.push(Attribute::basic(t(IkeAttrType::HASH_ALGORITHM), x.0));
        }
        if let Some(x) = self.auth_method {
            v.push(Attribute::basic(t(IkeAttrType::AUTH_METHOD), x.0));
        }
        if let Some(x) = self.group {
            v.push(Attribute::basic(t(IkeAttrType::GROUP_DESCRIPTION), x.0));
        }
        if let Some(x) = self.group_type {
            v.push(Attribute::basic(t(IkeAttrType::GROUP_TYPE), x));
        }
        for l in &self.lifetimes {
            v.push(Attribute::basic(t(IkeAttrType::LIFE_TYPE), l.kind.0));
            v.push(Attribute::integer(t(IkeAttrType::LIFE_DURATION), l.value));
        }
        if let Some(x) = self.prf {
            v.push(Attribute::basic(t(IkeAttrType::PRF), x));
        }
        if let Some(x) = self.key_length {
            v.push(Attribute::basic(t(IkeAttrType::KEY_LENGTH), x));
        }
        if let Some(x) = self.field_size {
            v.push(Attribute::basic(t(IkeAttrType::FIELD_SIZE), x));
        }
        v.extend(self.other.iter().cloned());
        v
    }
}

/// Typed view of a phase-2 (IPsec DOI) transform's attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpsecAttrs {
    /// Lifetimes in the order sent.
    pub lifetimes: Vec<Lifetime>,
    /// PFS group.
    pub group: Option<GroupDescription>,
    /// Encapsulation mode.
    pub encapsulation: Option<EncapsulationMode>,
    /// Authentication algorithm.
    pub auth: Option<AuthAlgorithm>,
    /// Key length in bits.
    pub key_length: Option<u16>,
    /// Key rounds.
    pub key_rounds: Option<u16>,
    /// IPComp dictionary size.
    pub comp_dict_size: Option<u16>,
    /// IPComp private algorithm (opaque).
    pub comp_private_alg: Option<Vec<u8>>,
    /// Security context (non-standard, SELinux builds), opaque.
    pub security_context: Option<Vec<u8>>,
    /// Attributes of other classes, unchanged.
    pub other: Vec<Attribute>,
}

impl IpsecAttrs {
    /// Interprets a phase-2 attribute list.
    pub fn parse(attrs: &[Attribute]) -> Result<Self, AttrError> {
        let mut s = IpsecAttrs::default();
        let lifetimes = walk(
            attrs,
            IpsecAttrType::SA_LIFE_TYPE.0,
            IpsecAttrType::SA_LIFE_DURATION.0,
            |a| {
                match IpsecAttrType(a.kind) {
                    IpsecAttrType::GROUP_DESCRIPTION => s.group = Some(GroupDescription(basic(a)?)),
                    IpsecAttrType::ENCAPSULATION_MODE => {
                        s.encapsulation = Some(EncapsulationMode(basic(a)?))
                    }
                    IpsecAttrType::AUTH_ALGORITHM => s.auth = Some(AuthAlgorithm(basic(a)?)),
                    IpsecAttrType::KEY_LENGTH => s.key_length = Some(int16(a)?),
                    IpsecAttrType::KEY_ROUNDS => s.key_rounds = Some(int16(a)?),
                    IpsecAttrType::COMP_DICT_SIZE => s.comp_dict_size = Some(int16(a)?),
                    IpsecAttrType::COMP_PRIVATE_ALG => {
                        s.comp_private_alg = Some(match &a.value {
                            AttrValue::Basic(v) => v.to_be_bytes().to_vec(),
                            AttrValue::Variable(b) => b.clone(),
                        })
                    }
                    IpsecAttrType::SECURITY_CONTEXT => {
                        s.security_context =
                            Some(a.as_bytes().ok_or(AttrError::WrongFormat(a.kind))?.to_vec())
                    }
                    _ => s.other.push(a.clone()),
                }
                Ok(())
            },
        )?;
        s.lifetimes = lifetimes;
        Ok(s)
    }

    /// Back to an attribute list, in racoon's order (lifetimes, group, mode, auth, key length ...).
    pub fn to_attributes(&self) -> Vec<Attribute> {
        let mut v = Vec::new();
        let t = |k: IpsecAttrType| k.0;
        for l in &self.lifetimes {
            v.push(Attribute::basic(t(IpsecAttrType::SA_LIFE_TYPE), l.kind.0));
            v.push(Attribute::integer(
                t(IpsecAttrType::SA_LIFE_DURATION),
                l.value,
            ));
        }
        if let Some(x) = self.group {
            v.push(Attribute::basic(t(IpsecAttrType::GROUP_DESCRIPTION), x.0));
        }
        if let Some(x) = self.encapsulation {
            v.push(Attribute::basic(t(IpsecAttrType::ENCAPSULATION_MODE), x.0));
        }
        if let Some(x) = self.auth {
            v.push(Attribute::basic(t(IpsecAttrType::AUTH_ALGORITHM), x.0));
        }
        if let Some(x) = self.key_length {
            v.push(Attribute::basic(t(IpsecAttrType::KEY_LENGTH), x));
        }
        if let Some(x) = self.key_rounds {
            v.push(Attribute::basic(t(IpsecAttrType::KEY_ROUNDS), x));
        }
        if let Some(x) = self.comp_dict_size {
            v.push(Attribute::basic(t(IpsecAttrType::COMP_DICT_SIZE), x));
        }
        if let Some(x) = &self.comp_private_alg {
            v.push(Attribute::variable(
                t(IpsecAttrType::COMP_PRIVATE_ALG),
                x.clone(),
            ));
        }
        if let Some(x) = &self.security_context {
            v.push(Attribute::variable(
                t(IpsecAttrType::SECURITY_CONTEXT),
                x.clone(),
            ));
        }
        v.extend(self.other.iter().cloned());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(a: &Attribute) -> Attribute {
        let mut v = Vec::new();
        a.encode(&mut v);
        let mut r = Reader::new(&v);
        let b = Attribute::decode(&mut r).unwrap();
        assert!(r.is_empty());
        b
    }

    #[test]
    fn tv_and_tlv_roundtrip() {
        for a in [
            Attribute::basic(1u16, 7),
            Attribute::variable(12u16, vec![0x00, 0x01, 0x51, 0x80]),
            Attribute::variable(12u16, vec![0x01, 0x51, 0x80]),
            Attribute::variable(9u16, vec![]),
        ] {
            assert_eq!(roundtrip(&a), a);
        }
    }

    #[test]
    fn life_duration_any_length() {
        // scapy's 3-byte encoding of 86400, racoon's 4-byte, and a 9-byte with leading zero.
        assert_eq!(
            Attribute::variable(12u16, vec![1, 0x51, 0x80]).as_u64(),
            Some(86400)
        );
        assert_eq!(
            Attribute::variable(12u16, vec![0, 1, 0x51, 0x80]).as_u64(),
            Some(86400)
        );
        let mut nine = vec![0u8];
        nine.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(Attribute::variable(12u16, nine).as_u64(), Some(u64::MAX));
        assert_eq!(Attribute::variable(12u16, vec![1; 9]).as_u64(), None);
        assert_eq!(Attribute::variable(12u16, vec![]).as_u64(), None);
        assert_eq!(
            Attribute::integer(12u16, 28800).value,
            AttrValue::Basic(28800)
        );
        assert_eq!(
            Attribute::integer(12u16, 86400).value,
            AttrValue::Variable(vec![0, 1, 0x51, 0x80])
        );
    }

    #[test]
    fn ike_attrs_typed() {
        let attrs = vec![
            Attribute::basic(1u16, 7),
            Attribute::basic(14u16, 256),
            Attribute::basic(2u16, 2),
            Attribute::basic(4u16, 14),
            Attribute::basic(3u16, 1),
            Attribute::basic(11u16, 1),
            Attribute::variable(12u16, vec![0, 1, 0x51, 0x80]),
            Attribute::basic(11u16, 2),
            Attribute::basic(12u16, 1000),
        ];
        let t = IkeAttrs::parse(&attrs).unwrap();
        assert_eq!(t.encryption, Some(EncryptionAlgorithm::AES_CBC));
        assert_eq!(t.hash, Some(HashAlgorithm::SHA1));
        assert_eq!(t.group, Some(GroupDescription::MODP_2048));
        assert_eq!(t.auth_method, Some(AuthMethod::PRE_SHARED_KEY));
        assert_eq!(t.key_length, Some(256));
        assert_eq!(
            t.lifetimes,
            vec![
                Lifetime {
                    kind: LifeType::SECONDS,
                    value: 86400
                },
                Lifetime {
                    kind: LifeType::KILOBYTES,
                    value: 1000
                }
            ]
        );
        assert_eq!(IkeAttrs::parse(&t.to_attributes()).unwrap(), t);
        // errors
        let dup = [Attribute::basic(1u16, 7), Attribute::basic(1u16, 5)];
        assert_eq!(IkeAttrs::parse(&dup), Err(AttrError::Duplicate(1)));
        let unpaired = [Attribute::basic(12u16, 7)];
        assert_eq!(IkeAttrs::parse(&unpaired), Err(AttrError::UnpairedLife));
        let dangling = [Attribute::basic(11u16, 1)];
        assert_eq!(IkeAttrs::parse(&dangling), Err(AttrError::UnpairedLife));
        let tlv_enc = [Attribute::variable(1u16, vec![0, 7])];
        assert_eq!(IkeAttrs::parse(&tlv_enc), Err(AttrError::WrongFormat(1)));
    }

    #[test]
    fn ipsec_attrs_typed() {
        let attrs = vec![
            Attribute::basic(1u16, 1),
            Attribute::variable(2u16, vec![0, 0, 0x0e, 0x10]),
            Attribute::basic(3u16, 14),
            Attribute::basic(4u16, 61443),
            Attribute::basic(5u16, 2),
            Attribute::basic(6u16, 128),
        ];
        let t = IpsecAttrs::parse(&attrs).unwrap();
        assert_eq!(t.lifetimes[0].value, 3600);
        assert_eq!(t.encapsulation, Some(EncapsulationMode::UDP_TUNNEL_DRAFT));
        assert!(t.encapsulation.unwrap().is_udp() && t.encapsulation.unwrap().is_tunnel());
        assert_eq!(t.auth, Some(AuthAlgorithm::HMAC_SHA1));
        assert_eq!(t.group, Some(GroupDescription::MODP_2048));
        assert_eq!(t.key_length, Some(128));
        assert_eq!(IpsecAttrs::parse(&t.to_attributes()).unwrap(), t);
    }
}
