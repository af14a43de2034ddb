//! Wire enumerations as newtypes with named constants.
//!
//! Every type here wraps the raw wire integer, so values this crate does not
//! know survive a decode/encode round trip unchanged. `name()` returns the word
//! `setkey` prints for a value (or `None` when unknown; callers then print the
//! number), and `Debug` shows the name when there is one.

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $val:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: $name = $name($val); )*

            /// All values with a name, in numeric order.
            pub const KNOWN: &'static [$name] = &[$($name($val)),*];

            /// The name `setkey`/racoon use for this value, `None` if unknown.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some($text), )*
                    _ => None,
                }
            }

            /// Whether this value has a name in this crate.
            pub const fn is_known(self) -> bool {
                self.name().is_some()
            }

            /// Look a value up by its `name()`.
            pub fn from_name(s: &str) -> Option<$name> {
                match s {
                    $( $text => Some($name($val)), )*
                    _ => None,
                }
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({})", n, self.0),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl core::fmt::Display for $name {
            /// The name, or the decimal number when unknown.
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}", self.0),
                }
            }
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                $name(v)
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> Self {
                v.0
            }
        }
    };
}

wire_enum! {
    /// `sadb_msg_type` (u8). Names are the RFC 2367 / KAME macro names without `SADB_`.
    MsgType(u8) {
        /// 0, never valid on the wire.
        RESERVED = 0 => "RESERVED",
        /// Allocate a larval SA with a unique SPI.
        GETSPI = 1 => "GETSPI",
        /// Complete a larval SA.
        UPDATE = 2 => "UPDATE",
        /// Add a mature SA.
        ADD = 3 => "ADD",
        /// Delete an SA.
        DELETE = 4 => "DELETE",
        /// Read an SA (with keys).
        GET = 5 => "GET",
        /// Kernel asks key managers for an SA.
        ACQUIRE = 6 => "ACQUIRE",
        /// Register as key manager for a satype; the reply lists supported algorithms.
        REGISTER = 7 => "REGISTER",
        /// Soft/hard lifetime expiry.
        EXPIRE = 8 => "EXPIRE",
        /// Flush the SAD (per satype).
        FLUSH = 9 => "FLUSH",
        /// Dump the SAD (per satype).
        DUMP = 10 => "DUMP",
        /// Toggle promiscuous mode.
        X_PROMISC = 11 => "X_PROMISC",
        /// KAME, unused on Linux.
        X_PCHANGE = 12 => "X_PCHANGE",
        /// Add or replace a policy.
        X_SPDUPDATE = 13 => "X_SPDUPDATE",
        /// Add a policy.
        X_SPDADD = 14 => "X_SPDADD",
        /// Delete a policy by selector.
        X_SPDDELETE = 15 => "X_SPDDELETE",
        /// Get a policy by id.
        X_SPDGET = 16 => "X_SPDGET",
        /// Policy acquire.
        X_SPDACQUIRE = 17 => "X_SPDACQUIRE",
        /// Dump the SPD.
        X_SPDDUMP = 18 => "X_SPDDUMP",
        /// Flush the SPD.
        X_SPDFLUSH = 19 => "X_SPDFLUSH",
        /// Set index (KAME).
        X_SPDSETIDX = 20 => "X_SPDSETIDX",
        /// Policy expired.
        X_SPDEXPIRE = 21 => "X_SPDEXPIRE",
        /// Delete a policy by id.
        X_SPDDELETE2 = 22 => "X_SPDDELETE2",
        /// NAT-T mapping changed (Linux numbering).
        X_NAT_T_NEW_MAPPING = 23 => "X_NAT_T_NEW_MAPPING",
        /// MIGRATE (Linux numbering).
        X_MIGRATE = 24 => "X_MIGRATE",
    }
}

impl MsgType {
    /// Highest message type of the Linux ABI (`SADB_MAX`).
    pub const MAX: MsgType = MsgType(24);

    /// True for the policy (SPD) message types 13..=22 (`X_SPD*`).
    pub const fn is_spd(self) -> bool {
        self.0 >= 13 && self.0 <= 22
    }
}

wire_enum! {
    /// `sadb_msg_satype` (u8). Names as `setkey -D` prints them.
    SaType(u8) {
        /// Any / all types.
        UNSPEC = 0 => "unspec",
        /// AH.
        AH = 2 => "ah",
        /// ESP.
        ESP = 3 => "esp",
        /// RSVP (not supported).
        RSVP = 5 => "rsvp",
        /// OSPFv2 (not supported).
        OSPFV2 = 6 => "ospfv2",
        /// RIPv2 (not supported).
        RIPV2 = 7 => "ripv2",
        /// Mobile IP (not supported).
        MIP = 8 => "mip",
        /// IPComp (`SADB_X_SATYPE_IPCOMP`).
        IPCOMP = 9 => "ipcomp",
        /// TCP-MD5 (BSD `SADB_X_SATYPE_TCPSIGNATURE`).
        TCPSIGNATURE = 11 => "tcp",
    }
}

impl SaType {
    /// The IP protocol carrying this SA type (`ESP`→50, `AH`→51, `IPCOMP`→108).
    pub const fn ipsec_proto(self) -> Option<IpsecProto> {
        match self.0 {
            2 => Some(IpsecProto::AH),
            3 => Some(IpsecProto::ESP),
            9 => Some(IpsecProto::IPCOMP),
            _ => None,
        }
    }

    /// Inverse of [`SaType::ipsec_proto`].
    pub const fn from_ipsec_proto(p: IpsecProto) -> Option<SaType> {
        match p.0 {
            50 => Some(SaType::ESP),
            51 => Some(SaType::AH),
            108 => Some(SaType::IPCOMP),
            _ => None,
        }
    }
}

wire_enum! {
    /// Extension type (`sadb_ext_type`, u16), **Linux numbering** for 23–26.
    ExtType(u16) {
        /// 0, never valid.
        RESERVED = 0 => "RESERVED",
        /// `sadb_sa`.
        SA = 1 => "SA",
        /// Current lifetime.
        LIFETIME_CURRENT = 2 => "LIFETIME_CURRENT",
        /// Hard lifetime.
        LIFETIME_HARD = 3 => "LIFETIME_HARD",
        /// Soft lifetime.
        LIFETIME_SOFT = 4 => "LIFETIME_SOFT",
        /// Source address.
        ADDRESS_SRC = 5 => "ADDRESS_SRC",
        /// Destination address.
        ADDRESS_DST = 6 => "ADDRESS_DST",
        /// Proxy address.
        ADDRESS_PROXY = 7 => "ADDRESS_PROXY",
        /// Authentication key.
        KEY_AUTH = 8 => "KEY_AUTH",
        /// Encryption key.
        KEY_ENCRYPT = 9 => "KEY_ENCRYPT",
        /// Source identity.
        IDENTITY_SRC = 10 => "IDENTITY_SRC",
        /// Destination identity.
        IDENTITY_DST = 11 => "IDENTITY_DST",
        /// Sensitivity.
        SENSITIVITY = 12 => "SENSITIVITY",
        /// Proposal with combs.
        PROPOSAL = 13 => "PROPOSAL",
        /// Supported auth algorithms.
        SUPPORTED_AUTH = 14 => "SUPPORTED_AUTH",
        /// Supported encryption algorithms.
        SUPPORTED_ENCRYPT = 15 => "SUPPORTED_ENCRYPT",
        /// SPI range for GETSPI.
        SPIRANGE = 16 => "SPIRANGE",
        /// Key-manager private data.
        X_KMPRIVATE = 17 => "X_KMPRIVATE",
        /// Policy with IPsec requests.
        X_POLICY = 18 => "X_POLICY",
        /// Mode / reqid / sequence.
        X_SA2 = 19 => "X_SA2",
        /// NAT-T encapsulation type.
        X_NAT_T_TYPE = 20 => "X_NAT_T_TYPE",
        /// NAT-T source port.
        X_NAT_T_SPORT = 21 => "X_NAT_T_SPORT",
        /// NAT-T destination port.
        X_NAT_T_DPORT = 22 => "X_NAT_T_DPORT",
        /// NAT-T original address (Linux 23; BSD calls it NAT_T_OAI).
        X_NAT_T_OA = 23 => "X_NAT_T_OA",
        /// Security context (Linux 24; BSD uses 24 for NAT_T_OAR).
        X_SEC_CTX = 24 => "X_SEC_CTX",
        /// MIGRATE key-manager addresses (Linux 25; BSD uses 25 for NAT_T_FRAG).
        X_KMADDRESS = 25 => "X_KMADDRESS",
        /// Dump filter (Linux 26).
        X_FILTER = 26 => "X_FILTER",
    }
}

impl ExtType {
    /// Highest extension type of the Linux ABI.
    pub const MAX: ExtType = ExtType(26);
}

wire_enum! {
    /// `sadb_sa_state` (u8).
    SaState(u8) {
        /// Larval (after GETSPI).
        LARVAL = 0 => "larval",
        /// Mature.
        MATURE = 1 => "mature",
        /// Soft lifetime expired.
        DYING = 2 => "dying",
        /// Hard lifetime expired.
        DEAD = 3 => "dead",
    }
}

wire_enum! {
    /// IPsec mode (`sadb_x_sa2_mode`, `sadb_x_ipsecrequest_mode`; u8).
    Mode(u8) {
        /// Any.
        ANY = 0 => "any",
        /// Transport.
        TRANSPORT = 1 => "transport",
        /// Tunnel.
        TUNNEL = 2 => "tunnel",
        /// BEET (Linux).
        BEET = 3 => "beet",
    }
}

wire_enum! {
    /// `sadb_x_policy_type` (u16): the policy action.
    PolicyType(u16) {
        /// Drop.
        DISCARD = 0 => "discard",
        /// No IPsec.
        NONE = 1 => "none",
        /// Apply the requests.
        IPSEC = 2 => "ipsec",
        /// Consult the SPD (KAME).
        ENTRUST = 3 => "entrust",
        /// Bypass (KAME, socket policies).
        BYPASS = 4 => "bypass",
    }
}

wire_enum! {
    /// `sadb_x_policy_dir` (u8).
    Dir(u8) {
        /// Any / invalid.
        ANY = 0 => "any",
        /// Inbound.
        IN = 1 => "in",
        /// Outbound.
        OUT = 2 => "out",
        /// Forward (Linux).
        FWD = 3 => "fwd",
    }
}

wire_enum! {
    /// `sadb_x_ipsecrequest_level` (u8).
    Level(u8) {
        /// System default.
        DEFAULT = 0 => "default",
        /// Use an SA if there is one.
        USE = 1 => "use",
        /// Require an SA.
        REQUIRE = 2 => "require",
        /// Require a unique SA (reqid).
        UNIQUE = 3 => "unique",
    }
}

wire_enum! {
    /// Authentication algorithm ids (`sadb_sa_auth`, `sadb_alg_id` in SUPPORTED_AUTH).
    /// Names as `setkey -D` prints them.
    AuthAlg(u8) {
        /// None.
        NONE = 0 => "none",
        /// HMAC-MD5-96.
        HMAC_MD5 = 2 => "hmac-md5",
        /// HMAC-SHA1-96.
        HMAC_SHA1 = 3 => "hmac-sha1",
        /// HMAC-SHA2-256.
        HMAC_SHA256 = 5 => "hmac-sha256",
        /// HMAC-SHA2-384.
        HMAC_SHA384 = 6 => "hmac-sha384",
        /// HMAC-SHA2-512.
        HMAC_SHA512 = 7 => "hmac-sha512",
        /// HMAC-RIPEMD160.
        HMAC_RIPEMD160 = 8 => "hmac-ripemd160",
        /// AES-XCBC-MAC-96.
        AES_XCBC_MAC = 9 => "aes-xcbc-mac",
        /// Keyed MD5 (KAME `SADB_X_AALG_MD5`).
        KEYED_MD5 = 249 => "md5",
        /// Keyed SHA1 (KAME `SADB_X_AALG_SHA`).
        KEYED_SHA1 = 250 => "sha",
        /// Null authentication.
        NULL = 251 => "null",
        /// TCP-MD5 (BSD).
        TCP_MD5 = 252 => "tcp-md5",
    }
}

wire_enum! {
    /// Encryption algorithm ids (`sadb_sa_encrypt`, `sadb_alg_id` in SUPPORTED_ENCRYPT).
    /// Linux numbering; names as `setkey -D` prints them.
    EncAlg(u8) {
        /// None.
        NONE = 0 => "none",
        /// DES-CBC.
        DES_CBC = 2 => "des-cbc",
        /// 3DES-CBC.
        DES3_CBC = 3 => "3des-cbc",
        /// CAST128-CBC.
        CAST128_CBC = 6 => "cast128-cbc",
        /// Blowfish-CBC.
        BLOWFISH_CBC = 7 => "blowfish-cbc",
        /// Null encryption.
        NULL = 11 => "null",
        /// AES-CBC (rijndael-cbc).
        AES_CBC = 12 => "aes-cbc",
        /// AES-CTR.
        AES_CTR = 13 => "aes-ctr",
        /// AES-CCM, 8-byte ICV.
        AES_CCM_8 = 14 => "aes-ccm-8",
        /// AES-CCM, 12-byte ICV.
        AES_CCM_12 = 15 => "aes-ccm-12",
        /// AES-CCM, 16-byte ICV.
        AES_CCM_16 = 16 => "aes-ccm-16",
        /// AES-GCM, 8-byte ICV.
        AES_GCM_8 = 18 => "aes-gcm-8",
        /// AES-GCM, 12-byte ICV.
        AES_GCM_12 = 19 => "aes-gcm-12",
        /// AES-GCM, 16-byte ICV.
        AES_GCM_16 = 20 => "aes-gcm-16",
        /// Camellia-CBC.
        CAMELLIA_CBC = 22 => "camellia-cbc",
        /// NULL with AES-GMAC.
        AES_GMAC = 23 => "aes-gmac",
        /// Serpent-CBC (Linux).
        SERPENT_CBC = 252 => "serpent-cbc",
        /// Twofish-CBC (Linux).
        TWOFISH_CBC = 253 => "twofish-cbc",
    }
}

wire_enum! {
    /// IPComp algorithm ids (carried in `sadb_sa_encrypt` for IPCOMP SAs).
    CompAlg(u8) {
        /// None.
        NONE = 0 => "none",
        /// OUI.
        OUI = 1 => "oui",
        /// Deflate.
        DEFLATE = 2 => "deflate",
        /// LZS.
        LZS = 3 => "lzs",
        /// LZJH.
        LZJH = 4 => "lzjh",
    }
}

wire_enum! {
    /// `sadb_ident_type` (u16).
    IdentType(u16) {
        /// Reserved.
        RESERVED = 0 => "reserved",
        /// Address prefix.
        PREFIX = 1 => "prefix",
        /// FQDN.
        FQDN = 2 => "fqdn",
        /// user@FQDN.
        USERFQDN = 3 => "user_fqdn",
        /// KAME `SADB_X_IDENTTYPE_ADDR`.
        ADDR = 4 => "addr",
    }
}

wire_enum! {
    /// `sadb_x_nat_t_type_type` (u8): UDP encapsulation type.
    NatTType(u8) {
        /// draft non-IKE marker (`UDP_ENCAP_ESPINUDP_NON_IKE`).
        ESPINUDP_NON_IKE = 1 => "esp-udp-non-ike",
        /// RFC 3948 (`UDP_ENCAP_ESPINUDP`).
        ESPINUDP = 2 => "esp-udp",
    }
}

wire_enum! {
    /// `sadb_x_ipsecrequest_proto` (u16): an IP protocol number, not a satype.
    IpsecProto(u16) {
        /// Any (used in policy templates).
        ANY = 0 => "any",
        /// ESP (50).
        ESP = 50 => "esp",
        /// AH (51).
        AH = 51 => "ah",
        /// IPComp (108).
        IPCOMP = 108 => "ipcomp",
    }
}

/// `sadb_sa_flags` (u32 bit set). Unknown bits are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SaFlags(pub u32);

impl SaFlags {
    /// No flags.
    pub const NONE: SaFlags = SaFlags(0);
    /// RFC 2367 PFS flag (`SADB_SAFLAGS_PFS`), KAME `SADB_X_EXT_OLD`.
    pub const PFS: SaFlags = SaFlags(0x1);
    /// KAME `SADB_X_EXT_OLD` (same bit as PFS).
    pub const OLD: SaFlags = SaFlags(0x1);
    /// KAME `SADB_X_EXT_IV4B`: 4-byte IV (des-32iv).
    pub const IV4B: SaFlags = SaFlags(0x10);
    /// KAME `SADB_X_EXT_DERIV`: derived IV (des-deriv).
    pub const DERIV: SaFlags = SaFlags(0x20);
    /// KAME `SADB_X_EXT_CYCSEQ`: allow sequence wrap.
    pub const CYCSEQ: SaFlags = SaFlags(0x40);
    /// KAME `SADB_X_EXT_RAWCPI`: SPI is a raw CPI (IPComp `-R`).
    pub const RAWCPI: SaFlags = SaFlags(0x80);
    /// KAME `SADB_X_EXT_PRAND`: random padding.
    pub const PRAND: SaFlags = SaFlags(0x100);
    /// KAME `SADB_X_EXT_PZERO`: zero padding.
    pub const PZERO: SaFlags = SaFlags(0x200);
    /// Linux `SADB_SAFLAGS_NOPMTUDISC`.
    pub const NOPMTUDISC: SaFlags = SaFlags(0x2000_0000);
    /// Linux `SADB_SAFLAGS_DECAP_DSCP`.
    pub const DECAP_DSCP: SaFlags = SaFlags(0x4000_0000);
    /// Linux `SADB_SAFLAGS_NOECN`.
    pub const NOECN: SaFlags = SaFlags(0x8000_0000);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: SaFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for SaFlags {
    type Output = SaFlags;
    fn bitor(self, rhs: SaFlags) -> SaFlags {
        SaFlags(self.0 | rhs.0)
    }
}

impl core::fmt::Debug for SaFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SaFlags({:#x})", self.0)
    }
}

/// `IPSEC_MANUAL_REQID_MAX`: reqids above this were assigned by the kernel
/// (`setkey -DP` prints `#N` instead of `:N`).
pub const IPSEC_MANUAL_REQID_MAX: u32 = 0x3fff;
/// `IPSEC_ULPROTO_ANY`: any upper-layer protocol in `sadb_address_proto`.
pub const IPSEC_ULPROTO_ANY: u8 = 255;
/// `IPSEC_PORT_ANY`.
pub const IPSEC_PORT_ANY: u16 = 0;
/// `PF_KEY_V2`: the only accepted `sadb_msg_version`.
pub const PF_KEY_V2: u8 = 2;
/// Linux default policy priority (`def`).
pub const PRIORITY_DEFAULT: u32 = 0x8000_0000;
/// Linux `low` policy priority.
pub const PRIORITY_LOW: u32 = 0xC000_0000;
/// Linux `high` policy priority.
pub const PRIORITY_HIGH: u32 = 0x4000_0000;
