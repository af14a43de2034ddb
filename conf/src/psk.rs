//! psk.txt: `identity key` lines, as racoon reads them.

use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

/// Longest line racoon reads (its buffer is 1024 bytes with the terminator).
pub const MAX_LINE: usize = 1023;
/// Largest psk file we read.
pub const MAX_FILE: u64 = 4 << 20;

/// A pre-shared key: zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PskKey(Zeroizing<Vec<u8>>);

impl PskKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        PskKey(Zeroizing::new(bytes))
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for PskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PskKey(<redacted {} bytes>)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PskEntry {
    /// First word of the line; `*` matches every identity.
    pub identity: String,
    pub key: PskKey,
    /// 1-based line number.
    pub line: usize,
}

/// The entries of a psk.txt, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PskFile {
    pub entries: Vec<PskEntry>,
}

impl PskFile {
    /// The key of the first line whose identity equals `id` or is `*`.
    pub fn lookup(&self, id: &str) -> Option<&PskKey> {
        self.entries
            .iter()
            .find(|e| e.identity == id || e.identity == "*")
            .map(|e| &e.key)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PskError {
    #[error("line {line}: longer than {MAX_LINE} bytes")]
    LineTooLong { line: usize },
    #[error("line {line}: identity \"{identity}\" has no key")]
    MissingKey { line: usize, identity: String },
    #[error("line {line}: invalid hexadecimal key")]
    BadHex { line: usize },
    #[error("{path}: {source}")]
    Io { path: String, source: IoKind },
    #[error("{path}: has weak file permission (mode {mode:04o}; must not be accessible by group or others)")]
    WeakPermission { path: String, mode: u32 },
    #[error("{path}: invalid owner uid {uid} (must be owned by uid {euid})")]
    InvalidOwner { path: String, uid: u32, euid: u32 },
    #[error("{path}: not a regular file")]
    NotRegular { path: String },
    #[error("{path}: larger than {MAX_FILE} bytes")]
    TooLarge { path: String },
}

/// I/O failure kinds (io::Error is not `PartialEq`).
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum IoKind {
    #[error("no such file")]
    NotFound,
    #[error("permission denied")]
    PermissionDenied,
    #[error("read error")]
    Other,
}

impl From<&std::io::Error> for IoKind {
    fn from(e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => IoKind::NotFound,
            std::io::ErrorKind::PermissionDenied => IoKind::PermissionDenied,
            _ => IoKind::Other,
        }
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn decode_hex(s: &[u8]) -> Option<Vec<u8>> {
    let nib = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    // An odd number of digits is read as if it had a leading 0.
    let mut out = Vec::with_capacity(s.len() / 2 + 1);
    let mut i = 0;
    if s.len() % 2 == 1 {
        out.push(nib(s[0])?);
        i = 1;
    }
    while i < s.len() {
        out.push(nib(s[i])? << 4 | nib(s[i + 1])?);
        i += 2;
    }
    Some(out)
}

/// Parse psk.txt text. Pure; never panics.
pub fn parse_psk(text: &str) -> Result<PskFile, PskError> {
    let mut entries = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line = n + 1;
        let b = raw.as_bytes();
        if b.len() > MAX_LINE {
            return Err(PskError::LineTooLong { line });
        }
        if b.first() == Some(&b'#') {
            continue;
        }
        let start = b.iter().position(|&c| !is_blank(c)).unwrap_or(b.len());
        let b = &b[start..];
        if b.is_empty() || b == b"\r" {
            continue;
        }
        let id_end = b.iter().position(|&c| is_blank(c)).unwrap_or(b.len());
        let identity = String::from_utf8_lossy(&b[..id_end]).into_owned();
        let rest = &b[id_end..];
        let kstart = rest
            .iter()
            .position(|&c| !is_blank(c))
            .unwrap_or(rest.len());
        let key = &rest[kstart..];
        if key.is_empty() {
            return Err(PskError::MissingKey { line, identity });
        }
        let key = if let Some(hex) = key.strip_prefix(b"0x") {
            let hex = hex.strip_suffix(b"\r").unwrap_or(hex);
            let hex: &[u8] = {
                let end = hex.iter().rposition(|&c| !is_blank(c)).map_or(0, |i| i + 1);
                &hex[..end]
            };
            if hex.is_empty() {
                return Err(PskError::BadHex { line });
            }
            decode_hex(hex).ok_or(PskError::BadHex { line })?
        } else {
            key.to_vec()
        };
        entries.push(PskEntry {
            identity,
            key: PskKey::new(key),
            line,
        });
    }
    Ok(PskFile { entries })
}

/// Read and parse a psk file, refusing it like racoon when it is not a regular file,
/// is accessible by group or others, or is owned by another user than the effective uid.
pub fn load_psk(path: &Path) -> Result<PskFile, PskError> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let p = path.display().to_string();
    let io = |e: std::io::Error| PskError::Io {
        path: p.clone(),
        source: IoKind::from(&e),
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let md = f.metadata().map_err(io)?;
    if !md.is_file() {
        return Err(PskError::NotRegular { path: p });
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if md.uid() != euid {
        return Err(PskError::InvalidOwner {
            path: p,
            uid: md.uid(),
            euid,
        });
    }
    if md.mode() & 0o077 != 0 {
        return Err(PskError::WeakPermission {
            path: p,
            mode: md.mode() & 0o7777,
        });
    }
    if md.len() > MAX_FILE {
        return Err(PskError::TooLarge { path: p });
    }
    let mut buf = Zeroizing::new(Vec::new());
    f.take(MAX_FILE + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > MAX_FILE {
        return Err(PskError::TooLarge { path: p });
    }
    let text = Zeroizing::new(String::from_utf8_lossy(&buf).into_owned());
    parse_psk(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        let f =
            parse_psk("# c\n10.0.0.1\tsecret key  \nfoo@x 0x0a0B\n\n*  any\n  v6::1 k\n").unwrap();
        assert_eq!(f.entries.len(), 4);
        assert_eq!(f.entries[0].key.expose(), b"secret key  ");
        assert_eq!(f.entries[1].key.expose(), &[0x0a, 0x0b]);
        assert_eq!(f.entries[1].line, 3);
        assert_eq!(f.lookup("10.0.0.1").unwrap().expose(), b"secret key  ");
        assert_eq!(f.lookup("nobody").unwrap().expose(), b"any");
        assert_eq!(f.entries[3].identity, "v6::1");
    }

    #[test]
    fn odd_hex_and_errors() {
        assert_eq!(
            parse_psk("a 0xabc").unwrap().entries[0].key.expose(),
            &[0x0a, 0xbc]
        );
        assert_eq!(parse_psk("a 0xzz"), Err(PskError::BadHex { line: 1 }));
        assert_eq!(parse_psk("a 0x"), Err(PskError::BadHex { line: 1 }));
        assert_eq!(
            parse_psk("\nonlyid\n"),
            Err(PskError::MissingKey {
                line: 2,
                identity: "onlyid".into()
            })
        );
        let long = format!("id {}", "k".repeat(2000));
        assert_eq!(parse_psk(&long), Err(PskError::LineTooLong { line: 1 }));
    }

    #[test]
    fn debug_is_redacted() {
        let f = parse_psk("id topsecret").unwrap();
        let s = format!("{f:?}");
        assert!(!s.contains("topsecret"), "{s}");
        assert!(s.contains("redacted"));
    }
}
