//! Wire enums as newtypes with named constants, so unknown values round-trip unchanged.

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident($ty:ty) { $($(#[$cm:meta])* $c:ident = $v:expr => $s:expr,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $ty);
        #[allow(missing_docs)]
        impl $name {
            $($(#[$cm])* pub const $c: $name = $name($v);)*
            /// The registered name of the value, if known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $($v => Some($s),)* _ => None }
            }
        }
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}", n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }
        impl From<$ty> for $name { fn from(v: $ty) -> Self { $name(v) } }
        impl From<$name> for $ty { fn from(v: $name) -> Self { v.0 } }
    };
}
pub(crate) use wire_enum;

wire_enum! {
    /// ISAKMP next-payload / payload type (RFC 2408 §3.1, RFC 3947, draft NAT-T, fragmentation).
    PayloadType(u8) {
        NONE = 0 => "NONE",
        SA = 1 => "SA",
        PROPOSAL = 2 => "P",
        TRANSFORM = 3 => "T",
        KE = 4 => "KE",
        ID = 5 => "ID",
        CERT = 6 => "CERT",
        CR = 7 => "CR",
        HASH = 8 => "HASH",
        SIG = 9 => "SIG",
        NONCE = 10 => "NONCE",
        NOTIFY = 11 => "N",
        DELETE = 12 => "D",
        VENDOR_ID = 13 => "VID",
        ATTR = 14 => "ATTR",
        NAT_D = 20 => "NAT-D",
        NAT_OA = 21 => "NAT-OA",
        NAT_D_DRAFT = 130 => "NAT-D(draft)",
        NAT_OA_DRAFT = 131 => "NAT-OA(draft)",
        FRAGMENT = 132 => "FRAG",
    }
}

wire_enum! {
    /// Exchange type (RFC 2408 §3.1, RFC 2409, mode-config draft).
    ExchangeType(u8) {
        NONE = 0 => "NONE",
        BASE = 1 => "Base",
        IDENTITY_PROTECTION = 2 => "Main",
        AUTH_ONLY = 3 => "Auth-Only",
        AGGRESSIVE = 4 => "Aggressive",
        INFORMATIONAL = 5 => "Informational",
        TRANSACTION = 6 => "Transaction",
        QUICK = 32 => "Quick",
        NEW_GROUP = 33 => "New-Group",
    }
}

impl ExchangeType {
    /// Main Mode, the usual name for Identity Protection.
    pub const MAIN: ExchangeType = ExchangeType::IDENTITY_PROTECTION;
}

/// ISAKMP header flags (RFC 2408 §3.1). Unknown bits are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// E: the payloads after the header are encrypted.
    pub const ENCRYPTION: Flags = Flags(0x01);
    /// C: commit bit (RFC 2408 §3.1, used in Quick Mode).
    pub const COMMIT: Flags = Flags(0x02);
    /// A: authentication only.
    pub const AUTH_ONLY: Flags = Flags(0x04);

    /// True when all bits of `other` are set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Sets or clears the bits of `other`.
    pub fn set(&mut self, other: Flags, on: bool) {
        if on {
            self.0 |= other.0
        } else {
            self.0 &= !other.0
        }
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, o: Flags) -> Flags {
        Flags(self.0 | o.0)
    }
}

impl core::fmt::Debug for Flags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Flags(")?;
        for (b, n) in [(1, "E"), (2, "C"), (4, "A")] {
            if self.0 & b != 0 {
                write!(f, "{n}")?;
            }
        }
        if self.0 & !7 != 0 {
            write!(f, "|{:#04x}", self.0 & !7)?;
        }
        write!(f, ")")
    }
}

wire_enum! {
    /// Domain of interpretation.
    Doi(u32) {
        ISAKMP = 0 => "ISAKMP",
        IPSEC = 1 => "IPSEC",
    }
}

wire_enum! {
    /// Protocol identifier (RFC 2407 §4.4.1).
    ProtocolId(u8) {
        RESERVED = 0 => "RESERVED",
        ISAKMP = 1 => "ISAKMP",
        IPSEC_AH = 2 => "AH",
        IPSEC_ESP = 3 => "ESP",
        IPCOMP = 4 => "IPCOMP",
    }
}

wire_enum! {
    /// Identification type (RFC 2407 §4.6.2.1).
    IdType(u8) {
        IPV4_ADDR = 1 => "ID_IPV4_ADDR",
        FQDN = 2 => "ID_FQDN",
        USER_FQDN = 3 => "ID_USER_FQDN",
        IPV4_ADDR_SUBNET = 4 => "ID_IPV4_ADDR_SUBNET",
        IPV6_ADDR = 5 => "ID_IPV6_ADDR",
        IPV6_ADDR_SUBNET = 6 => "ID_IPV6_ADDR_SUBNET",
        IPV4_ADDR_RANGE = 7 => "ID_IPV4_ADDR_RANGE",
        IPV6_ADDR_RANGE = 8 => "ID_IPV6_ADDR_RANGE",
        DER_ASN1_DN = 9 => "ID_DER_ASN1_DN",
        DER_ASN1_GN = 10 => "ID_DER_ASN1_GN",
        KEY_ID = 11 => "ID_KEY_ID",
    }
}

wire_enum! {
    /// Notify message type (RFC 2408 §3.14.1, RFC 2407 §4.6.3, RFC 3706).
    NotifyType(u16) {
        INVALID_PAYLOAD_TYPE = 1 => "INVALID-PAYLOAD-TYPE",
        DOI_NOT_SUPPORTED = 2 => "DOI-NOT-SUPPORTED",
        SITUATION_NOT_SUPPORTED = 3 => "SITUATION-NOT-SUPPORTED",
        INVALID_COOKIE = 4 => "INVALID-COOKIE",
        INVALID_MAJOR_VERSION = 5 => "INVALID-MAJOR-VERSION",
        INVALID_MINOR_VERSION = 6 => "INVALID-MINOR-VERSION",
        INVALID_EXCHANGE_TYPE = 7 => "INVALID-EXCHANGE-TYPE",
        INVALID_FLAGS = 8 => "INVALID-FLAGS",
        INVALID_MESSAGE_ID = 9 => "INVALID-MESSAGE-ID",
        INVALID_PROTOCOL_ID = 10 => "INVALID-PROTOCOL-ID",
        INVALID_SPI = 11 => "INVALID-SPI",
        INVALID_TRANSFORM_ID = 12 => "INVALID-TRANSFORM-ID",
        ATTRIBUTES_NOT_SUPPORTED = 13 => "ATTRIBUTES-NOT-SUPPORTED",
        NO_PROPOSAL_CHOSEN = 14 => "NO-PROPOSAL-CHOSEN",
        BAD_PROPOSAL_SYNTAX = 15 => "BAD-PROPOSAL-SYNTAX",
        PAYLOAD_MALFORMED = 16 => "PAYLOAD-MALFORMED",
        INVALID_KEY_INFORMATION = 17 => "INVALID-KEY-INFORMATION",
        INVALID_ID_INFORMATION = 18 => "INVALID-ID-INFORMATION",
        INVALID_CERT_ENCODING = 19 => "INVALID-CERT-ENCODING",
        INVALID_CERTIFICATE = 20 => "INVALID-CERTIFICATE",
        CERT_TYPE_UNSUPPORTED = 21 => "CERT-TYPE-UNSUPPORTED",
        INVALID_CERT_AUTHORITY = 22 => "INVALID-CERT-AUTHORITY",
        INVALID_HASH_INFORMATION = 23 => "INVALID-HASH-INFORMATION",
        AUTHENTICATION_FAILED = 24 => "AUTHENTICATION-FAILED",
        INVALID_SIGNATURE = 25 => "INVALID-SIGNATURE",
        ADDRESS_NOTIFICATION = 26 => "ADDRESS-NOTIFICATION",
        NOTIFY_SA_LIFETIME = 27 => "NOTIFY-SA-LIFETIME",
        CERTIFICATE_UNAVAILABLE = 28 => "CERTIFICATE-UNAVAILABLE",
        UNSUPPORTED_EXCHANGE_TYPE = 29 => "UNSUPPORTED-EXCHANGE-TYPE",
        UNEQUAL_PAYLOAD_LENGTHS = 30 => "UNEQUAL-PAYLOAD-LENGTHS",
        CONNECTED = 16384 => "CONNECTED",
        RESPONDER_LIFETIME = 24576 => "RESPONDER-LIFETIME",
        REPLAY_STATUS = 24577 => "REPLAY-STATUS",
        INITIAL_CONTACT = 24578 => "INITIAL-CONTACT",
        R_U_THERE = 36136 => "R-U-THERE",
        R_U_THERE_ACK = 36137 => "R-U-THERE-ACK",
    }
}

impl NotifyType {
    /// Error notifies are 1..=16383 (RFC 2408 §3.14.1).
    pub fn is_error(self) -> bool {
        (1..16384).contains(&self.0)
    }
}

wire_enum! {
    /// Certificate encoding (RFC 2408 §3.9).
    CertEncoding(u8) {
        NONE = 0 => "NONE",
        PKCS7 = 1 => "PKCS7",
        PGP = 2 => "PGP",
        DNS_SIGNED_KEY = 3 => "DNS-SIGNED-KEY",
        X509_SIG = 4 => "X.509-SIG",
        X509_KEY_EXCHANGE = 5 => "X.509-KE",
        KERBEROS = 6 => "KERBEROS",
        CRL = 7 => "CRL",
        ARL = 8 => "ARL",
        SPKI = 9 => "SPKI",
        X509_ATTRIBUTE = 10 => "X.509-ATTR",
        PLAIN_RSA = 11 => "PLAIN-RSA",
    }
}

wire_enum! {
    /// Mode-config message type in the ATTR payload (draft-ietf-ipsec-isakmp-mode-cfg).
    CfgType(u8) {
        REQUEST = 1 => "CFG_REQUEST",
        REPLY = 2 => "CFG_REPLY",
        SET = 3 => "CFG_SET",
        ACK = 4 => "CFG_ACK",
    }
}

wire_enum! {
    /// Mode-config and XAUTH attribute types.
    CfgAttrType(u16) {
        INTERNAL_IP4_ADDRESS = 1 => "INTERNAL_IP4_ADDRESS",
        INTERNAL_IP4_NETMASK = 2 => "INTERNAL_IP4_NETMASK",
        INTERNAL_IP4_DNS = 3 => "INTERNAL_IP4_DNS",
        INTERNAL_IP4_NBNS = 4 => "INTERNAL_IP4_NBNS",
        INTERNAL_ADDRESS_EXPIRY = 5 => "INTERNAL_ADDRESS_EXPIRY",
        INTERNAL_IP4_DHCP = 6 => "INTERNAL_IP4_DHCP",
        APPLICATION_VERSION = 7 => "APPLICATION_VERSION",
        INTERNAL_IP6_ADDRESS = 8 => "INTERNAL_IP6_ADDRESS",
        INTERNAL_IP6_NETMASK = 9 => "INTERNAL_IP6_NETMASK",
        INTERNAL_IP6_DNS = 10 => "INTERNAL_IP6_DNS",
        INTERNAL_IP6_NBNS = 11 => "INTERNAL_IP6_NBNS",
        INTERNAL_IP6_DHCP = 12 => "INTERNAL_IP6_DHCP",
        INTERNAL_IP4_SUBNET = 13 => "INTERNAL_IP4_SUBNET",
        SUPPORTED_ATTRIBUTES = 14 => "SUPPORTED_ATTRIBUTES",
        INTERNAL_IP6_SUBNET = 15 => "INTERNAL_IP6_SUBNET",
        XAUTH_TYPE = 16520 => "XAUTH_TYPE",
        XAUTH_USER_NAME = 16521 => "XAUTH_USER_NAME",
        XAUTH_USER_PASSWORD = 16522 => "XAUTH_USER_PASSWORD",
        XAUTH_PASSCODE = 16523 => "XAUTH_PASSCODE",
        XAUTH_MESSAGE = 16524 => "XAUTH_MESSAGE",
        XAUTH_CHALLENGE = 16525 => "XAUTH_CHALLENGE",
        XAUTH_DOMAIN = 16526 => "XAUTH_DOMAIN",
        XAUTH_STATUS = 16527 => "XAUTH_STATUS",
        XAUTH_NEXT_PIN = 16528 => "XAUTH_NEXT_PIN",
        XAUTH_ANSWER = 16529 => "XAUTH_ANSWER",
    }
}
