//! Distinguished names: text (racoon/OpenSSL order `C=XX, O=Example, CN=host`, RFC 4514 escapes)
//! to DER, comparison, and `peers_identifier asn1dn` patterns with `*` wildcards.
//!
//! Order: racoon builds the DER with the attributes in the order written (the OpenSSL
//! convention, most significant first), *not* reversed as RFC 4514 strings are. We do the same.

use crate::error::ParseError;
use der::asn1::{Any, Ia5StringRef, ObjectIdentifier, PrintableStringRef, SetOfVec, Utf8StringRef};
use der::{Encode, Sequence, ValueOrd};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

/// Longest DN string or DER accepted.
pub const MAX_DN_LEN: usize = 4096;

const ATTRS: &[(&str, &str)] = &[
    ("C", "2.5.4.6"),
    ("ST", "2.5.4.8"),
    ("S", "2.5.4.8"),
    ("L", "2.5.4.7"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("GN", "2.5.4.42"),
    ("T", "2.5.4.12"),
    ("TITLE", "2.5.4.12"),
    ("STREET", "2.5.4.9"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("POSTALCODE", "2.5.4.17"),
    ("DNQUALIFIER", "2.5.4.46"),
    ("INITIALS", "2.5.4.43"),
    ("PSEUDONYM", "2.5.4.65"),
    ("E", "1.2.840.113549.1.9.1"),
    ("EMAIL", "1.2.840.113549.1.9.1"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
];

fn attr_oid(name: &str) -> Result<ObjectIdentifier, ParseError> {
    let up = name.to_ascii_uppercase();
    let s = ATTRS
        .iter()
        .find(|(n, _)| *n == up)
        .map(|(_, o)| *o)
        .unwrap_or(name);
    if !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(ParseError::Dn(format!("unknown attribute type {name:.40}")));
    }
    // const-oid 0.9 multiplies arcs without overflow checks (a panic with
    // overflow checks on, found by fuzzing): refuse arcs over u32 ourselves.
    if s.split('.').any(|arc| arc.parse::<u32>().is_err()) {
        return Err(ParseError::Dn(format!("bad attribute OID {name:.40}")));
    }
    ObjectIdentifier::new(s).map_err(|_| ParseError::Dn(format!("bad attribute OID {name:.40}")))
}

/// One character of a parsed value: literal, or an unescaped `*` (wildcard in patterns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Star,
}

/// A DN as written in the configuration: RDNs of (attribute OID, value tokens).
type TextDn = Vec<Vec<(ObjectIdentifier, Vec<Tok>)>>;

fn hexval(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Splits `s` into RDNs (`,` or `;` separated; `+` joins multi-valued RDNs) with RFC 4514 escapes
/// (`\,` `\+` `\"` `\\` `\<` `\>` `\;` `\=` `\#` `\ ` `\*` and `\XX` hex pairs, UTF-8).
fn parse_text(s: &str) -> Result<TextDn, ParseError> {
    if s.len() > MAX_DN_LEN {
        return Err(ParseError::Dn("too long".into()));
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut dn: TextDn = Vec::new();
    let mut rdn = Vec::new();
    loop {
        // attribute type
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' {
            if matches!(b[i], b',' | b';' | b'+') {
                return Err(ParseError::Dn(format!("missing `=` in {s:.60}")));
            }
            i += 1;
        }
        if i >= b.len() {
            if start == b.len() && dn.is_empty() && rdn.is_empty() {
                return Err(ParseError::Dn("empty".into()));
            }
            return Err(ParseError::Dn(format!("missing `=` in {s:.60}")));
        }
        let oid = attr_oid(s[start..i].trim())?;
        i += 1;
        // value
        let mut raw: Vec<(u8, bool)> = Vec::new(); // (byte, escaped)
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let quoted = i < b.len() && b[i] == b'"';
        if quoted {
            i += 1;
        }
        let mut sep = None;
        while i < b.len() {
            let c = b[i];
            if c == b'\\' {
                let n = *b
                    .get(i + 1)
                    .ok_or_else(|| ParseError::Dn("dangling `\\`".into()))?;
                if let (Some(h), Some(l)) = (hexval(n), b.get(i + 2).copied().and_then(hexval)) {
                    raw.push((h << 4 | l, true));
                    i += 3;
                } else if b",+\"\\<>;=# *".contains(&n) {
                    raw.push((n, true));
                    i += 2;
                } else {
                    return Err(ParseError::Dn(format!("bad escape `\\{}`", n as char)));
                }
                continue;
            }
            if quoted {
                if c == b'"' {
                    i += 1;
                    while i < b.len() && b[i] == b' ' {
                        i += 1;
                    }
                    if i < b.len() {
                        sep = Some(b[i]);
                        if !matches!(b[i], b',' | b';' | b'+') {
                            return Err(ParseError::Dn("text after closing quote".into()));
                        }
                        i += 1;
                    }
                    break;
                }
                raw.push((c, false));
                i += 1;
                continue;
            }
            if matches!(c, b',' | b';' | b'+') {
                sep = Some(c);
                i += 1;
                break;
            }
            raw.push((c, false));
            i += 1;
        }
        if !quoted {
            while matches!(raw.last(), Some((b' ', false))) {
                raw.pop();
            }
        }
        // bytes -> chars (escaped hex pairs may form UTF-8 sequences)
        let bytes: Vec<u8> = raw.iter().map(|(c, _)| *c).collect();
        let text =
            std::str::from_utf8(&bytes).map_err(|_| ParseError::Dn("value is not UTF-8".into()))?;
        let mut toks = Vec::new();
        let mut pos = 0;
        for ch in text.chars() {
            let escaped = raw[pos].1;
            pos += ch.len_utf8();
            toks.push(if ch == '*' && !escaped {
                Tok::Star
            } else {
                Tok::Lit(ch)
            });
        }
        rdn.push((oid, toks));
        match sep {
            Some(b'+') => continue,
            Some(_) => {
                dn.push(std::mem::take(&mut rdn));
                if i >= b.len() {
                    return Err(ParseError::Dn("trailing separator".into()));
                }
            }
            None => {
                dn.push(std::mem::take(&mut rdn));
                break;
            }
        }
    }
    Ok(dn)
}

#[derive(Sequence, ValueOrd)]
struct Atv {
    oid: ObjectIdentifier,
    value: Any,
}

fn string_type_for(oid: &ObjectIdentifier, v: &str) -> Result<Any, ParseError> {
    let e = |x: der::Error| ParseError::Dn(x.to_string());
    let s = oid.to_string();
    let printable = matches!(s.as_str(), "2.5.4.6" | "2.5.4.5" | "2.5.4.46");
    let ia5 = matches!(
        s.as_str(),
        "1.2.840.113549.1.9.1" | "0.9.2342.19200300.100.1.25"
    );
    if printable {
        Any::encode_from(&PrintableStringRef::new(v).map_err(e)?).map_err(e)
    } else if ia5 {
        Any::encode_from(&Ia5StringRef::new(v).map_err(e)?).map_err(e)
    } else {
        Any::encode_from(&Utf8StringRef::new(v).map_err(e)?).map_err(e)
    }
}

/// Encodes a DN string (`C=XX, O=Example, CN=gw.example.net`) as a DER Name, in written order.
/// `C`, `serialNumber`, `dnQualifier` become PrintableString, `E`/`DC` IA5String, the rest
/// UTF8String (what OpenSSL, and so racoon, produce).
pub fn dn_from_str(s: &str) -> Result<Vec<u8>, ParseError> {
    let text = parse_text(s)?;
    let mut seq: Vec<SetOfVec<Atv>> = Vec::new();
    for rdn in text {
        let mut set = SetOfVec::new();
        for (oid, toks) in rdn {
            let v: String = toks
                .iter()
                .map(|t| match t {
                    Tok::Lit(c) => *c,
                    Tok::Star => '*',
                })
                .collect();
            let value = string_type_for(&oid, &v)?;
            set.insert(Atv { oid, value })
                .map_err(|e| ParseError::Dn(e.to_string()))?;
        }
        seq.push(set);
    }
    seq.to_der().map_err(|e| ParseError::Dn(e.to_string()))
}

/// `my_identifier asn1dn` value: `"~HEX"` is raw DER (checked to be a Name), anything else a DN
/// string.
pub fn asn1dn_from_config(s: &str) -> Result<Vec<u8>, ParseError> {
    if let Some(h) = s.strip_prefix('~') {
        let der = data_encoding::HEXLOWER_PERMISSIVE
            .decode(h.trim().as_bytes())
            .map_err(|_| ParseError::Dn("bad hex after `~`".into()))?;
        parse_name(&der)?;
        return Ok(der);
    }
    dn_from_str(s)
}

fn parse_name(der: &[u8]) -> Result<X509Name<'_>, ParseError> {
    if der.len() > MAX_DN_LEN {
        return Err(ParseError::Dn("too long".into()));
    }
    match X509Name::from_der(der) {
        Ok(([], n)) => Ok(n),
        Ok(_) => Err(ParseError::Dn("trailing bytes after Name".into())),
        Err(e) => Err(ParseError::Dn(e.to_string())),
    }
}

/// A DER Name as readable text (`C=XX, O=Example, CN=…`).
pub fn dn_to_string(der: &[u8]) -> Result<String, ParseError> {
    Ok(parse_name(der)?.to_string())
}

/// (OID text, value) pairs per RDN, values decoded where possible, else `#hex`.
fn name_values(der: &[u8]) -> Result<Vec<Vec<(String, String)>>, ParseError> {
    let n = parse_name(der)?;
    Ok(n.iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let v = atv.as_str().map(str::to_owned).unwrap_or_else(|_| {
                        format!("#{}", data_encoding::HEXLOWER.encode(atv.attr_value().data))
                    });
                    (atv.attr_type().to_id_string(), v)
                })
                .collect()
        })
        .collect())
}

fn norm(v: &str) -> String {
    // RFC 5280 §7.1 style: case-insensitive, insignificant spaces collapsed.
    v.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether two DER Names are the same: byte-equal, or equal attribute by attribute ignoring case,
/// string type and repeated spaces.
pub fn names_equal(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    match (name_values(a), name_values(b)) {
        (Ok(x), Ok(y)) => {
            x.len() == y.len()
                && x.iter().zip(&y).all(|(r, s)| {
                    r.len() == s.len()
                        && r.iter()
                            .zip(s)
                            .all(|((o1, v1), (o2, v2))| o1 == o2 && norm(v1) == norm(v2))
                })
        }
        _ => false,
    }
}

/// Glob match with `*` (any run of characters), case-insensitive, iterative (O(n·m) worst case,
/// both bounded by [`MAX_DN_LEN`]).
fn glob(pat: &[Tok], val: &[char]) -> bool {
    let (mut p, mut v) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    let eq = |a: char, b: char| a.to_lowercase().eq(b.to_lowercase());
    while v < val.len() {
        match pat.get(p) {
            Some(Tok::Star) => {
                star = Some(p);
                mark = v;
                p += 1;
            }
            Some(Tok::Lit(c)) if eq(*c, val[v]) => {
                p += 1;
                v += 1;
            }
            _ => match star {
                Some(s) => {
                    p = s + 1;
                    mark += 1;
                    v = mark;
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|t| *t == Tok::Star)
}

/// A `peers_identifier asn1dn "…"` pattern: same RDNs in the same order, each value compared
/// case-insensitively, with unescaped `*` matching any run of characters (`CN=*` matches any CN,
/// `CN=*.example.net` any host under example.net; `\*` is a literal star).
#[derive(Debug, Clone)]
pub struct DnPattern(TextDn, String);

impl DnPattern {
    /// Parses the pattern text.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        parse_text(s).map(|d| Self(d, s.to_owned()))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.1
    }

    /// Whether the DER Name (from the peer's ID payload or certificate) matches.
    pub fn matches(&self, der: &[u8]) -> bool {
        let Ok(vals) = name_values(der) else {
            return false;
        };
        vals.len() == self.0.len()
            && vals.iter().zip(&self.0).all(|(r, pr)| {
                r.len() == pr.len()
                    && r.iter().zip(pr).all(|((oid, v), (poid, toks))| {
                        let chars: Vec<char> = v
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                            .chars()
                            .collect();
                        *oid == poid.to_string() && glob(toks, &chars)
                    })
            })
    }
}
