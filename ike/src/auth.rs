//! Phase-1 authentication payloads for both methods: HASH (pre-shared key) and CERT/CR/SIG
//! (`rsasig`, RFC 2409 §5.1). The order of the peer checks is described in [`crate::creds`].

use conf::{CertType, Identifier, PeersCert};
use isakmp::{CertEncoding, IdValue, Identification, Payload};

use crate::creds::{selector_matches, RemoteCreds};
use crate::endpoint::{Endpoint, Ph1};
use crate::error::{Error, Result};
use crate::phase1::ct_eq;
use crate::types::Level;

/// RFC 2409 authentication method: RSA signatures.
pub(crate) const AUTH_RSASIG: u16 = 3;

/// Whether a phase-1 authentication method number is a signature method we implement.
pub(crate) fn is_sig(auth: u16) -> bool {
    auth == AUTH_RSASIG
}

impl Ph1 {
    /// The negotiated method is `rsasig`.
    pub(crate) fn sig_auth(&self) -> bool {
        self.params.as_ref().is_some_and(|x| is_sig(x.auth))
    }
}

fn plain_rsa_mine(r: &conf::Remote) -> bool {
    matches!(r.certificate_type, Some(CertType::PlainRsa { .. }))
}

fn plain_rsa_peer(r: &conf::Remote) -> bool {
    matches!(r.peers_certfile, Some(PeersCert::PlainRsa(_)))
}

impl Endpoint {
    pub(crate) fn rcreds(&self, remote_cfg: usize) -> Option<&RemoteCreds> {
        self.creds.remotes.get(remote_cfg)
    }

    /// `my_identifier asn1dn [DN]`: the DER name (explicit, `~HEX`, or our certificate's
    /// subject); `None` for other identifier types.
    pub(crate) fn my_asn1dn(&self, remote_cfg: usize) -> Option<Result<Vec<u8>>> {
        let r = self.remote_cfg(remote_cfg);
        let Identifier::Asn1Dn(explicit) = &r.my_identifier else {
            return None;
        };
        let cert = self.rcreds(remote_cfg).and_then(|c| c.my_certs.first());
        Some(
            pki::my_asn1dn(explicit.as_deref(), cert)
                .map_err(|e| Error::Config(format!("my_identifier asn1dn: {e}"))),
        )
    }

    /// Our CR payloads (`send_cr on`, signature method, not plain_rsa): one naming the
    /// `ca_type` CA, or an empty one (any CA).
    pub(crate) fn cr_payloads(&self, remote_cfg: usize, auth: u16) -> Vec<Payload> {
        let r = self.remote_cfg(remote_cfg);
        if !is_sig(auth) || !r.send_cr || plain_rsa_mine(r) || plain_rsa_peer(r) {
            return Vec::new();
        }
        let ca = self.rcreds(remote_cfg).and_then(|c| c.cr_ca.as_ref());
        vec![Payload::CertReq {
            encoding: CertEncoding::X509_SIG,
            authority: pki::build_cert_request(ca),
        }]
    }

    /// Logs CR payloads of the peer that our chain cannot answer (we send our certificate
    /// anyway, as racoon does with `send_cert on`).
    pub(crate) fn note_peer_cr(&mut self, id: u64, payloads: &[Payload]) {
        let Some(p) = self.ph1s.get(&id) else {
            return;
        };
        if !p.sig_auth() {
            return;
        }
        let remote = p.remote.ip();
        let match_empty = self.remote_cfg(p.remote_cfg).match_empty_cr;
        let chain = self
            .rcreds(p.remote_cfg)
            .map(|c| c.my_certs.clone())
            .unwrap_or_default();
        for pl in payloads {
            if let Payload::CertReq {
                encoding,
                authority: data,
            } = pl
            {
                // an empty CR asks for any CA: our chain answers it
                if *encoding != CertEncoding::X509_SIG
                    || data.is_empty()
                    || pki::cert_request_matches(data, &chain, match_empty)
                {
                    continue;
                }
                let ca = pki::dn_to_string(data).unwrap_or_else(|_| "(malformed DN)".into());
                self.out.log(
                    Level::Warning,
                    Some(remote),
                    format!(
                        "peer's certificate request for {ca} is not answered by our \
                         certificate chain; sending it anyway"
                    ),
                );
            }
        }
    }

    /// Our authentication payloads, after the ID payload: HASH (pre-shared key) or the CERT
    /// payloads (`send_cert on`, x509) and SIG = PKCS#1 signature of `hash` (rsasig).
    pub(crate) fn auth_payloads(&self, p: &Ph1, hash: Vec<u8>) -> Result<Vec<Payload>> {
        if !p.sig_auth() {
            return Ok(vec![Payload::Hash(hash)]);
        }
        let r = self.remote_cfg(p.remote_cfg);
        let c = self.rcreds(p.remote_cfg);
        let signer = c.and_then(|c| c.signer.as_ref()).ok_or_else(|| {
            Error::Config(format!(
                "rsasig: no private key for remote {} (certificate_type)",
                r.name
            ))
        })?;
        let mut v = Vec::new();
        if r.send_cert && !plain_rsa_mine(r) {
            for cert in c.map(|c| &c.my_certs[..]).unwrap_or_default() {
                v.push(Payload::Cert {
                    encoding: CertEncoding::X509_SIG,
                    data: cert.der().to_vec(),
                });
            }
        }
        let sig = signer
            .sign(&hash)
            .map_err(|e| Error::Config(format!("signing HASH failed: {e}")))?;
        v.push(Payload::Sig(sig));
        Ok(v)
    }

    /// Checks the peer's authentication payloads against `expected` (HASH_I or HASH_R over
    /// the peer's ID payload): the HASH (pre-shared key), or certificate, SIG and identity.
    pub(crate) fn verify_peer_auth(
        &self,
        p: &Ph1,
        payloads: &[Payload],
        idp: &Identification,
        expected: &[u8],
    ) -> Result<()> {
        if !p.sig_auth() {
            let hash = payloads
                .iter()
                .find_map(|x| match x {
                    Payload::Hash(h) => Some(h),
                    _ => None,
                })
                .ok_or(Error::PayloadCount(isakmp::PayloadType::HASH.0))?;
            return if ct_eq(expected, hash) {
                Ok(())
            } else {
                Err(Error::AuthenticationFailed)
            };
        }
        let r = self.remote_cfg(p.remote_cfg);
        let empty = RemoteCreds::default();
        let c = self.rcreds(p.remote_cfg).unwrap_or(&empty);
        let sig = payloads
            .iter()
            .find_map(|x| match x {
                Payload::Sig(s) => Some(s),
                _ => None,
            })
            .ok_or_else(|| Error::SigAuthFailed("no SIG payload".into()))?;
        // plain_rsa: the peer's public key comes from peers_certfile by address
        if plain_rsa_peer(r) {
            let ok = c
                .peer_keys
                .iter()
                .filter(|e| selector_matches(&e.selectors, p.remote.ip()))
                .any(|e| e.key.public_key().verify_raw(expected, sig).is_ok());
            return if ok {
                self.verify_peer_id_with(p, Some(idp), None).map_err(|_| {
                    Error::SigAuthFailed("peer ID does not match peers_identifier".into())
                })
            } else {
                Err(Error::SigAuthFailed(format!(
                    "RSA signature does not verify with any plain_rsa key for {}",
                    p.remote.ip()
                )))
            };
        }
        // 1. the certificate
        let mut received: Vec<pki::Certificate> = payloads
            .iter()
            .filter_map(|x| match x {
                Payload::Cert { encoding, data } if *encoding == CertEncoding::X509_SIG => {
                    Some(data)
                }
                _ => None,
            })
            .take(pki::verify::MAX_PEER_CERTS)
            .map(|d| pki::Certificate::from_der(d))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::InvalidCert(format!("CERT payload does not parse: {e}")))?;
        let pinned = !c.peer_certs.is_empty();
        // the peer's own certificate: the pinned one, else the first CERT that is not a CA
        // (peers send it first, but some list their CA before it); the rest are candidate
        // intermediates
        let sent_end = if pinned || received.is_empty() {
            None
        } else {
            let i = received.iter().position(|x| !x.is_ca()).unwrap_or(0);
            Some(received.remove(i))
        };
        let others = &received[..];
        let end = if pinned {
            c.peer_certs.first()
        } else {
            sent_end.as_ref()
        };
        let end = end.ok_or_else(|| {
            Error::InvalidCert(
                "the peer sent no certificate (no CERT payload, no peers_certfile)".into(),
            )
        })?;
        // 2. the chain
        if r.verify_cert && !pinned {
            let now = (self.creds.clock)();
            c.trust
                .verify(end, others, now)
                .map_err(|e| Error::InvalidCert(e.to_string()))?;
        }
        // 3. the signature
        let key = end
            .public_key()
            .map_err(|e| Error::InvalidCert(e.to_string()))?;
        key.verify_raw(expected, sig).map_err(|e| {
            Error::SigAuthFailed(format!("{e} (certificate \"{}\")", end.subject()))
        })?;
        // 4. the ID names the certificate
        if r.verify_cert {
            let id = pki::PeerId::from_payload(idp.id_type.0, &idp.data)
                .map_err(|e| Error::SigAuthFailed(e.to_string()))?;
            pki::verify_identifier(&id, end).map_err(|e| Error::SigAuthFailed(e.to_string()))?;
        }
        // 5. peers_identifier
        self.verify_peer_id_with(p, Some(idp), Some(end))
            .map_err(|_| {
                Error::SigAuthFailed(format!(
                    "peer ID {} does not match peers_identifier",
                    describe_id(idp)
                ))
            })
    }
}

/// The ID payload as text for log lines.
pub(crate) fn describe_id(id: &Identification) -> String {
    match id.value() {
        IdValue::Addr(a) => a.to_string(),
        IdValue::DerAsn1Dn(d) => pki::dn_to_string(d).unwrap_or_else(|_| "(malformed DN)".into()),
        IdValue::Fqdn(b) | IdValue::UserFqdn(b) | IdValue::KeyId(b) => {
            String::from_utf8_lossy(&b[..b.len().min(256)]).into_owned()
        }
        _ => format!("type {}", id.id_type.0),
    }
}
