//! X.509 certificates, RSA keys and signatures for IKEv1 `rsasig` authentication.
//!
//! Sans-I/O except for [`load`]: everything else takes bytes and an injected `now` (unix
//! seconds, see [`unix_seconds`]) and reads no clock and no RNG.
//!
//! * [`Certificate`], [`Crl`]: parsed with `x509-parser`, PEM via `rustls-pki-types`; no DER is
//!   written by hand ([`dn`] encodes names with the `der` crate).
//! * [`TrustStore::verify`]: chain building from the peer's end certificate through peer-sent and
//!   stored intermediates to a trust anchor, checking signatures (RSA PKCS#1 v1.5 with SHA-1/256/
//!   384/512), validity dates, basicConstraints and path length, keyUsage and CRLs; each failure is
//!   a distinct [`CertError`] with a log-ready message.
//! * [`PrivateKey::sign_raw`] / [`PublicKey::verify_raw`]: the SIG payload as RFC 2409 §5.1 and
//!   all IKEv1 peers compute it — PKCS#1 v1.5 type-1 padding over HASH_I/HASH_R **without** a
//!   DigestInfo prefix.
//! * Identities ([`ident`], [`dn`]) and CR payloads ([`cr`]).
//!
//! # Use from the protocol core (rsasig)
//!
//! 1. At configuration time: [`load::load_private_key`] (or [`load::load_plain_rsa`]) and
//!    [`load::load_certificates`] for `certificate_type`; [`load::load_ca_dir`] for
//!    `path certificate` and [`load::load_ca_file`] for `ca_type` into one [`TrustStore`];
//!    [`my_asn1dn`] for `my_identifier asn1dn`; [`DnPattern::parse`] for `peers_identifier`.
//! 2. Sending: CERT payloads = our certificate's [`Certificate::der`] (plus intermediates), CR
//!    payload = [`build_cert_request`], SIG payload = [`PrivateKey::sign_raw`]`(HASH_I or HASH_R)`.
//! 3. Receiving, in this order and before trusting anything else (CVE-2004-0155):
//!    [`Certificate::from_der`] on each CERT payload (or the `peers_certfile`); with
//!    `verify_cert on`, [`TrustStore::verify`]`(end, others, now)`; then
//!    [`PublicKey::verify_raw`]`(HASH, SIG)` with the end certificate's key; then
//!    [`verify_identifier`] (with `verify_identifier on`) and [`check_peers_asn1dn`]. Map a
//!    [`CertError`] to INVALID-CERT / CERT-UNAVAILABLE notifies and a [`SigError`] or
//!    [`IdentityError`] to AUTHENTICATION-FAILED, logging the error's `Display` text.
//! 4. Received CR payloads: [`cert_request_matches`] (with `match_empty_cr`).
//!
//! # Choice of RSA implementation
//!
//! We use the RustCrypto `rsa` crate **0.10.0-rc.20, pinned exactly**, which does private-key
//! arithmetic with `crypto-bigint` in constant time. `rsa` 0.9 is affected by RUSTSEC-2023-0071
//! (Marvin: variable-time modular exponentiation leaks the private key through timing; blinding
//! with `sign_with_rng` only reduces it) and was measured no faster (sign 1.09 ms without and
//! 1.30 ms with blinding vs 1.19 ms for 0.10-rc, verify 131 µs vs 48 µs; see
//! `shared/reference/perf-limits.md` and `benches/rsa.rs`). `ring` cannot sign without the
//! DigestInfo prefix, and `aws-lc-rs` would add a C toolchain build for the same gap. The
//! pre-release is pinned so an update is a deliberate change; the API used here (`Pkcs1v15Sign`,
//! `RsaPrivateKey::sign`, `RsaPublicKey::verify`, PKCS#1/PKCS#8 decoding) is the stable core of
//! both versions. Signing uses no blinding RNG (constant-time arithmetic instead), so the crate
//! keeps "no RNG of its own".
//!
//! `cargo bench -p pki --bench rsa` on the 2-core dev machine under load (~3), RSA-2048: raw-hash
//! sign 2.44 ms, verify 120 µs, root→intermediate→end chain validation 425 µs; `openssl speed
//! rsa2048` at the same moment: sign 0.84 ms, verify 25 µs.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cert;
pub mod cr;
pub mod dn;
pub mod error;
pub mod ident;
pub mod key;
pub mod load;
pub mod verify;

pub use cert::{parse_certificates, parse_crls, Certificate, Crl, SanEntry, SigAlg};
pub use cr::{build_cert_request, cert_request_matches};
pub use dn::{asn1dn_from_config, dn_from_str, dn_to_string, names_equal, DnPattern};
pub use error::{CertError, IdentityError, LoadError, ParseError, SigError};
pub use ident::{check_peers_asn1dn, my_asn1dn, verify_identifier, PeerId};
pub use key::{
    parse_plain_rsa, parse_private_key, PlainRsaEntry, PlainRsaKey, PrivateKey, PublicKey,
};
pub use verify::{unix_seconds, TrustStore, VerifiedChain};

/// Largest certificate accepted (DER bytes).
pub const MAX_CERT_LEN: usize = 64 * 1024;
/// Largest file (certificate, key, CRL) read or parsed.
pub const MAX_FILE_LEN: usize = 1024 * 1024;
/// Most certificates (or keys, CRLs) in one file, or peer certificates considered.
pub const MAX_CERTS_PER_FILE: usize = 256;
/// Longest chain built (end certificate and anchor included).
pub const MAX_CHAIN_LEN: usize = 8;

/// Entry points shared by the cargo-fuzz targets and the corpus-replay test.
#[doc(hidden)]
pub mod fuzz_entry {
    /// Certificate/CRL/DN parsing of arbitrary bytes; must never panic.
    pub fn parse_any(data: &[u8]) {
        if let Ok(certs) = crate::parse_certificates(data) {
            for c in &certs {
                let _ = crate::dn_to_string(c.subject_der());
                let _ = c.verify_signed_by(c);
                let _ = crate::verify_identifier(&crate::PeerId::Asn1Dn(data), c);
            }
        }
        let _ = crate::parse_crls(data);
        let _ = crate::dn_to_string(data);
        let _ = crate::parse_private_key(data);
        if let Ok(s) = std::str::from_utf8(data) {
            let _ = crate::dn_from_str(s);
            if let Ok(p) = crate::DnPattern::parse(s) {
                let _ = p.matches(data);
            }
            let _ = crate::parse_plain_rsa(s);
        }
    }
}
