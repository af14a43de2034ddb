//! racoon.conf certificate statements → [`ike::Credentials`] for the IKE core.
//!
//! What is read, per `remote` block (relative names joined to `path certificate` as racoon
//! does, see `conf::join_path`):
//!
//! | statement | becomes |
//! |---|---|
//! | `path certificate "dir"` | every certificate (`*.0`, `*.pem`, `*.crt`, `*.der` ...) and CRL (`*.r0` ...) in the directory: self-signed CA certificates are trust anchors, other CAs candidate intermediates |
//! | `ca_type x509 "f"` | its certificates are added to this remote's trust store; the first names the CA in our CR payloads |
//! | `certificate_type x509 "cert" "key"` | our certificate (a file may hold the chain: end first, then intermediates, all sent in CERT payloads) and private key (PEM/DER, PKCS#1/PKCS#8; encrypted keys are refused with a clear error) |
//! | `certificate_type plain_rsa "key"` | a plainrsa-gen private key |
//! | `peers_certfile x509 "f"` | the peer's pinned certificate (used instead of its CERT payloads) |
//! | `peers_certfile plain_rsa "f"` | the peer's public keys (`addr : PUB 0s...`), chosen by the peer's address |
//! | `peers_certfile dnssec` | not supported (logged) |
//!
//! Nothing here is fatal: a file that does not load is logged once at start-up (and on
//! reload); a negotiation that needs it then fails with its own log line.

use std::path::Path;
use std::sync::Arc;

use conf::{CertType, Config, PeersCert, Remote};
use ike::{Credentials, RemoteCreds};
use tracing::{error, info, warn};

/// Whether any proposal of `r` uses a signature method (or a certificate is configured).
fn uses_certs(r: &Remote) -> bool {
    r.certificate_type.is_some()
        || r.peers_certfile.is_some()
        || r.ca_type.is_some()
        || r.proposals
            .iter()
            .any(|p| p.auth_method == conf::algs::AuthMethod::RsaSig)
}

/// Loads the certificate material of every remote block of `config`.
pub fn load(config: &Config) -> Credentials {
    let (creds, problems) = load_with_report(config);
    for p in problems {
        error!("{p}");
    }
    creds
}

/// As [`load`], returning the problems instead of logging them.
pub fn load_with_report(config: &Config) -> (Credentials, Vec<String>) {
    let mut problems = Vec::new();
    let dir = config.paths.certificate.as_deref();
    let join = |name: &str| conf::join_path(dir, name);
    let mut base = pki::TrustStore::new();
    let any = config.remotes.iter().any(uses_certs);
    if let (Some(d), true) = (dir, any) {
        match pki::load::load_ca_dir(Path::new(d), &mut base) {
            Ok(rep) => {
                info!(
                    "certificate directory {d}: {} trust anchors, {} intermediates, {} CRLs",
                    base.anchors().len(),
                    base.intermediates().len(),
                    base.crls().len()
                );
                for (f, e) in rep.skipped.iter().take(16) {
                    warn!("certificate directory {d}: skipped {f}: {e}");
                }
            }
            Err(e) => problems.push(format!("path certificate: {e}")),
        }
    }
    let mut remotes = Vec::with_capacity(config.remotes.len());
    for r in &config.remotes {
        let mut c = RemoteCreds::default();
        if !uses_certs(r) {
            remotes.push(c);
            continue;
        }
        let what = format!("remote {}", r.name);
        c.trust = base.clone();
        if let Some(f) = &r.ca_type {
            let path = join(f);
            match pki::load::load_certificates(Path::new(&path)) {
                Ok(certs) => {
                    c.cr_ca = certs.first().cloned();
                    for cert in certs {
                        c.trust.add(cert);
                    }
                }
                Err(e) => problems.push(format!("{what}: ca_type: {e}")),
            }
        }
        match &r.certificate_type {
            Some(CertType::X509 { cert, key }) => {
                match pki::load::load_certificates(Path::new(&join(cert))) {
                    Ok(certs) => c.my_certs = certs,
                    Err(e) => problems.push(format!("{what}: certificate_type x509: {e}")),
                }
                match pki::load::load_private_key(Path::new(&join(key))) {
                    Ok(k) => {
                        // our certificate is the one of our key (a chain file may list the
                        // intermediates first); it goes first, the others follow as sent
                        let public = k.public_key();
                        match c
                            .my_certs
                            .iter()
                            .position(|x| x.public_key().is_ok_and(|pk| pk == &public))
                        {
                            Some(i) => {
                                let mine = c.my_certs.remove(i);
                                c.my_certs.insert(0, mine);
                            }
                            None if !c.my_certs.is_empty() => problems.push(format!(
                                "{what}: the private key {key} belongs to no certificate in {cert}"
                            )),
                            None => {}
                        }
                        c.signer = Some(Arc::new(k));
                    }
                    Err(e) => problems.push(format!("{what}: private key: {e}")),
                }
            }
            Some(CertType::PlainRsa { key }) => {
                match pki::load::load_plain_rsa(Path::new(&join(key))) {
                    Ok(entries) => {
                        let private = entries.into_iter().find_map(|e| match e.key {
                            pki::PlainRsaKey::Private(k) => Some(k),
                            pki::PlainRsaKey::Public(_) => None,
                        });
                        match private {
                            Some(k) => c.signer = Some(Arc::new(*k)),
                            None => problems.push(format!(
                                "{what}: certificate_type plain_rsa {key}: no private key in the file"
                            )),
                        }
                    }
                    Err(e) => problems.push(format!("{what}: certificate_type plain_rsa: {e}")),
                }
            }
            None => {}
        }
        match &r.peers_certfile {
            Some(PeersCert::X509(f)) => match pki::load::load_certificates(Path::new(&join(f))) {
                Ok(certs) => c.peer_certs = certs,
                Err(e) => problems.push(format!("{what}: peers_certfile x509: {e}")),
            },
            Some(PeersCert::PlainRsa(f)) => match pki::load::load_plain_rsa(Path::new(&join(f))) {
                Ok(entries) => c.peer_keys = entries,
                Err(e) => problems.push(format!("{what}: peers_certfile plain_rsa: {e}")),
            },
            Some(PeersCert::Dnssec) => {
                problems.push(format!("{what}: peers_certfile dnssec is not supported"))
            }
            None => {}
        }
        remotes.push(c);
    }
    (
        Credentials {
            remotes,
            clock: ike::creds::system_clock(),
        },
        problems,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> String {
        format!("{}/../pki/tests/data", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn x509_remote_with_certificate_directory_and_ca_type() {
        let d = data();
        let text = format!(
            "path certificate \"{d}/certdir\";
remote 192.0.2.2 {{
    exchange_mode main;
    certificate_type x509 \"{d}/chain.pem\" \"{d}/end.pk8.pem\";
    ca_type x509 \"{d}/root.crt\";
    peers_certfile x509 \"{d}/peer.crt\";
    my_identifier asn1dn;
    proposal {{ encryption_algorithm aes; hash_algorithm sha1; authentication_method rsasig; dh_group modp2048; }}
}}
remote 192.0.2.3 {{
    exchange_mode main;
    proposal {{ encryption_algorithm aes; hash_algorithm sha1; authentication_method pre_shared_key; dh_group modp2048; }}
}}
"
        );
        let cfg = conf::parse(&text, "t.conf").unwrap().config;
        let (c, problems) = load_with_report(&cfg);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.remotes.len(), 2);
        let r = &c.remotes[0];
        // chain.pem = intermediate then end: both are sent, ours first
        assert_eq!(r.my_certs.len(), 2);
        assert_eq!(
            r.my_certs[0].subject(),
            "C=XX, O=Example, CN=gw.example.net"
        );
        assert!(r.signer.is_some());
        assert_eq!(r.trust.anchors().len(), 1);
        assert_eq!(r.trust.crls().len(), 1);
        assert_eq!(
            r.cr_ca.as_ref().map(|c| c.subject().to_owned()),
            Some("C=XX, O=Racoon Test, CN=Racoon Test Root CA".into())
        );
        assert_eq!(r.peer_certs.len(), 1);
        // the PSK remote gets nothing
        assert!(c.remotes[1].signer.is_none() && c.remotes[1].my_certs.is_empty());
    }

    #[test]
    fn relative_names_join_path_certificate_and_errors_are_reported() {
        let d = data();
        let text = format!(
            "path certificate \"{d}\";
remote anonymous {{
    exchange_mode main;
    certificate_type x509 \"end.crt\" \"end.enc.pk8.pem\";
    peers_certfile plain_rsa \"end.pub\";
    proposal {{ encryption_algorithm aes; hash_algorithm sha1; authentication_method rsasig; dh_group modp2048; }}
}}
"
        );
        let cfg = conf::parse(&text, "t.conf").unwrap().config;
        let (c, problems) = load_with_report(&cfg);
        assert_eq!(c.remotes[0].my_certs.len(), 1);
        assert_eq!(c.remotes[0].peer_keys.len(), 1);
        assert!(c.remotes[0].signer.is_none());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("encrypted"), "{problems:?}");
    }

    #[test]
    fn plain_rsa_private_key() {
        let d = data();
        let text = format!(
            "remote anonymous {{
    exchange_mode main;
    certificate_type plain_rsa \"{d}/end.plainrsa\";
    peers_certfile plain_rsa \"{d}/missing.pub\";
    proposal {{ encryption_algorithm aes; hash_algorithm sha1; authentication_method rsasig; dh_group modp2048; }}
}}
"
        );
        let cfg = conf::parse(&text, "t.conf").unwrap().config;
        let (c, problems) = load_with_report(&cfg);
        assert!(c.remotes[0].signer.is_some());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("missing.pub"), "{problems:?}");
    }
}
