//! CERT REQUEST payload helpers (RFC 2408 §3.10). The payload's CA field holds the DER Name of an
//! acceptable CA (encoding 4, X.509 signature) or is empty ("any CA").
//!
//! `match_empty_cr` (racoon, default off): when a remote section is chosen by the CR received, a
//! CR naming a CA selects the sections whose certificate chain contains that CA; an *empty* CR
//! selects a section only if that section says `match_empty_cr on`. [`cert_request_matches`]
//! implements exactly this test.

use crate::cert::Certificate;
use crate::dn::names_equal;

/// The CA field of our CR payload: the subject of the CA we want the peer's certificate to chain
/// to (`ca_type x509` file), or empty (any CA) when none is configured.
pub fn build_cert_request(ca: Option<&Certificate>) -> Vec<u8> {
    ca.map(|c| c.subject_der().to_vec()).unwrap_or_default()
}

/// Whether our certificate chain (end certificate first, then intermediates) answers a received
/// CR: the CR names the subject or issuer of one of its certificates. An empty CR matches only
/// with `match_empty_cr`.
pub fn cert_request_matches(cr_ca_dn: &[u8], chain: &[Certificate], match_empty_cr: bool) -> bool {
    if cr_ca_dn.is_empty() {
        return match_empty_cr;
    }
    chain.iter().any(|c| {
        names_equal(cr_ca_dn, c.issuer_der())
            || (c.is_ca() && names_equal(cr_ca_dn, c.subject_der()))
    })
}
