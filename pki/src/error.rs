//! Typed errors. Every message names the certificate (by subject DN) or file it is about, so the
//! daemon can log it as it is.

use thiserror::Error;

/// Decoding certificates, CRLs, keys and DNs from bytes or text.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The X.509 DER did not parse.
    #[error("malformed X.509 certificate: {0}")]
    Certificate(String),
    /// The CRL DER did not parse.
    #[error("malformed X.509 CRL: {0}")]
    Crl(String),
    /// PEM armour was broken.
    #[error("malformed PEM: {0}")]
    Pem(String),
    /// Input larger than the limit for its kind.
    #[error("{what} larger than {max} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// More objects than accepted in one file.
    #[error("more than {max} {what} in one file")]
    TooMany {
        /// What there were too many of.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// No certificate (or key) was found.
    #[error("no {0} found")]
    Empty(&'static str),
    /// A private key protected by a passphrase.
    #[error("encrypted private keys are not supported (the key needs a passphrase): store it unencrypted, readable only by root")]
    EncryptedKey,
    /// Not an RSA key in PKCS#1 or PKCS#8 form.
    #[error("not an RSA private key in PKCS#1 or PKCS#8 form: {0}")]
    NotRsaKey(String),
    /// The key decoded but is not acceptable (size, consistency).
    #[error("unusable RSA key: {0}")]
    BadKey(String),
    /// A plainrsa-gen style key file did not parse.
    #[error("plain_rsa key file, line {line}: {msg}")]
    PlainRsa {
        /// 1-based line.
        line: usize,
        /// What was wrong.
        msg: String,
    },
    /// A distinguished name string or DER did not parse.
    #[error("bad distinguished name: {0}")]
    Dn(String),
}

/// Why a certificate chain was not accepted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CertError {
    /// now > notAfter.
    #[error("certificate \"{subject}\" has expired (notAfter {not_after})")]
    Expired {
        /// Subject DN.
        subject: String,
        /// notAfter, as printed by the parser.
        not_after: String,
    },
    /// now < notBefore.
    #[error("certificate \"{subject}\" is not yet valid (notBefore {not_before})")]
    NotYetValid {
        /// Subject DN.
        subject: String,
        /// notBefore.
        not_before: String,
    },
    /// No path to a configured trust anchor.
    #[error("certificate \"{subject}\" is not trusted: no trusted CA \"{issuer}\" (unable to get issuer certificate)")]
    Untrusted {
        /// Subject DN of the last certificate of the partial chain.
        subject: String,
        /// The issuer DN that was not found.
        issuer: String,
    },
    /// Listed in a CRL of its issuer.
    #[error("certificate \"{subject}\" (serial {serial}) has been revoked by its issuer's CRL")]
    Revoked {
        /// Subject DN.
        subject: String,
        /// Serial number in hex.
        serial: String,
    },
    /// Signature by the issuer does not verify.
    #[error("certificate \"{subject}\": signature by \"{issuer}\" does not verify")]
    BadSignature {
        /// Subject DN.
        subject: String,
        /// Issuer DN.
        issuer: String,
    },
    /// An issuer without basicConstraints CA:TRUE.
    #[error("certificate \"{subject}\" is used as a CA but is not a CA (basicConstraints CA:TRUE missing)")]
    NotCa {
        /// Subject DN.
        subject: String,
    },
    /// pathLenConstraint exceeded.
    #[error("path length constraint of CA \"{subject}\" exceeded")]
    PathLenExceeded {
        /// Subject DN of the constraining CA.
        subject: String,
    },
    /// keyUsage present but without the needed bit.
    #[error("certificate \"{subject}\": keyUsage lacks {missing}")]
    KeyUsage {
        /// Subject DN.
        subject: String,
        /// The missing usage.
        missing: &'static str,
    },
    /// Signature or key algorithm we do not implement.
    #[error("certificate \"{subject}\": unsupported algorithm {alg}")]
    UnsupportedAlgorithm {
        /// Subject DN.
        subject: String,
        /// Algorithm OID or name.
        alg: String,
    },
    /// A critical extension we do not understand.
    #[error("certificate \"{subject}\": unhandled critical extension {oid}")]
    UnhandledCriticalExtension {
        /// Subject DN.
        subject: String,
        /// Extension OID.
        oid: String,
    },
    /// The issuer's CRL is past its nextUpdate.
    #[error("CRL of \"{issuer}\" has expired (nextUpdate {next_update})")]
    CrlExpired {
        /// CRL issuer DN.
        issuer: String,
        /// nextUpdate.
        next_update: String,
    },
    /// A CRL from the directory whose signature does not verify.
    #[error("CRL of \"{issuer}\": signature does not verify")]
    CrlBadSignature {
        /// CRL issuer DN.
        issuer: String,
    },
    /// Path building tried too many candidate issuers.
    #[error("certificate path search gave up after {0} candidate issuers")]
    PathSearchExhausted(u32),
    /// Longer than [`crate::MAX_CHAIN_LEN`].
    #[error("certificate chain longer than {0}")]
    ChainTooLong(usize),
    /// A certificate field could not be interpreted.
    #[error("certificate \"{subject}\": {msg}")]
    Malformed {
        /// Subject DN.
        subject: String,
        /// What was wrong.
        msg: String,
    },
}

/// Identity checks (`peers_identifier`, `verify_identifier`).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IdentityError {
    /// The ID payload does not match the certificate.
    #[error("peer ID {id} does not match its certificate \"{subject}\"")]
    Mismatch {
        /// The ID as text.
        id: String,
        /// Certificate subject DN.
        subject: String,
    },
    /// ID type that cannot be checked against a certificate.
    #[error("ID type {0} cannot be checked against a certificate")]
    Unsupported(String),
    /// The ID payload data is malformed.
    #[error("malformed ID data: {0}")]
    Malformed(String),
}

/// RSA signature creation or verification.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SigError {
    /// Signature does not verify.
    #[error("RSA signature does not verify")]
    BadSignature,
    /// Input too long for the key (hash + 11 bytes of padding must fit).
    #[error("data of {len} bytes too long for a {bits}-bit RSA key")]
    TooLong {
        /// Data length.
        len: usize,
        /// Key size.
        bits: usize,
    },
    /// The certificate has no RSA key.
    #[error("certificate has no RSA public key ({0})")]
    NotRsa(String),
    /// Failure inside the RSA implementation.
    #[error("RSA operation failed: {0}")]
    Rsa(String),
}

/// Loading files (the only I/O in this crate).
#[derive(Debug, Error)]
pub enum LoadError {
    /// open/read failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The content did not parse.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        source: ParseError,
    },
}
