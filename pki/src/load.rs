//! The only file I/O of the crate: reading certificate, key and CA-directory files. Each reader
//! is bounded ([`crate::MAX_FILE_LEN`] per file, [`MAX_DIR_ENTRIES`] per directory) and hands the
//! bytes to the pure parsers.

use crate::cert::{parse_certificates, parse_crls, Certificate, Crl};
use crate::error::{LoadError, ParseError};
use crate::key::{parse_plain_rsa, parse_private_key, PlainRsaEntry, PrivateKey};
use crate::verify::TrustStore;
use std::io::Read;
use std::path::Path;
use zeroize::Zeroizing;

/// Most directory entries looked at in `path certificate`.
pub const MAX_DIR_ENTRIES: usize = 4096;

fn read_bounded(path: &Path) -> Result<Zeroizing<Vec<u8>>, LoadError> {
    let io = |source| LoadError::Io {
        path: path.display().to_string(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut buf = Zeroizing::new(Vec::new());
    f.take(crate::MAX_FILE_LEN as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() > crate::MAX_FILE_LEN {
        return Err(LoadError::Parse {
            path: path.display().to_string(),
            source: ParseError::TooLarge {
                what: "file",
                max: crate::MAX_FILE_LEN,
            },
        });
    }
    Ok(buf)
}

fn parse_err(path: &Path) -> impl Fn(ParseError) -> LoadError + '_ {
    move |source| LoadError::Parse {
        path: path.display().to_string(),
        source,
    }
}

/// Certificates from a PEM (several allowed) or DER file.
pub fn load_certificates(path: &Path) -> Result<Vec<Certificate>, LoadError> {
    parse_certificates(&read_bounded(path)?).map_err(parse_err(path))
}

/// An RSA private key (PKCS#1 or PKCS#8, PEM or DER).
pub fn load_private_key(path: &Path) -> Result<PrivateKey, LoadError> {
    parse_private_key(&read_bounded(path)?).map_err(parse_err(path))
}

/// A plain_rsa key file (`certificate_type plain_rsa`, `peers_certfile plain_rsa`).
pub fn load_plain_rsa(path: &Path) -> Result<Vec<PlainRsaEntry>, LoadError> {
    let data = read_bounded(path)?;
    let text = std::str::from_utf8(&data).map_err(|_| LoadError::Parse {
        path: path.display().to_string(),
        source: ParseError::PlainRsa {
            line: 0,
            msg: "not UTF-8 text".into(),
        },
    })?;
    parse_plain_rsa(text).map_err(parse_err(path))
}

/// CRLs from a PEM or DER file.
pub fn load_crls(path: &Path) -> Result<Vec<Crl>, LoadError> {
    parse_crls(&read_bounded(path)?).map_err(parse_err(path))
}

/// What [`load_ca_dir`] found.
#[derive(Debug, Default)]
pub struct CaDirReport {
    /// Certificates added.
    pub certificates: usize,
    /// CRLs added.
    pub crls: usize,
    /// Files that were neither (name and reason), for warnings.
    pub skipped: Vec<(String, String)>,
}

/// Loads every certificate and CRL found in the `path certificate` directory (an OpenSSL hashed
/// CApath; the `<hash>.N` / `<hash>.rN` names are not relied upon: every regular file is tried)
/// into `store`. Files that hold neither are reported, not fatal.
pub fn load_ca_dir(dir: &Path, store: &mut TrustStore) -> Result<CaDirReport, LoadError> {
    let io = |source| LoadError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .take(MAX_DIR_ENTRIES)
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    names.sort();
    let mut rep = CaDirReport::default();
    for p in names {
        if !p.is_file() {
            continue;
        }
        let name = p.display().to_string();
        let data = match read_bounded(&p) {
            Ok(d) => d,
            Err(e) => {
                rep.skipped.push((name, e.to_string()));
                continue;
            }
        };
        match parse_certificates(&data) {
            Ok(certs) => {
                rep.certificates += certs.len();
                certs.into_iter().for_each(|c| store.add(c));
                // a PEM bundle may carry CRLs next to the certificates
                if data.windows(15).any(|w| w == b"BEGIN X509 CRL-") {
                    if let Ok(crls) = parse_crls(&data) {
                        rep.crls += crls.len();
                        crls.into_iter().for_each(|c| store.add_crl(c));
                    }
                }
            }
            Err(ce) => match parse_crls(&data) {
                Ok(crls) => {
                    rep.crls += crls.len();
                    crls.into_iter().for_each(|c| store.add_crl(c));
                }
                Err(_) => rep.skipped.push((name, ce.to_string())),
            },
        }
    }
    Ok(rep)
}

/// Loads a `ca_type x509` file into `store` (self-signed certificates become anchors).
pub fn load_ca_file(path: &Path, store: &mut TrustStore) -> Result<usize, LoadError> {
    let certs = load_certificates(path)?;
    let n = certs.len();
    for c in certs {
        if c.is_self_issued() {
            store.add_anchor(c);
        } else {
            store.add(c);
        }
    }
    Ok(n)
}
