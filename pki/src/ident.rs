//! Identities: our `my_identifier asn1dn`, and whether the peer's ID payload matches its
//! certificate (`verify_identifier`) or a configured `peers_identifier`.

use crate::cert::{Certificate, SanEntry};
use crate::dn::{asn1dn_from_config, dn_to_string, names_equal, DnPattern};
use crate::error::{IdentityError, ParseError};

/// A phase-1 identity as carried by an ID payload (RFC 2407 §4.6.2), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerId<'a> {
    /// ID_IPV4_ADDR (1).
    Ipv4([u8; 4]),
    /// ID_FQDN (2).
    Fqdn(&'a [u8]),
    /// ID_USER_FQDN (3).
    UserFqdn(&'a [u8]),
    /// ID_IPV6_ADDR (5).
    Ipv6([u8; 16]),
    /// ID_DER_ASN1_DN (9).
    Asn1Dn(&'a [u8]),
    /// Any other type (value = the type number).
    Other(u8, &'a [u8]),
}

impl PeerId<'_> {
    /// Builds from the ID payload's type number and data.
    pub fn from_payload(id_type: u8, data: &[u8]) -> Result<PeerId<'_>, IdentityError> {
        Ok(match id_type {
            1 => PeerId::Ipv4(
                data.try_into()
                    .map_err(|_| IdentityError::Malformed("IPV4_ADDR is not 4 bytes".into()))?,
            ),
            2 => PeerId::Fqdn(data),
            3 => PeerId::UserFqdn(data),
            5 => PeerId::Ipv6(
                data.try_into()
                    .map_err(|_| IdentityError::Malformed("IPV6_ADDR is not 16 bytes".into()))?,
            ),
            9 => PeerId::Asn1Dn(data),
            t => PeerId::Other(t, data),
        })
    }

    fn describe(&self) -> String {
        let lossy = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(256)]).into_owned();
        match self {
            PeerId::Ipv4(a) => format!("IPV4_ADDR {}", std::net::Ipv4Addr::from(*a)),
            PeerId::Ipv6(a) => format!("IPV6_ADDR {}", std::net::Ipv6Addr::from(*a)),
            PeerId::Fqdn(d) => format!("FQDN \"{}\"", lossy(d).escape_debug()),
            PeerId::UserFqdn(d) => format!("USER_FQDN \"{}\"", lossy(d).escape_debug()),
            PeerId::Asn1Dn(d) => match dn_to_string(d) {
                Ok(s) => format!("ASN1_DN \"{s}\""),
                Err(_) => "ASN1_DN (malformed)".into(),
            },
            PeerId::Other(t, _) => format!("type {t}"),
        }
    }
}

/// `verify_identifier on`: does the peer's ID payload name its certificate? ASN1_DN must equal
/// the subject; FQDN, USER_FQDN and addresses must appear as dNSName, rfc822Name or iPAddress in
/// subjectAltName (names compared case-insensitively).
pub fn verify_identifier(id: &PeerId<'_>, cert: &Certificate) -> Result<(), IdentityError> {
    let ok = match id {
        PeerId::Asn1Dn(d) => {
            if dn_to_string(d).is_err() {
                return Err(IdentityError::Malformed("ASN1_DN does not parse".into()));
            }
            names_equal(d, cert.subject_der())
        }
        PeerId::Fqdn(d) => cert
            .san()
            .iter()
            .any(|s| matches!(s, SanEntry::Dns(n) if n.as_bytes().eq_ignore_ascii_case(d))),
        PeerId::UserFqdn(d) => cert
            .san()
            .iter()
            .any(|s| matches!(s, SanEntry::Email(n) if n.as_bytes().eq_ignore_ascii_case(d))),
        PeerId::Ipv4(a) => cert
            .san()
            .iter()
            .any(|s| matches!(s, SanEntry::Ip(ip) if ip.as_slice() == a)),
        PeerId::Ipv6(a) => cert
            .san()
            .iter()
            .any(|s| matches!(s, SanEntry::Ip(ip) if ip.as_slice() == a)),
        PeerId::Other(..) => return Err(IdentityError::Unsupported(id.describe())),
    };
    if ok {
        Ok(())
    } else {
        Err(IdentityError::Mismatch {
            id: id.describe(),
            subject: cert.subject().to_owned(),
        })
    }
}

/// `peers_identifier asn1dn "pattern"`: does the peer's ASN1_DN ID match (wildcards allowed)?
/// Without a pattern (`peers_identifier asn1dn;`) the peer's ID must be its certificate's subject.
pub fn check_peers_asn1dn(
    pattern: Option<&DnPattern>,
    id_der: &[u8],
    peer_cert: Option<&Certificate>,
) -> Result<(), IdentityError> {
    let id = PeerId::Asn1Dn(id_der);
    let ok = match (pattern, peer_cert) {
        (Some(p), _) => p.matches(id_der),
        (None, Some(c)) => names_equal(id_der, c.subject_der()),
        (None, None) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(IdentityError::Mismatch {
            id: id.describe(),
            subject: match (pattern, peer_cert) {
                (Some(p), _) => format!("pattern {}", p.as_str()),
                (None, Some(c)) => c.subject().to_owned(),
                (None, None) => "(no certificate)".into(),
            },
        })
    }
}

/// `my_identifier asn1dn [value]`: explicit DN string or `"~HEX"`, else our certificate's
/// subject (error without either, as racoon refuses such a configuration).
pub fn my_asn1dn(
    explicit: Option<&str>,
    cert: Option<&Certificate>,
) -> Result<Vec<u8>, ParseError> {
    match (explicit, cert) {
        (Some(s), _) => asn1dn_from_config(s),
        (None, Some(c)) => Ok(c.subject_der().to_vec()),
        (None, None) => Err(ParseError::Dn(
            "my_identifier asn1dn without a value needs certificate_type x509".into(),
        )),
    }
}
