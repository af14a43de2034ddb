//! Certificate credentials for `authentication_method rsasig`, supplied by the driver.
//!
//! The core stays sans-I/O: the daemon loads certificates, keys, CA directories, CRLs and
//! `peers_certfile` files (racoon-rs `daemon/creds.rs`) and hands them over as [`Credentials`],
//! one [`RemoteCreds`] per `remote` block (same order as `Config::remotes`), together with a
//! wall clock for certificate validity. Tests inject a fixed clock.
//!
//! Verification of a peer, in this order and before anything of the message is trusted
//! (CVE-2004-0155, CVE-2004-0607):
//! 1. the peer's certificate: the `peers_certfile` (x509, pinned: no chain validation) or the
//!    first CERT payload (X.509 signature encoding); the other CERT payloads are candidate
//!    intermediates; none → INVALID-CERTIFICATE;
//! 2. with `verify_cert on`: the chain to a trust anchor at the clock's time (signatures,
//!    dates, basic constraints, key usage, CRLs) → else INVALID-CERTIFICATE;
//! 3. the SIG payload over HASH_I/HASH_R with the certificate's key (or a `peers_certfile
//!    plain_rsa` key for the peer's address) → else AUTHENTICATION-FAILED;
//! 4. with `verify_cert on`: the ID payload must name the certificate (ASN1_DN = subject;
//!    FQDN, USER_FQDN, addresses in subjectAltName) → else AUTHENTICATION-FAILED;
//! 5. with `verify_identifier on`: the ID must match a `peers_identifier` (asn1dn with `*`
//!    wildcards; `asn1dn` without a value = the certificate's subject).
//!
//! Deviations from racoon: remote blocks are chosen by the peer's address only, never by the
//! CA named in a received CR, so `match_empty_cr` has no effect (a CR naming a CA our chain
//! does not contain is logged; we send our certificate anyway, as with `send_cert on`); a
//! `peers_certfile x509` certificate is pinned and not chain-validated; `peers_certfile
//! dnssec` is not supported.

use std::net::IpAddr;
use std::sync::Arc;

/// Signs HASH_I/HASH_R for our SIG payload (raw PKCS#1 v1.5, no DigestInfo).
pub trait Signer: Send + Sync {
    /// The SIG payload body for `hash`.
    fn sign(&self, hash: &[u8]) -> Result<Vec<u8>, pki::SigError>;
}

impl Signer for pki::PrivateKey {
    fn sign(&self, hash: &[u8]) -> Result<Vec<u8>, pki::SigError> {
        self.sign_raw(hash)
    }
}

/// The wall clock used for certificate validity (unix seconds).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock, for drivers (the core itself never reads a clock).
pub fn system_clock() -> Clock {
    Arc::new(|| pki::unix_seconds(std::time::SystemTime::now()))
}

/// Certificate material of one `remote` block.
#[derive(Clone, Default)]
pub struct RemoteCreds {
    /// `certificate_type x509`: our certificate first, then intermediates to send along.
    pub my_certs: Vec<pki::Certificate>,
    /// Our private key (x509 or plain_rsa).
    pub signer: Option<Arc<dyn Signer>>,
    /// Trust anchors, intermediates and CRLs (`path certificate` directory and `ca_type`).
    pub trust: pki::TrustStore,
    /// The CA named in our CR payloads (`ca_type`); none = an empty CR (any CA).
    pub cr_ca: Option<pki::Certificate>,
    /// `peers_certfile x509`: the peer's pinned certificate.
    pub peer_certs: Vec<pki::Certificate>,
    /// `peers_certfile plain_rsa`: the peer's public keys with their address selectors.
    pub peer_keys: Vec<pki::PlainRsaEntry>,
}

impl std::fmt::Debug for RemoteCreds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCreds")
            .field("my_certs", &self.my_certs)
            .field("signer", &self.signer.is_some())
            .field("anchors", &self.trust.anchors().len())
            .field("peer_certs", &self.peer_certs.len())
            .field("peer_keys", &self.peer_keys.len())
            .finish_non_exhaustive()
    }
}

/// Everything the core needs for signature authentication.
#[derive(Clone)]
pub struct Credentials {
    /// Per `remote` block, in configuration order (missing entries = no material).
    pub remotes: Vec<RemoteCreds>,
    /// Wall clock for validity checks.
    pub clock: Clock,
}

impl Default for Credentials {
    /// No material, and a clock stuck at the epoch (the core reads no clock of its own: a
    /// driver that forgets to set one sees every certificate "not yet valid", never the
    /// reverse).
    fn default() -> Self {
        Credentials {
            remotes: Vec::new(),
            clock: Arc::new(|| 0),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("remotes", &self.remotes)
            .finish_non_exhaustive()
    }
}

/// Does a plain_rsa selector (`192.0.2.1`, `10.0.0.0/8`, `any`; none = any) cover `ip`?
pub(crate) fn selector_matches(selectors: &[String], ip: IpAddr) -> bool {
    if selectors.is_empty() {
        return true;
    }
    selectors.iter().any(|s| {
        if s == "any" {
            return true;
        }
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => (a, l.parse::<u32>().ok()),
            None => (s.as_str(), None),
        };
        let Ok(net) = a.parse::<IpAddr>() else {
            return false;
        };
        match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let l = len.unwrap_or(32).min(32);
                let mask = if l == 0 { 0 } else { u32::MAX << (32 - l) };
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let l = len.unwrap_or(128).min(128);
                let mask = if l == 0 { 0 } else { u128::MAX << (128 - l) };
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(selector_matches(&[], ip));
        assert!(selector_matches(&["any".into()], ip));
        assert!(selector_matches(&["192.0.2.0/24".into()], ip));
        assert!(!selector_matches(&["192.0.3.0/24".into()], ip));
        assert!(!selector_matches(&["192.0.2.8".into()], ip));
        assert!(!selector_matches(&["2001:db8::/32".into()], ip));
        assert!(selector_matches(
            &["2001:db8::/32".into()],
            "2001:db8::1".parse().unwrap()
        ));
    }
}
