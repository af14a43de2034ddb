//! Typed extensions (`sadb_ext` payloads).
//!
//! Reserved fields are not kept: they are written as zero. Byte order per
//! field is documented on each field (host order = the machine's native order,
//! which is what the Linux ABI uses; see [`crate::layout`]).

use core::fmt;
use core::net::SocketAddr;

use zeroize::Zeroizing;

use crate::consts::*;

/// `sadb_sa` (ext 1, 16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Sa {
    /// SPI as a number; on the wire in **network** order (`sadb_sa_spi`).
    /// For IPComp SAs the CPI sits in the low 16 bits.
    pub spi: u32,
    /// Replay window size in packets (u8).
    pub replay: u8,
    /// SA state (u8).
    pub state: SaState,
    /// Authentication algorithm (u8).
    pub auth: AuthAlg,
    /// Encryption algorithm (u8); for IPCOMP SAs this is a [`CompAlg`], see [`Sa::comp`].
    pub encrypt: EncAlg,
    /// Flags (u32, host order).
    pub flags: SaFlags,
}

impl Sa {
    /// The `encrypt` field read as an IPComp algorithm.
    pub const fn comp(&self) -> CompAlg {
        CompAlg(self.encrypt.0)
    }
}

/// `sadb_lifetime` (ext 2/3/4, 32 bytes). All fields host order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Lifetime {
    /// Number of allocations (u32).
    pub allocations: u32,
    /// Bytes (u64).
    pub bytes: u64,
    /// Seconds since add (hard/soft) or add time in seconds since the epoch (current) (u64).
    pub addtime: u64,
    /// Seconds since first use (hard/soft) or first use time (current) (u64).
    pub usetime: u64,
}

/// `sadb_address` (ext 5/6/7 and Linux 23 NAT_T_OA): 8-byte header + sockaddr padded to 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    /// Upper-layer protocol (u8); 255 = any ([`IPSEC_ULPROTO_ANY`]).
    pub proto: u8,
    /// Prefix length in bits (u8), at most 32 (IPv4) or 128 (IPv6).
    pub prefixlen: u8,
    /// Address and port (Linux `sockaddr_in`/`sockaddr_in6`; port, address
    /// and flowinfo network order, family and scope id host order).
    pub addr: SocketAddr,
}

impl Address {
    /// A host address (full prefix), any upper-layer protocol.
    pub fn host(addr: SocketAddr) -> Address {
        Address {
            proto: IPSEC_ULPROTO_ANY,
            prefixlen: if addr.is_ipv4() { 32 } else { 128 },
            addr,
        }
    }

    /// An address with the given prefix length and upper-layer protocol.
    pub fn new(addr: SocketAddr, prefixlen: u8, proto: u8) -> Address {
        Address {
            proto,
            prefixlen,
            addr,
        }
    }

    /// Maximum prefix length for this address family.
    pub fn max_prefixlen(&self) -> u8 {
        if self.addr.is_ipv4() {
            32
        } else {
            128
        }
    }
}

/// `sadb_key` (ext 8/9): key material in a zeroizing buffer; `Debug` is redacted.
///
/// Invariant: `bytes().len() == (bits() + 7) / 8`.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    bits: u16,
    data: Zeroizing<Vec<u8>>,
}

impl Key {
    /// A key of `data.len() * 8` bits. `None` if longer than 65535 bits.
    pub fn new(data: &[u8]) -> Option<Key> {
        let bits = u16::try_from(data.len().checked_mul(8)?).ok()?;
        Some(Key {
            bits,
            data: Zeroizing::new(data.to_vec()),
        })
    }

    /// A key with an explicit bit count; `data` must be exactly `(bits + 7) / 8` bytes.
    pub fn with_bits(bits: u16, data: &[u8]) -> Option<Key> {
        if data.len() != usize::from(bits).div_ceil(8) {
            return None;
        }
        Some(Key {
            bits,
            data: Zeroizing::new(data.to_vec()),
        })
    }

    /// `sadb_key_bits` (u16, host order).
    pub fn bits(&self) -> u16 {
        self.bits
    }

    /// The key bytes (secret).
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for a zero-length key (e.g. `-A null`).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key {{ bits: {}, data: <redacted> }}", self.bits)
    }
}

/// `sadb_ident` (ext 10/11): 16-byte header + identity string padded to 8.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    /// Identity type (u16, host order).
    pub ident_type: IdentType,
    /// `sadb_ident_id` (u64, host order).
    pub id: u64,
    /// The identity string. Decoding drops trailing NUL padding; encoding
    /// appends NULs up to the next multiple of 8.
    pub data: Vec<u8>,
}

/// `sadb_sens` (ext 12): 16-byte header + bitmaps of u64 words (host order).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Sensitivity {
    /// Domain of protection (u32, host order).
    pub dpd: u32,
    /// Sensitivity level (u8).
    pub sens_level: u8,
    /// Integrity level (u8).
    pub integ_level: u8,
    /// Sensitivity bitmap, at most 255 words.
    pub sens_bitmap: Vec<u64>,
    /// Integrity bitmap, at most 255 words.
    pub integ_bitmap: Vec<u64>,
}

/// `sadb_comb` (72 bytes), all fields host order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Comb {
    /// Authentication algorithm (u8).
    pub auth: AuthAlg,
    /// Encryption algorithm (u8).
    pub encrypt: EncAlg,
    /// Flags (u16).
    pub flags: u16,
    /// Minimum auth key bits (u16).
    pub auth_minbits: u16,
    /// Maximum auth key bits (u16).
    pub auth_maxbits: u16,
    /// Minimum encryption key bits (u16).
    pub encrypt_minbits: u16,
    /// Maximum encryption key bits (u16).
    pub encrypt_maxbits: u16,
    /// Soft allocations (u32).
    pub soft_allocations: u32,
    /// Hard allocations (u32).
    pub hard_allocations: u32,
    /// Soft bytes (u64).
    pub soft_bytes: u64,
    /// Hard bytes (u64).
    pub hard_bytes: u64,
    /// Soft add-time seconds (u64).
    pub soft_addtime: u64,
    /// Hard add-time seconds (u64).
    pub hard_addtime: u64,
    /// Soft use-time seconds (u64).
    pub soft_usetime: u64,
    /// Hard use-time seconds (u64).
    pub hard_usetime: u64,
}

/// `sadb_prop` (ext 13): 8-byte header + combs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Proposal {
    /// Replay window (u8).
    pub replay: u8,
    /// Algorithm combinations in preference order.
    pub combs: Vec<Comb>,
}

/// `sadb_alg` (8 bytes), host order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Alg {
    /// Algorithm id (u8): an [`AuthAlg`] in SUPPORTED_AUTH, an [`EncAlg`] in SUPPORTED_ENCRYPT.
    pub id: u8,
    /// IV length in bytes (u8).
    pub ivlen: u8,
    /// Minimum key bits (u16).
    pub minbits: u16,
    /// Maximum key bits (u16).
    pub maxbits: u16,
}

/// `sadb_supported` (ext 14/15): 8-byte header + `sadb_alg` list.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Supported {
    /// Supported algorithms.
    pub algs: Vec<Alg>,
}

/// `sadb_spirange` (ext 16, 16 bytes); `min`/`max` host order (as Linux and libipsec use them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SpiRange {
    /// Lowest SPI (u32).
    pub min: u32,
    /// Highest SPI (u32).
    pub max: u32,
}

/// Tunnel endpoints of an IPsec request (two sockaddrs, same family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoints {
    /// Tunnel source.
    pub src: SocketAddr,
    /// Tunnel destination.
    pub dst: SocketAddr,
}

/// Linux `sadb_x_ipsecrequest` (16 bytes) + optional tunnel endpoints.
///
/// `sadb_x_ipsecrequest_len` (u16, **bytes**) is computed on encode: 16 plus
/// both sockaddrs, padded to 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpsecRequest {
    /// IP protocol (u16, host order): ESP 50, AH 51, IPCOMP 108 — not a satype.
    pub proto: IpsecProto,
    /// Mode (u8).
    pub mode: Mode,
    /// Level (u8).
    pub level: Level,
    /// Request id (u32, host order).
    pub reqid: u32,
    /// Tunnel endpoints (tunnel mode); `None` in transport mode.
    pub tunnel: Option<Endpoints>,
}

/// `sadb_x_policy` (ext 18): 16 bytes + requests.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Action (u16, host order).
    pub policy_type: PolicyType,
    /// Direction (u8).
    pub dir: Dir,
    /// Kernel-assigned policy id (u32, host order).
    pub id: u32,
    /// Priority (u32, host order; Linux `sadb_x_policy_priority`).
    pub priority: u32,
    /// IPsec requests, in bundle order (only for [`PolicyType::IPSEC`]).
    pub requests: Vec<IpsecRequest>,
}

impl Policy {
    /// A policy without requests and with priority 0.
    pub fn new(policy_type: PolicyType, dir: Dir) -> Policy {
        Policy {
            policy_type,
            dir,
            id: 0,
            priority: 0,
            requests: Vec::new(),
        }
    }
}

/// `sadb_x_sa2` (ext 19, 16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Sa2 {
    /// Mode (u8).
    pub mode: Mode,
    /// Sequence (u32, host order).
    pub sequence: u32,
    /// Request id (u32, host order).
    pub reqid: u32,
}

/// `sadb_x_sec_ctx` (Linux ext 24): 8-byte header + context string padded to 8.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct SecCtx {
    /// LSM (u8); SELinux = 1.
    pub alg: u8,
    /// DOI (u8).
    pub doi: u8,
    /// Context (length = `sadb_x_ctx_len`, u16 host order).
    pub ctx: Vec<u8>,
}

/// `sadb_x_kmaddress` (Linux ext 25): 8-byte header + two sockaddrs, padded to 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KmAddress {
    /// Local key-manager address.
    pub local: SocketAddr,
    /// Remote key-manager address.
    pub remote: SocketAddr,
}

/// `sadb_x_filter` (Linux ext 26, 40 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Filter {
    /// Source address bytes (`__u32[4]`, address in network order; IPv4 uses the first 4).
    pub saddr: [u8; 16],
    /// Destination address bytes.
    pub daddr: [u8; 16],
    /// Address family (u16, host order).
    pub family: u16,
    /// Source prefix length (u8).
    pub splen: u8,
    /// Destination prefix length (u8).
    pub dplen: u8,
}

/// One extension, in wire order inside a [`crate::Message`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Extension {
    /// 1 `SADB_EXT_SA`.
    Sa(Sa),
    /// 2 `SADB_EXT_LIFETIME_CURRENT`.
    LifetimeCurrent(Lifetime),
    /// 3 `SADB_EXT_LIFETIME_HARD`.
    LifetimeHard(Lifetime),
    /// 4 `SADB_EXT_LIFETIME_SOFT`.
    LifetimeSoft(Lifetime),
    /// 5 `SADB_EXT_ADDRESS_SRC`.
    AddressSrc(Address),
    /// 6 `SADB_EXT_ADDRESS_DST`.
    AddressDst(Address),
    /// 7 `SADB_EXT_ADDRESS_PROXY`.
    AddressProxy(Address),
    /// 8 `SADB_EXT_KEY_AUTH`.
    KeyAuth(Key),
    /// 9 `SADB_EXT_KEY_ENCRYPT`.
    KeyEncrypt(Key),
    /// 10 `SADB_EXT_IDENTITY_SRC`.
    IdentitySrc(Identity),
    /// 11 `SADB_EXT_IDENTITY_DST`.
    IdentityDst(Identity),
    /// 12 `SADB_EXT_SENSITIVITY`.
    Sensitivity(Sensitivity),
    /// 13 `SADB_EXT_PROPOSAL`.
    Proposal(Proposal),
    /// 14 `SADB_EXT_SUPPORTED_AUTH`.
    SupportedAuth(Supported),
    /// 15 `SADB_EXT_SUPPORTED_ENCRYPT`.
    SupportedEncrypt(Supported),
    /// 16 `SADB_EXT_SPIRANGE`.
    SpiRange(SpiRange),
    /// 17 `SADB_X_EXT_KMPRIVATE`: opaque bytes after the 8-byte header
    /// (decoded length is a multiple of 8; encoding pads with zeros).
    KmPrivate(Vec<u8>),
    /// 18 `SADB_X_EXT_POLICY`.
    Policy(Policy),
    /// 19 `SADB_X_EXT_SA2`.
    Sa2(Sa2),
    /// 20 `SADB_X_EXT_NAT_T_TYPE`.
    NatTType(NatTType),
    /// 21 `SADB_X_EXT_NAT_T_SPORT`: port (network order on the wire).
    NatTSport(u16),
    /// 22 `SADB_X_EXT_NAT_T_DPORT`: port (network order on the wire).
    NatTDport(u16),
    /// 23 `SADB_X_EXT_NAT_T_OA` (Linux): original address, `sadb_address` layout.
    NatTOa(Address),
    /// 24 `SADB_X_EXT_SEC_CTX` (Linux).
    SecCtx(SecCtx),
    /// 25 `SADB_X_EXT_KMADDRESS` (Linux).
    KmAddress(KmAddress),
    /// 26 `SADB_X_EXT_FILTER` (Linux).
    Filter(Filter),
    /// Any other type, kept by lenient decoding. `body` is everything after
    /// the 4-byte extension header (so its length is 4 mod 8 when decoded;
    /// encoding pads it to make the extension a multiple of 8).
    Unknown {
        /// Raw extension type.
        ext_type: ExtType,
        /// Bytes after `sadb_ext_len`/`sadb_ext_type`.
        body: Vec<u8>,
    },
}

impl Extension {
    /// The wire extension type.
    pub fn ext_type(&self) -> ExtType {
        match self {
            Extension::Sa(_) => ExtType::SA,
            Extension::LifetimeCurrent(_) => ExtType::LIFETIME_CURRENT,
            Extension::LifetimeHard(_) => ExtType::LIFETIME_HARD,
            Extension::LifetimeSoft(_) => ExtType::LIFETIME_SOFT,
            Extension::AddressSrc(_) => ExtType::ADDRESS_SRC,
            Extension::AddressDst(_) => ExtType::ADDRESS_DST,
            Extension::AddressProxy(_) => ExtType::ADDRESS_PROXY,
            Extension::KeyAuth(_) => ExtType::KEY_AUTH,
            Extension::KeyEncrypt(_) => ExtType::KEY_ENCRYPT,
            Extension::IdentitySrc(_) => ExtType::IDENTITY_SRC,
            Extension::IdentityDst(_) => ExtType::IDENTITY_DST,
            Extension::Sensitivity(_) => ExtType::SENSITIVITY,
            Extension::Proposal(_) => ExtType::PROPOSAL,
            Extension::SupportedAuth(_) => ExtType::SUPPORTED_AUTH,
            Extension::SupportedEncrypt(_) => ExtType::SUPPORTED_ENCRYPT,
            Extension::SpiRange(_) => ExtType::SPIRANGE,
            Extension::KmPrivate(_) => ExtType::X_KMPRIVATE,
            Extension::Policy(_) => ExtType::X_POLICY,
            Extension::Sa2(_) => ExtType::X_SA2,
            Extension::NatTType(_) => ExtType::X_NAT_T_TYPE,
            Extension::NatTSport(_) => ExtType::X_NAT_T_SPORT,
            Extension::NatTDport(_) => ExtType::X_NAT_T_DPORT,
            Extension::NatTOa(_) => ExtType::X_NAT_T_OA,
            Extension::SecCtx(_) => ExtType::X_SEC_CTX,
            Extension::KmAddress(_) => ExtType::X_KMADDRESS,
            Extension::Filter(_) => ExtType::X_FILTER,
            Extension::Unknown { ext_type, .. } => *ext_type,
        }
    }
}
