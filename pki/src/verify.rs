//! Chain validation against configured trust anchors, with an injected `now`.
//!
//! Model (what racoon gets from OpenSSL with `path certificate` as CApath plus `ca_type`):
//! self-signed CA certificates from the directory / `ca_type` file are trust anchors; other CA
//! certificates there, and those the peer sent in CERT payloads, are candidate intermediates.
//! CRLs found in the directory are applied to every certificate they cover; a certificate whose
//! issuer has no CRL is accepted (OpenSSL's "unable to get CRL" is ignored by racoon too).

use crate::cert::{Certificate, Crl};
use crate::error::CertError;
use crate::MAX_CHAIN_LEN;

/// Most peer-sent certificates considered (CERT payloads beyond it are ignored).
pub const MAX_PEER_CERTS: usize = 16;

/// Trust anchors, known intermediates and CRLs.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<Certificate>,
    intermediates: Vec<Certificate>,
    crls: Vec<Crl>,
}

/// A validated chain, end certificate first, trust anchor last.
#[derive(Debug, Clone)]
pub struct VerifiedChain {
    /// The certificates.
    pub certs: Vec<Certificate>,
}

impl VerifiedChain {
    /// The peer's end certificate.
    pub fn end(&self) -> &Certificate {
        &self.certs[0]
    }
    /// The trust anchor that closed the chain.
    pub fn anchor(&self) -> &Certificate {
        &self.certs[self.certs.len() - 1]
    }
}

impl TrustStore {
    /// An empty store (trusts nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a certificate from the CA directory or `ca_type` file: a self-signed CA becomes a
    /// trust anchor, anything else an intermediate candidate.
    pub fn add(&mut self, cert: Certificate) {
        if cert.is_self_issued() && cert.verify_signed_by(&cert).is_ok() {
            self.add_anchor(cert);
        } else if !self.intermediates.contains(&cert) {
            self.intermediates.push(cert);
        }
    }

    /// Adds an explicit trust anchor (need not be self-signed).
    pub fn add_anchor(&mut self, cert: Certificate) {
        if !self.anchors.contains(&cert) {
            self.anchors.push(cert);
        }
    }

    /// Adds a CRL.
    pub fn add_crl(&mut self, crl: Crl) {
        self.crls.push(crl);
    }

    /// The trust anchors.
    pub fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }
    /// Known intermediates.
    pub fn intermediates(&self) -> &[Certificate] {
        &self.intermediates
    }
    /// CRLs.
    pub fn crls(&self) -> &[Crl] {
        &self.crls
    }

    /// Validates `end` at time `now` (unix seconds) through `peer_certs` (other CERT payloads, any
    /// order) and the store's intermediates up to an anchor. Returns the chain or the most
    /// specific reason it failed.
    pub fn verify(
        &self,
        end: &Certificate,
        peer_certs: &[Certificate],
        now: i64,
    ) -> Result<VerifiedChain, CertError> {
        end.check_critical()?;
        end.check_time(now)?;
        if let Some((_, _, _)) = end.key_usage() {
            if !end.key_usage().is_some_and(|k| k.0) {
                return Err(CertError::KeyUsage {
                    subject: end.subject().to_owned(),
                    missing: "digitalSignature",
                });
            }
        }
        // Candidate issuers: peer-sent first (bounded by the caller's payload limit), then store.
        let pool: Vec<&Certificate> = peer_certs
            .iter()
            .take(MAX_PEER_CERTS)
            .chain(self.intermediates.iter())
            .collect();
        let mut chain = vec![end.clone()];
        let mut budget = MAX_PATH_ATTEMPTS;
        self.extend(&mut chain, &pool, now, 0, &mut budget)?;
        Ok(VerifiedChain { certs: chain })
    }

    /// Depth-first path building. `chain` ends with a certificate whose issuer is still needed;
    /// `ca_below` counts non-self-issued intermediates below the next issuer.
    fn extend(
        &self,
        chain: &mut Vec<Certificate>,
        pool: &[&Certificate],
        now: i64,
        ca_below: u32,
        budget: &mut u32,
    ) -> Result<(), CertError> {
        if chain.len() > MAX_CHAIN_LEN {
            return Err(CertError::ChainTooLong(MAX_CHAIN_LEN));
        }
        let child = chain[chain.len() - 1].clone();
        let mut best: Option<CertError> = None;
        let keep = |e: CertError, best: &mut Option<CertError>| {
            // Prefer errors about a real candidate over the generic "untrusted".
            if best.is_none() || matches!(best, Some(CertError::Untrusted { .. })) {
                *best = Some(e);
            }
        };
        // 1. An anchor that issued it closes the chain.
        for a in self.anchors.iter().filter(|a| names_match(a, &child)) {
            spend(budget)?;
            match self.check_issuer(&child, a, now, ca_below, true) {
                Ok(()) => {
                    chain.push(a.clone());
                    return Ok(());
                }
                Err(e) => keep(e, &mut best),
            }
        }
        // 2. Otherwise an intermediate, recursively.
        for c in pool.iter().filter(|c| names_match(c, &child)) {
            if chain.iter().any(|x| x == *c) {
                continue;
            }
            spend(budget)?;
            if let Err(e) = self.check_issuer(&child, c, now, ca_below, false) {
                keep(e, &mut best);
                continue;
            }
            chain.push((*c).clone());
            let below = if c.is_self_issued() {
                ca_below
            } else {
                ca_below + 1
            };
            match self.extend(chain, pool, now, below, budget) {
                Ok(()) => return Ok(()),
                Err(e @ CertError::PathSearchExhausted(_)) => return Err(e),
                Err(e) => {
                    chain.pop();
                    keep(e, &mut best);
                }
            }
        }
        Err(best.unwrap_or_else(|| CertError::Untrusted {
            subject: child.subject().to_owned(),
            issuer: child.issuer().to_owned(),
        }))
    }

    /// All checks of one (child, issuer) link: issuer is a usable CA now, signed the child, and
    /// the child is not on the issuer's CRL.
    fn check_issuer(
        &self,
        child: &Certificate,
        issuer: &Certificate,
        now: i64,
        ca_below: u32,
        anchor: bool,
    ) -> Result<(), CertError> {
        child.verify_signed_by(issuer)?;
        issuer.check_critical()?;
        issuer.check_time(now)?;
        match issuer.basic_constraints() {
            Some((true, plen)) => {
                if let Some(max) = plen {
                    if ca_below > max {
                        return Err(CertError::PathLenExceeded {
                            subject: issuer.subject().to_owned(),
                        });
                    }
                }
            }
            // A v1 trust anchor configured explicitly is accepted as OpenSSL does for roots.
            None if anchor && issuer.is_self_issued() => {}
            _ => {
                return Err(CertError::NotCa {
                    subject: issuer.subject().to_owned(),
                })
            }
        }
        if let Some((_, cert_sign, _)) = issuer.key_usage() {
            if !cert_sign {
                return Err(CertError::KeyUsage {
                    subject: issuer.subject().to_owned(),
                    missing: "keyCertSign",
                });
            }
        }
        for crl in self
            .crls
            .iter()
            .filter(|c| crate::dn::names_equal(c.issuer_der(), issuer.subject_der()))
        {
            crl.verify(issuer, now)?;
            if crl.is_revoked(child.serial()) {
                return Err(CertError::Revoked {
                    subject: child.subject().to_owned(),
                    serial: child.serial_hex(),
                });
            }
        }
        Ok(())
    }
}

/// Most issuer candidates tried (each costs a signature verification) in one `verify` call, so
/// a peer sending many same-named certificates cannot make path building exponential.
pub const MAX_PATH_ATTEMPTS: u32 = 64;

fn spend(budget: &mut u32) -> Result<(), CertError> {
    if *budget == 0 {
        return Err(CertError::PathSearchExhausted(MAX_PATH_ATTEMPTS));
    }
    *budget -= 1;
    Ok(())
}

fn names_match(issuer: &Certificate, child: &Certificate) -> bool {
    crate::dn::names_equal(issuer.subject_der(), child.issuer_der())
}

/// Unix seconds of a `SystemTime` (negative before 1970), for the `now` arguments.
pub fn unix_seconds(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}
