//! RSA keys and the two kinds of signatures IKEv1 needs: DigestInfo-prefixed PKCS#1 v1.5 for
//! certificates and CRLs, and the *unprefixed* PKCS#1 v1.5 type-1 signature over the raw
//! HASH_I/HASH_R bytes that RFC 2409 §5.1 and every IKEv1 implementation use for SIG payloads.

use crate::cert::SigAlg;
use crate::error::{ParseError, SigError};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

/// An RSA public key (from a certificate or a plain_rsa `PUB` line).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(RsaPublicKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey(RSA-{})", self.bits())
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[i..]
}

fn uint(b: &[u8]) -> BoxedUint {
    BoxedUint::from_be_slice_vartime(strip_zeros(b))
}

impl PublicKey {
    /// From big-endian modulus and exponent (1024 to 8192 bits).
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, ParseError> {
        if strip_zeros(n).len() > RsaPublicKey::MAX_SIZE / 8 || strip_zeros(e).len() > 8 {
            return Err(ParseError::BadKey("modulus or exponent too large".into()));
        }
        RsaPublicKey::new(uint(n), uint(e))
            .map(Self)
            .map_err(|e| ParseError::BadKey(e.to_string()))
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.0.n().bits() as usize
    }

    /// Signature length in bytes.
    pub fn size(&self) -> usize {
        self.0.size()
    }

    /// Verifies an IKEv1 SIG payload: PKCS#1 v1.5 type 1 over `hash` (HASH_I or HASH_R) with no
    /// DigestInfo prefix.
    pub fn verify_raw(&self, hash: &[u8], sig: &[u8]) -> Result<(), SigError> {
        self.0
            .verify(Pkcs1v15Sign::new_unprefixed(), hash, sig)
            .map_err(|_| SigError::BadSignature)
    }

    pub(crate) fn verify_digest_info(
        &self,
        alg: SigAlg,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), SigError> {
        let r = match alg {
            SigAlg::RsaSha1 => self
                .0
                .verify(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(msg), sig),
            SigAlg::RsaSha256 => {
                self.0
                    .verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(msg), sig)
            }
            SigAlg::RsaSha384 => {
                self.0
                    .verify(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(msg), sig)
            }
            SigAlg::RsaSha512 => {
                self.0
                    .verify(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(msg), sig)
            }
        };
        r.map_err(|_| SigError::BadSignature)
    }
}

/// An RSA private key. Zeroized on drop (by the `rsa` crate); Debug shows only the size.
#[derive(Clone)]
pub struct PrivateKey(RsaPrivateKey);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PrivateKey(RSA-{}, <redacted>)",
            self.public_key().bits()
        )
    }
}

impl PrivateKey {
    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.to_public_key())
    }

    /// Produces an IKEv1 SIG payload body: PKCS#1 v1.5 type-1 padding over the raw `hash`
    /// (HASH_I/HASH_R), no DigestInfo, computed with constant-time arithmetic.
    pub fn sign_raw(&self, hash: &[u8]) -> Result<Vec<u8>, SigError> {
        if hash.len() + 11 > self.0.size() {
            return Err(SigError::TooLong {
                len: hash.len(),
                bits: self.public_key().bits(),
            });
        }
        self.0
            .sign(Pkcs1v15Sign::new_unprefixed(), hash)
            .map_err(|e| SigError::Rsa(e.to_string()))
    }

    fn checked(k: RsaPrivateKey) -> Result<Self, ParseError> {
        let bits = k.n().bits() as usize;
        if !(RsaPublicKey::MIN_SIZE..=RsaPublicKey::MAX_SIZE).contains(&bits) {
            return Err(ParseError::BadKey(format!("{bits}-bit modulus")));
        }
        Ok(Self(k))
    }

    /// From the big-endian components of a plainrsa-gen file.
    pub fn from_components(
        n: &[u8],
        e: &[u8],
        d: &[u8],
        primes: &[&[u8]],
    ) -> Result<Self, ParseError> {
        if strip_zeros(n).len() > RsaPublicKey::MAX_SIZE / 8 || strip_zeros(e).len() > 8 {
            return Err(ParseError::BadKey("modulus or exponent too large".into()));
        }
        let nbits = (strip_zeros(n).len() * 8) as u32;
        let d = BoxedUint::from_be_slice(strip_zeros(d), nbits.max(64))
            .map_err(|_| ParseError::BadKey("private exponent larger than modulus".into()))?;
        let ps = primes.iter().map(|p| uint(p)).collect();
        RsaPrivateKey::from_components(uint(n), uint(e), d, ps)
            .map_err(|e| ParseError::BadKey(e.to_string()))
            .and_then(Self::checked)
    }
}

/// Parses an RSA private key: PEM (`RSA PRIVATE KEY` = PKCS#1, `PRIVATE KEY` = PKCS#8) or DER
/// (PKCS#1, then PKCS#8 is tried). Encrypted keys give [`ParseError::EncryptedKey`].
pub fn parse_private_key(data: &[u8]) -> Result<PrivateKey, ParseError> {
    if data.len() > crate::MAX_FILE_LEN {
        return Err(ParseError::TooLarge {
            what: "key file",
            max: crate::MAX_FILE_LEN,
        });
    }
    let has = |pat: &[u8]| data.windows(pat.len()).any(|w| w == pat);
    if has(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || has(b"Proc-Type: 4,ENCRYPTED") {
        return Err(ParseError::EncryptedKey);
    }
    if has(b"-----BEGIN ") {
        let key = PrivateKeyDer::from_pem_slice(data).map_err(|e| match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                ParseError::NotRsaKey("no PRIVATE KEY block in the PEM file".into())
            }
            e => ParseError::Pem(e.to_string()),
        })?;
        let k = match &key {
            PrivateKeyDer::Pkcs1(k) => RsaPrivateKey::from_pkcs1_der(k.secret_pkcs1_der())
                .map_err(|e| ParseError::NotRsaKey(e.to_string()))?,
            PrivateKeyDer::Pkcs8(k) => RsaPrivateKey::from_pkcs8_der(k.secret_pkcs8_der())
                .map_err(|e| ParseError::NotRsaKey(e.to_string()))?,
            PrivateKeyDer::Sec1(_) => {
                return Err(ParseError::NotRsaKey(
                    "EC key (SEC1); rsasig needs RSA".into(),
                ))
            }
            _ => return Err(ParseError::NotRsaKey("unknown PEM key type".into())),
        };
        return PrivateKey::checked(k);
    }
    match RsaPrivateKey::from_pkcs1_der(data) {
        Ok(k) => PrivateKey::checked(k),
        Err(e1) => match RsaPrivateKey::from_pkcs8_der(data) {
            Ok(k) => PrivateKey::checked(k),
            Err(e8) => Err(ParseError::NotRsaKey(format!(
                "as PKCS#1 DER: {e1}; as PKCS#8 DER: {e8} (encrypted DER keys are not supported either)"
            ))),
        },
    }
}

/// A key from a racoon `plain_rsa` file (plainrsa-gen format).
#[derive(Debug, Clone)]
pub enum PlainRsaKey {
    /// `: RSA { Modulus: … PrivateExponent: … }`.
    Private(Box<PrivateKey>),
    /// `: PUB 0s…` or `: PUB 0x…`.
    Public(PublicKey),
}

impl PlainRsaKey {
    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::Private(k) => k.public_key(),
            Self::Public(k) => k.clone(),
        }
    }
}

/// One entry of a plain_rsa file: the optional address selectors before `:` and the key.
#[derive(Debug, Clone)]
pub struct PlainRsaEntry {
    /// Selectors as written (`192.0.2.1`, `10.0.0.0/8`, `any`); empty = any.
    pub selectors: Vec<String>,
    /// The key.
    pub key: PlainRsaKey,
}

fn prsa_err(line: usize, msg: impl Into<String>) -> ParseError {
    ParseError::PlainRsa {
        line,
        msg: msg.into(),
    }
}

fn decode_prsa_number(line: usize, v: &str) -> Result<Zeroizing<Vec<u8>>, ParseError> {
    let v = v.trim();
    if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        let h = if h.len() % 2 == 1 {
            Zeroizing::new(format!("0{h}"))
        } else {
            Zeroizing::new(h.to_owned())
        };
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(h.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| prsa_err(line, "bad hex number"))
    } else if let Some(b) = v.strip_prefix("0s") {
        data_encoding::BASE64
            .decode(b.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| prsa_err(line, "bad base64 number"))
    } else {
        Err(prsa_err(line, "number must start with 0x or 0s"))
    }
}

/// Public key in RFC 3110 form (exponent length, exponent, modulus), as `: PUB 0s…` carries it.
fn rfc3110_key(line: usize, b: &[u8]) -> Result<PublicKey, ParseError> {
    let (elen, rest) = match b {
        [0, hi, lo, rest @ ..] => (usize::from(*hi) << 8 | usize::from(*lo), rest),
        [l, rest @ ..] => (usize::from(*l), rest),
        [] => return Err(prsa_err(line, "empty public key")),
    };
    if elen == 0 || elen >= rest.len() {
        return Err(prsa_err(line, "bad RFC 3110 public key"));
    }
    PublicKey::from_components(&rest[elen..], &rest[..elen])
        .map_err(|e| prsa_err(line, e.to_string()))
}

const PRSA_FIELDS: [&str; 8] = [
    "Modulus",
    "PublicExponent",
    "PrivateExponent",
    "Prime1",
    "Prime2",
    "Exponent1",
    "Exponent2",
    "Coefficient",
];

/// Parses a plain_rsa key file (private `RSA { … }` blocks and/or `PUB` lines). `#` starts a
/// comment. At most [`crate::MAX_CERTS_PER_FILE`] keys.
pub fn parse_plain_rsa(text: &str) -> Result<Vec<PlainRsaEntry>, ParseError> {
    if text.len() > crate::MAX_FILE_LEN {
        return Err(ParseError::TooLarge {
            what: "plain_rsa file",
            max: crate::MAX_FILE_LEN,
        });
    }
    let mut out = Vec::new();
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty());
    while let Some((ln, l)) = lines.next() {
        let Some((sel, rest)) = l.split_once(':') else {
            return Err(prsa_err(ln, "expected `[selectors] : RSA {` or `: PUB`"));
        };
        let selectors: Vec<String> = sel.split_whitespace().map(str::to_owned).collect();
        let rest = rest.trim();
        if out.len() >= crate::MAX_CERTS_PER_FILE {
            return Err(prsa_err(ln, "too many keys"));
        }
        if let Some(v) = rest.strip_prefix("PUB") {
            let b = decode_prsa_number(ln, v)?;
            out.push(PlainRsaEntry {
                selectors,
                key: PlainRsaKey::Public(rfc3110_key(ln, &b)?),
            });
            continue;
        }
        let Some(after) = rest.strip_prefix("RSA") else {
            return Err(prsa_err(ln, "expected RSA or PUB after `:`"));
        };
        // `{` may be on this line or the next; `}` may follow the last field.
        let mut body = String::new();
        body.push_str(after);
        let mut closed = after.contains('}');
        let start = ln;
        while !closed {
            let Some((_, l)) = lines.next() else {
                return Err(prsa_err(start, "unterminated RSA { … } block"));
            };
            body.push('\n');
            body.push_str(l);
            closed = l.contains('}');
            if body.len() > 64 * 1024 {
                return Err(prsa_err(start, "RSA block too long"));
            }
        }
        let body = Zeroizing::new(body);
        let inner = body
            .trim()
            .strip_prefix('{')
            .and_then(|b| b.split('}').next())
            .ok_or_else(|| prsa_err(start, "expected `{` after RSA"))?;
        let mut vals: [Option<Zeroizing<Vec<u8>>>; 8] = Default::default();
        for item in inner.split('\n').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, v) = item.split_once(':').ok_or_else(|| {
                prsa_err(start, format!("expected `Name: value`, got {:.20}", item))
            })?;
            let idx = PRSA_FIELDS
                .iter()
                .position(|f| *f == name.trim())
                .ok_or_else(|| prsa_err(start, format!("unknown field {:.30}", name.trim())))?;
            vals[idx] = Some(decode_prsa_number(start, v)?);
        }
        let get = |i: usize| {
            vals[i]
                .as_ref()
                .ok_or_else(|| prsa_err(start, format!("missing {}", PRSA_FIELDS[i])))
        };
        let (n, e) = (get(0)?, get(1)?);
        let key = match &vals[2] {
            Some(d) => {
                let primes: Vec<&[u8]> = match (&vals[3], &vals[4]) {
                    (Some(p), Some(q)) => vec![p.as_slice(), q.as_slice()],
                    _ => vec![],
                };
                PlainRsaKey::Private(Box::new(
                    PrivateKey::from_components(n, e, d, &primes)
                        .map_err(|e| prsa_err(start, e.to_string()))?,
                ))
            }
            None => PlainRsaKey::Public(
                PublicKey::from_components(n, e).map_err(|e| prsa_err(start, e.to_string()))?,
            ),
        };
        out.push(PlainRsaEntry { selectors, key });
    }
    if out.is_empty() {
        return Err(ParseError::Empty("plain_rsa key"));
    }
    Ok(out)
}
