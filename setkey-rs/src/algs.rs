//! Names and numbers: algorithms, SA types, modes, flags, IP protocols.
//!
//! Values are the PF_KEY v2 numbers of the Linux ABI (RFC 2367 plus the KAME
//! `SADB_X_*` extensions) as setkey uses them.

pub const SATYPE_UNSPEC: u8 = 0;
pub const SATYPE_AH: u8 = 2;
pub const SATYPE_ESP: u8 = 3;
pub const SATYPE_IPCOMP: u8 = 9;
pub const SATYPE_TCPSIGNATURE: u8 = 11;

pub const MODE_ANY: u8 = 0;
pub const MODE_TRANSPORT: u8 = 1;
pub const MODE_TUNNEL: u8 = 2;

pub const EXT_OLD: u32 = 0x1;
pub const EXT_IV4B: u32 = 0x10;
pub const EXT_DERIV: u32 = 0x20;
pub const EXT_CYCSEQ: u32 = 0x40;
pub const EXT_RAWCPI: u32 = 0x80;
pub const EXT_PRAND: u32 = 0x100;
pub const EXT_PZERO: u32 = 0x200;
pub const EXT_PSEQ: u32 = 0;

pub const CALG_NONE: u8 = 0;
pub const CALG_OUI: u8 = 1;
pub const CALG_DEFLATE: u8 = 2;
pub const CALG_LZS: u8 = 3;

pub const AALG_NONE: u8 = 0;
pub const AALG_MD5HMAC: u8 = 2;
pub const AALG_SHA1HMAC: u8 = 3;
pub const AALG_SHA2_256: u8 = 5;
pub const AALG_SHA2_384: u8 = 6;
pub const AALG_SHA2_512: u8 = 7;
pub const AALG_RIPEMD160HMAC: u8 = 8;
pub const AALG_AES_XCBC_MAC: u8 = 9;
pub const AALG_MD5: u8 = 249;
pub const AALG_SHA: u8 = 250;
pub const AALG_NULL: u8 = 251;
pub const AALG_TCP_MD5: u8 = 252;

pub const EALG_NONE: u8 = 0;
pub const EALG_DESCBC: u8 = 2;
pub const EALG_3DESCBC: u8 = 3;
pub const EALG_RC5CBC: u8 = 4;
pub const EALG_CAST128CBC: u8 = 6;
pub const EALG_BLOWFISHCBC: u8 = 7;
pub const EALG_NULL: u8 = 11;
pub const EALG_AESCBC: u8 = 12;
pub const EALG_AESCTR: u8 = 13;
pub const EALG_AES_GCM16: u8 = 20;
pub const EALG_CAMELLIACBC: u8 = 22;
pub const EALG_AES_GMAC: u8 = 23;
pub const EALG_TWOFISHCBC: u8 = 253;

/// IP protocol numbers used in policies.
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_IPV4: u8 = 4;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_GRE: u8 = 47;
pub const IPPROTO_ESP: u16 = 50;
pub const IPPROTO_AH: u16 = 51;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_IPCOMP: u16 = 108;
pub const IPPROTO_MH: u8 = 135;
pub const ULPROTO_ANY: u8 = 255;

/// Default NAT-T port for `esp-udp`.
pub const NATT_PORT: u16 = 4500;
/// UDP_ENCAP_ESPINUDP.
pub const NATT_TYPE_ESPINUDP: u8 = 2;

#[derive(Debug, Clone, Copy)]
pub struct AuthAlg {
    pub name: &'static str,
    pub id: u8,
    pub nokey: bool,
}

const AUTH: &[AuthAlg] = &[
    AuthAlg {
        name: "hmac-md5",
        id: AALG_MD5HMAC,
        nokey: false,
    },
    AuthAlg {
        name: "hmac-sha1",
        id: AALG_SHA1HMAC,
        nokey: false,
    },
    AuthAlg {
        name: "keyed-md5",
        id: AALG_MD5,
        nokey: false,
    },
    AuthAlg {
        name: "keyed-sha1",
        id: AALG_SHA,
        nokey: false,
    },
    AuthAlg {
        name: "hmac-sha2-256",
        id: AALG_SHA2_256,
        nokey: false,
    },
    AuthAlg {
        name: "hmac-sha256",
        id: AALG_SHA2_256,
        nokey: false,
    },
    AuthAlg {
        name: "hmac-sha2-384",
        id: AALG_SHA2_384,
        nokey: false,
    },
    AuthAlg {
        name: "hmac-sha384",
        id: AALG_SHA2_384,
        nokey: false,
    },
    AuthAlg {
        name: "hmac-sha2-512",
        id: AALG_SHA2_512,
        nokey: false,
    },
    AuthAlg {
        name: "hmac-sha512",
        id: AALG_SHA2_512,
        nokey: false,
    },
    AuthAlg {
        name: "hmac-ripemd160",
        id: AALG_RIPEMD160HMAC,
        nokey: false,
    },
    AuthAlg {
        name: "aes-xcbc-mac",
        id: AALG_AES_XCBC_MAC,
        nokey: false,
    },
    AuthAlg {
        name: "tcp-md5",
        id: AALG_TCP_MD5,
        nokey: false,
    },
    AuthAlg {
        name: "null",
        id: AALG_NULL,
        nokey: true,
    },
];

pub fn auth_by_name(name: &str) -> Option<AuthAlg> {
    AUTH.iter().copied().find(|a| a.name == name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncKind {
    Key,
    NoKey,
    Old,
    DesDeriv,
    Des32Iv,
}

#[derive(Debug, Clone, Copy)]
pub struct EncAlg {
    pub name: &'static str,
    pub id: u8,
    pub kind: EncKind,
}

const ENC: &[EncAlg] = &[
    EncAlg {
        name: "des-cbc",
        id: EALG_DESCBC,
        kind: EncKind::Key,
    },
    EncAlg {
        name: "3des-cbc",
        id: EALG_3DESCBC,
        kind: EncKind::Key,
    },
    EncAlg {
        name: "null",
        id: EALG_NULL,
        kind: EncKind::NoKey,
    },
    EncAlg {
        name: "simple",
        id: EALG_NULL,
        kind: EncKind::Old,
    },
    EncAlg {
        name: "blowfish-cbc",
        id: EALG_BLOWFISHCBC,
        kind: EncKind::Key,
    },
    EncAlg {
        name: "cast128-cbc",
        id: EALG_CAST128CBC,
        kind: EncKind::Key,
    },
    EncAlg {
        name: "des-deriv",
        id: EALG_DESCBC,
        kind: EncKind::DesDeriv,
    },
    EncAlg {
        name: "des-32iv",
        id: EALG_DESCBC,
        kind: EncKind::Des32Iv,
    },
    EncAlg {
        name: "twofish-cbc",
        id: EALG_TWOFISHCBC,
        kind: EncKind::Key,
    },
    EncAlg {
        name: "aes-cbc",
        id: EALG_AESCBC,
        kind: EncKind::Key,
    },
    EncAlg {
        name: "rijndael-cbc",
        id: EALG_AESCBC,
        kind: EncKind::Key,
    },
    EncAlg {
        name: "aes-ctr",
        id: EALG_AESCTR,
        kind: EncKind::Key,
    },
    EncAlg {
        name: "camellia-cbc",
        id: EALG_CAMELLIACBC,
        kind: EncKind::Key,
    },
    EncAlg {
        name: "aes-gcm-16",
        id: EALG_AES_GCM16,
        kind: EncKind::Key,
    },
    EncAlg {
        name: "aes-gmac",
        id: EALG_AES_GMAC,
        kind: EncKind::Key,
    },
];

pub fn enc_by_name(name: &str) -> Option<EncAlg> {
    ENC.iter().copied().find(|a| a.name == name)
}

/// Names printed by `setkey -D` for `sadb_sa_encrypt` (ESP).
pub fn ealg_name(id: u8) -> Option<&'static str> {
    Some(match id {
        EALG_NONE => "none",
        EALG_DESCBC => "des-cbc",
        EALG_3DESCBC => "3des-cbc",
        EALG_NULL => "null",
        EALG_RC5CBC => "rc5-cbc",
        EALG_CAST128CBC => "cast128-cbc",
        EALG_BLOWFISHCBC => "blowfish-cbc",
        EALG_AESCBC => "aes-cbc",
        EALG_TWOFISHCBC => "twofish-cbc",
        EALG_AESCTR => "aes-ctr",
        EALG_CAMELLIACBC => "camellia-cbc",
        EALG_AES_GCM16 => "aes-gcm-16",
        EALG_AES_GMAC => "aes-gmac",
        _ => return None,
    })
}

/// Names printed by `setkey -D` for `sadb_sa_auth`.
pub fn aalg_name(id: u8) -> Option<&'static str> {
    Some(match id {
        AALG_NONE => "none",
        AALG_MD5HMAC => "hmac-md5",
        AALG_SHA1HMAC => "hmac-sha1",
        AALG_MD5 => "md5",
        AALG_SHA => "sha",
        AALG_NULL => "null",
        AALG_TCP_MD5 => "tcp-md5",
        AALG_SHA2_256 => "hmac-sha256",
        AALG_SHA2_384 => "hmac-sha384",
        AALG_SHA2_512 => "hmac-sha512",
        AALG_RIPEMD160HMAC => "hmac-ripemd160",
        AALG_AES_XCBC_MAC => "aes-xcbc-mac",
        _ => return None,
    })
}

/// Names printed by `setkey -D` for IPComp algorithms.
pub fn calg_name(id: u8) -> Option<&'static str> {
    Some(match id {
        CALG_NONE => "none",
        CALG_OUI => "oui",
        CALG_DEFLATE => "deflate",
        CALG_LZS => "lzs",
        _ => return None,
    })
}

/// `str_satype` of pfkey_dump.c.
pub fn satype_name(t: u8) -> Option<&'static str> {
    const T: [&str; 12] = [
        "unspec", "unknown", "ah", "esp", "unknown", "rsvp", "ospfv2", "ripv2", "mip", "ipcomp",
        "policy", "tcp",
    ];
    T.get(usize::from(t)).copied()
}

pub fn mode_name(m: u8) -> Option<&'static str> {
    ["any", "transport", "tunnel"].get(usize::from(m)).copied()
}

pub fn state_name(s: u8) -> Option<&'static str> {
    ["larval", "mature", "dying", "dead"]
        .get(usize::from(s))
        .copied()
}

/// The IP protocol database (the Debian netbase `/etc/protocols` names), so
/// that parsing and printing do not depend on the host's files.
const PROTOCOLS: &[(&str, u8, &[&str])] = &[
    ("ip", 0, &["IP"]),
    ("hopopt", 0, &["HOPOPT"]),
    ("icmp", 1, &["ICMP"]),
    ("igmp", 2, &["IGMP"]),
    ("ggp", 3, &["GGP"]),
    ("ipencap", 4, &["IP-ENCAP"]),
    ("st", 5, &["ST"]),
    ("tcp", 6, &["TCP"]),
    ("egp", 8, &["EGP"]),
    ("igp", 9, &["IGP"]),
    ("pup", 12, &["PUP"]),
    ("udp", 17, &["UDP"]),
    ("hmp", 20, &["HMP"]),
    ("xns-idp", 22, &["XNS-IDP"]),
    ("rdp", 27, &["RDP"]),
    ("iso-tp4", 29, &["ISO-TP4"]),
    ("dccp", 33, &["DCCP"]),
    ("xtp", 36, &["XTP"]),
    ("ddp", 37, &["DDP"]),
    ("idpr-cmtp", 38, &["IDPR-CMTP"]),
    ("ipv6", 41, &["IPv6"]),
    ("ipv6-route", 43, &["IPv6-Route"]),
    ("ipv6-frag", 44, &["IPv6-Frag"]),
    ("idrp", 45, &["IDRP"]),
    ("rsvp", 46, &["RSVP"]),
    ("gre", 47, &["GRE"]),
    ("esp", 50, &["IPSEC-ESP"]),
    ("ah", 51, &["IPSEC-AH"]),
    ("skip", 57, &["SKIP"]),
    ("ipv6-icmp", 58, &["IPv6-ICMP"]),
    ("ipv6-nonxt", 59, &["IPv6-NoNxt"]),
    ("ipv6-opts", 60, &["IPv6-Opts"]),
    ("rspf", 73, &["RSPF", "CPHB"]),
    ("vmtp", 81, &["VMTP"]),
    ("eigrp", 88, &["EIGRP"]),
    ("ospf", 89, &["OSPFIGP"]),
    ("ax.25", 93, &["AX.25"]),
    ("ipip", 94, &["IPIP"]),
    ("etherip", 97, &["ETHERIP"]),
    ("encap", 98, &["ENCAP"]),
    ("pim", 103, &["PIM"]),
    ("ipcomp", 108, &["IPCOMP"]),
    ("vrrp", 112, &["VRRP"]),
    ("l2tp", 115, &["L2TP"]),
    ("isis", 124, &["ISIS"]),
    ("sctp", 132, &["SCTP"]),
    ("fc", 133, &["FC"]),
    ("mobility-header", 135, &["Mobility-Header"]),
    ("udplite", 136, &["UDPLite"]),
    ("mpls-in-ip", 137, &["MPLS-in-IP"]),
    ("manet", 138, &[]),
    ("hip", 139, &["HIP"]),
    ("shim6", 140, &["Shim6"]),
    ("wesp", 141, &["WESP"]),
    ("rohc", 142, &["ROHC"]),
    ("ethernet", 143, &["Ethernet"]),
];

/// getprotobyname(): name or alias → number.
pub fn proto_by_name(name: &str) -> Option<u8> {
    PROTOCOLS
        .iter()
        .find(|(n, _, al)| *n == name || al.contains(&name))
        .map(|(_, v, _)| *v)
}

/// getprotobynumber(): number → official name.
pub fn proto_by_number(v: u8) -> Option<&'static str> {
    PROTOCOLS
        .iter()
        .find(|(_, n, _)| *n == v)
        .map(|(n, _, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        assert_eq!(auth_by_name("hmac-sha2-256").map(|a| a.id), Some(5));
        assert_eq!(auth_by_name("hmac-sha256").map(|a| a.id), Some(5));
        assert!(auth_by_name("null").is_some_and(|a| a.nokey));
        assert_eq!(enc_by_name("rijndael-cbc").map(|a| a.id), Some(12));
        assert_eq!(enc_by_name("simple").map(|a| a.kind), Some(EncKind::Old));
        assert_eq!(ealg_name(3), Some("3des-cbc"));
        assert_eq!(aalg_name(250), Some("sha"));
        assert_eq!(proto_by_name("icmp"), Some(1));
        assert_eq!(proto_by_name("IPv6-ICMP"), Some(58));
        assert_eq!(proto_by_number(0), Some("ip"));
        assert_eq!(proto_by_number(255), None);
        assert_eq!(satype_name(11), Some("tcp"));
        assert_eq!(satype_name(12), None);
    }
}
