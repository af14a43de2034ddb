//! Owned, pre-digested X.509 certificates and CRLs (parsed with `x509-parser`).

use crate::error::{CertError, ParseError};
use crate::key::PublicKey;
use crate::{MAX_CERTS_PER_FILE, MAX_CERT_LEN};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    Oid, OID_PKCS1_SHA1WITHRSA, OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA,
    OID_PKCS1_SHA512WITHRSA, OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_KEY_USAGE,
    OID_X509_EXT_SUBJECT_ALT_NAME,
};
use x509_parser::prelude::FromDer;

/// Signature algorithms we verify on certificates and CRLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// sha1WithRSAEncryption.
    RsaSha1,
    /// sha256WithRSAEncryption.
    RsaSha256,
    /// sha384WithRSAEncryption.
    RsaSha384,
    /// sha512WithRSAEncryption.
    RsaSha512,
}

impl SigAlg {
    fn from_oid(oid: &Oid<'_>) -> Option<Self> {
        if *oid == OID_PKCS1_SHA1WITHRSA {
            Some(Self::RsaSha1)
        } else if *oid == OID_PKCS1_SHA256WITHRSA {
            Some(Self::RsaSha256)
        } else if *oid == OID_PKCS1_SHA384WITHRSA {
            Some(Self::RsaSha384)
        } else if *oid == OID_PKCS1_SHA512WITHRSA {
            Some(Self::RsaSha512)
        } else {
            None
        }
    }
}

/// One subjectAltName entry we can match IDs against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SanEntry {
    /// dNSName.
    Dns(String),
    /// rfc822Name.
    Email(String),
    /// iPAddress (4 or 16 bytes).
    Ip(Vec<u8>),
}

/// A parsed certificate. Keeps its DER (for CERT payloads) and the fields validation needs.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    tbs: Vec<u8>,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    subject_str: String,
    issuer_str: String,
    serial: Vec<u8>,
    not_before: i64,
    not_after: i64,
    not_before_str: String,
    not_after_str: String,
    /// basicConstraints: None when absent, else (ca, pathLen).
    basic_constraints: Option<(bool, Option<u32>)>,
    /// keyUsage: None when absent, else (digitalSignature, keyCertSign, cRLSign).
    key_usage: Option<(bool, bool, bool)>,
    san: Vec<SanEntry>,
    public_key: Result<PublicKey, String>,
    sig_alg: Result<SigAlg, String>,
    signature: Vec<u8>,
    unhandled_critical: Option<String>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject_str)
            .field("issuer", &self.issuer_str)
            .field("serial", &self.serial_hex())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}
impl Eq for Certificate {}

impl Certificate {
    /// Parses exactly one DER certificate (trailing bytes are an error).
    pub fn from_der(der: &[u8]) -> Result<Self, ParseError> {
        if der.len() > MAX_CERT_LEN {
            return Err(ParseError::TooLarge {
                what: "certificate",
                max: MAX_CERT_LEN,
            });
        }
        let (rest, c) = x509_parser::certificate::X509Certificate::from_der(der)
            .map_err(|e| ParseError::Certificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(ParseError::Certificate(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        let tbs = &c.tbs_certificate;
        let mut basic_constraints = None;
        let mut key_usage = None;
        let mut san = Vec::new();
        let mut unhandled_critical = None;
        for ext in tbs.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => {
                    basic_constraints = Some((bc.ca, bc.path_len_constraint));
                }
                ParsedExtension::KeyUsage(ku) => {
                    key_usage = Some((ku.digital_signature(), ku.key_cert_sign(), ku.crl_sign()));
                }
                ParsedExtension::SubjectAlternativeName(s) => {
                    for gn in &s.general_names {
                        match gn {
                            GeneralName::DNSName(d) => san.push(SanEntry::Dns((*d).to_owned())),
                            GeneralName::RFC822Name(m) => {
                                san.push(SanEntry::Email((*m).to_owned()))
                            }
                            GeneralName::IPAddress(ip) => san.push(SanEntry::Ip(ip.to_vec())),
                            _ => {}
                        }
                    }
                }
                ParsedExtension::ParseError { error } if ext.critical => {
                    return Err(ParseError::Certificate(format!(
                        "critical extension {}: {error}",
                        ext.oid
                    )));
                }
                _ => {
                    let handled = ext.oid == OID_X509_EXT_BASIC_CONSTRAINTS
                        || ext.oid == OID_X509_EXT_KEY_USAGE
                        || ext.oid == OID_X509_EXT_SUBJECT_ALT_NAME
                        || matches!(
                            ext.parsed_extension(),
                            ParsedExtension::ExtendedKeyUsage(_)
                                | ParsedExtension::AuthorityKeyIdentifier(_)
                                | ParsedExtension::SubjectKeyIdentifier(_)
                                | ParsedExtension::CertificatePolicies(_)
                        );
                    if ext.critical && !handled && unhandled_critical.is_none() {
                        unhandled_critical = Some(ext.oid.to_id_string());
                    }
                }
            }
        }
        let public_key = match c.public_key().parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(k)) => {
                PublicKey::from_components(k.modulus, k.exponent).map_err(|e| e.to_string())
            }
            Ok(_) => Err(format!(
                "key algorithm {}",
                c.public_key().algorithm.algorithm
            )),
            Err(e) => Err(e.to_string()),
        };
        let sig_alg = SigAlg::from_oid(&c.signature_algorithm.algorithm)
            .ok_or_else(|| c.signature_algorithm.algorithm.to_id_string());
        Ok(Self {
            der: der.to_vec(),
            tbs: tbs.as_ref().to_vec(),
            subject: tbs.subject.as_raw().to_vec(),
            issuer: tbs.issuer.as_raw().to_vec(),
            subject_str: tbs.subject.to_string(),
            issuer_str: tbs.issuer.to_string(),
            serial: tbs.raw_serial().to_vec(),
            not_before: tbs.validity.not_before.timestamp(),
            not_after: tbs.validity.not_after.timestamp(),
            not_before_str: tbs.validity.not_before.to_string(),
            not_after_str: tbs.validity.not_after.to_string(),
            basic_constraints,
            key_usage,
            san,
            public_key,
            sig_alg,
            signature: c.signature_value.data.to_vec(),
            unhandled_critical,
        })
    }

    /// The DER encoding (what goes into a CERT payload).
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// DER of the subject Name (the ASN1_DN identity).
    pub fn subject_der(&self) -> &[u8] {
        &self.subject
    }
    /// DER of the issuer Name (what a CR payload names).
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer
    }
    /// Subject as text, for logs.
    pub fn subject(&self) -> &str {
        &self.subject_str
    }
    /// Issuer as text, for logs.
    pub fn issuer(&self) -> &str {
        &self.issuer_str
    }
    /// Serial number in hex.
    pub fn serial_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.serial)
    }
    /// Raw serial bytes.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }
    /// notBefore / notAfter in unix seconds.
    pub fn validity(&self) -> (i64, i64) {
        (self.not_before, self.not_after)
    }
    /// subjectAltName entries we understand.
    pub fn san(&self) -> &[SanEntry] {
        &self.san
    }
    /// basicConstraints CA:TRUE.
    pub fn is_ca(&self) -> bool {
        matches!(self.basic_constraints, Some((true, _)))
    }
    /// Issuer and subject names are the same.
    pub fn is_self_issued(&self) -> bool {
        crate::dn::names_equal(&self.subject, &self.issuer)
    }
    /// The RSA public key.
    pub fn public_key(&self) -> Result<&PublicKey, CertError> {
        self.public_key
            .as_ref()
            .map_err(|alg| CertError::UnsupportedAlgorithm {
                subject: self.subject_str.clone(),
                alg: alg.clone(),
            })
    }

    /// Checks that `issuer`'s key signed this certificate.
    pub fn verify_signed_by(&self, issuer: &Certificate) -> Result<(), CertError> {
        let alg = self
            .sig_alg
            .clone()
            .map_err(|alg| CertError::UnsupportedAlgorithm {
                subject: self.subject_str.clone(),
                alg,
            })?;
        let key = issuer.public_key()?;
        key.verify_digest_info(alg, &self.tbs, &self.signature)
            .map_err(|_| CertError::BadSignature {
                subject: self.subject_str.clone(),
                issuer: issuer.subject_str.clone(),
            })
    }

    pub(crate) fn check_time(&self, now: i64) -> Result<(), CertError> {
        if now < self.not_before {
            return Err(CertError::NotYetValid {
                subject: self.subject_str.clone(),
                not_before: self.not_before_str.clone(),
            });
        }
        if now > self.not_after {
            return Err(CertError::Expired {
                subject: self.subject_str.clone(),
                not_after: self.not_after_str.clone(),
            });
        }
        Ok(())
    }

    pub(crate) fn check_critical(&self) -> Result<(), CertError> {
        match &self.unhandled_critical {
            Some(oid) => Err(CertError::UnhandledCriticalExtension {
                subject: self.subject_str.clone(),
                oid: oid.clone(),
            }),
            None => Ok(()),
        }
    }

    pub(crate) fn basic_constraints(&self) -> Option<(bool, Option<u32>)> {
        self.basic_constraints
    }
    pub(crate) fn key_usage(&self) -> Option<(bool, bool, bool)> {
        self.key_usage
    }
}

/// A parsed certificate revocation list.
#[derive(Clone)]
pub struct Crl {
    tbs: Vec<u8>,
    issuer: Vec<u8>,
    issuer_str: String,
    next_update: Option<(i64, String)>,
    revoked: Vec<Vec<u8>>,
    sig_alg: Result<SigAlg, String>,
    signature: Vec<u8>,
}

impl std::fmt::Debug for Crl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crl")
            .field("issuer", &self.issuer_str)
            .field("revoked", &self.revoked.len())
            .finish_non_exhaustive()
    }
}

impl Crl {
    /// Parses one DER CRL.
    pub fn from_der(der: &[u8]) -> Result<Self, ParseError> {
        if der.len() > crate::MAX_FILE_LEN {
            return Err(ParseError::TooLarge {
                what: "CRL",
                max: crate::MAX_FILE_LEN,
            });
        }
        let (rest, c) =
            x509_parser::parse_x509_crl(der).map_err(|e| ParseError::Crl(e.to_string()))?;
        if !rest.is_empty() {
            return Err(ParseError::Crl(format!("{} trailing bytes", rest.len())));
        }
        Ok(Self {
            tbs: c.tbs_cert_list.as_ref().to_vec(),
            issuer: c.issuer().as_raw().to_vec(),
            issuer_str: c.issuer().to_string(),
            next_update: c.next_update().map(|t| (t.timestamp(), t.to_string())),
            revoked: c
                .iter_revoked_certificates()
                .map(|r| r.raw_serial().to_vec())
                .collect(),
            sig_alg: SigAlg::from_oid(&c.signature_algorithm.algorithm)
                .ok_or_else(|| c.signature_algorithm.algorithm.to_id_string()),
            signature: c.signature_value.data.to_vec(),
        })
    }

    /// DER of the issuer name.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer
    }
    /// Issuer as text.
    pub fn issuer(&self) -> &str {
        &self.issuer_str
    }

    /// Whether the serial is listed.
    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        self.revoked.iter().any(|s| s == serial)
    }

    /// Verifies the CRL's signature with its issuer's certificate and its freshness.
    pub fn verify(&self, issuer: &Certificate, now: i64) -> Result<(), CertError> {
        let bad = || CertError::CrlBadSignature {
            issuer: self.issuer_str.clone(),
        };
        let alg = self.sig_alg.clone().map_err(|_| bad())?;
        issuer
            .public_key()?
            .verify_digest_info(alg, &self.tbs, &self.signature)
            .map_err(|_| bad())?;
        if let Some((next, s)) = &self.next_update {
            if now > *next {
                return Err(CertError::CrlExpired {
                    issuer: self.issuer_str.clone(),
                    next_update: s.clone(),
                });
            }
        }
        Ok(())
    }
}

fn looks_like_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Parses every certificate in `data`: PEM (any number of `CERTIFICATE` blocks; other blocks are
/// skipped) or concatenated DER.
pub fn parse_certificates(data: &[u8]) -> Result<Vec<Certificate>, ParseError> {
    if data.len() > crate::MAX_FILE_LEN {
        return Err(ParseError::TooLarge {
            what: "certificate file",
            max: crate::MAX_FILE_LEN,
        });
    }
    let mut out = Vec::new();
    if looks_like_pem(data) {
        for item in CertificateDer::pem_slice_iter(data) {
            let der = item.map_err(|e| ParseError::Pem(e.to_string()))?;
            push_limited(&mut out, Certificate::from_der(der.as_ref())?)?;
        }
    } else {
        let mut rest = data;
        while !rest.is_empty() {
            let (r, _) = x509_parser::certificate::X509Certificate::from_der(rest)
                .map_err(|e| ParseError::Certificate(e.to_string()))?;
            let len = rest.len() - r.len();
            push_limited(&mut out, Certificate::from_der(&rest[..len])?)?;
            rest = r;
        }
    }
    if out.is_empty() {
        return Err(ParseError::Empty("certificate"));
    }
    Ok(out)
}

/// Parses every CRL in `data` (PEM `X509 CRL` blocks or one DER CRL).
pub fn parse_crls(data: &[u8]) -> Result<Vec<Crl>, ParseError> {
    let mut out = Vec::new();
    if looks_like_pem(data) {
        for item in CertificateRevocationListDer::pem_slice_iter(data) {
            let der = item.map_err(|e| ParseError::Pem(e.to_string()))?;
            if out.len() >= MAX_CERTS_PER_FILE {
                return Err(ParseError::TooMany {
                    what: "CRLs",
                    max: MAX_CERTS_PER_FILE,
                });
            }
            out.push(Crl::from_der(der.as_ref())?);
        }
    } else {
        out.push(Crl::from_der(data)?);
    }
    if out.is_empty() {
        return Err(ParseError::Empty("CRL"));
    }
    Ok(out)
}

fn push_limited(out: &mut Vec<Certificate>, c: Certificate) -> Result<(), ParseError> {
    if out.len() >= MAX_CERTS_PER_FILE {
        return Err(ParseError::TooMany {
            what: "certificates",
            max: MAX_CERTS_PER_FILE,
        });
    }
    out.push(c);
    Ok(())
}
