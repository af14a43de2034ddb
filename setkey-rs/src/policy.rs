//! The policy language after `-P` (libipsec `ipsec_set_policy`).
//!
//! `DIR [PRIORITY] ACTION [RULE ...]` or `DIR` alone. Errors are the libipsec
//! `ipsec_strerror()` strings that setkey prints.

use crate::algs::{IPPROTO_AH, IPPROTO_ESP, IPPROTO_IPCOMP, MODE_TRANSPORT, MODE_TUNNEL};
use std::net::{IpAddr, SocketAddr};

pub const DIR_ANY: u8 = 0;
pub const DIR_INBOUND: u8 = 1;
pub const DIR_OUTBOUND: u8 = 2;
pub const DIR_FWD: u8 = 3;

pub const POLICY_DISCARD: u16 = 0;
pub const POLICY_NONE: u16 = 1;
pub const POLICY_IPSEC: u16 = 2;
pub const POLICY_ENTRUST: u16 = 3;
pub const POLICY_BYPASS: u16 = 4;

pub const LEVEL_DEFAULT: u8 = 0;
pub const LEVEL_USE: u8 = 1;
pub const LEVEL_REQUIRE: u8 = 2;
pub const LEVEL_UNIQUE: u8 = 3;

pub const PRIORITY_LOW: u32 = 0xC000_0000;
pub const PRIORITY_DEFAULT: u32 = 0x8000_0000;
pub const PRIORITY_HIGH: u32 = 0x4000_0000;
const PRIORITY_OFFSET_POSITIVE_MAX: i64 = 0x3fff_ffff;
const PRIORITY_OFFSET_NEGATIVE_MAX: i64 = 0x4000_0000;

/// Longest policy text accepted and most requests in one policy.
pub const MAX_POLICY_TEXT: usize = 16 * 1024;
pub const MAX_REQUESTS: usize = 64;

/// One `proto/mode/src-dst/level` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// IPPROTO_ESP / AH / IPCOMP
    pub proto: u16,
    pub mode: u8,
    pub level: u8,
    pub reqid: u32,
    /// Tunnel end points (source, destination).
    pub tunnel: Option<(SocketAddr, SocketAddr)>,
}

/// A parsed policy, the contents of SADB_X_EXT_POLICY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub dir: u8,
    /// Action (`sadb_x_policy_type`).
    pub action: u16,
    pub priority: u32,
    pub requests: Vec<Request>,
}

/// libipsec error codes as their strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("Invalid argument")]
    InvalidArgument,
    #[error("Invalid ipsec mode")]
    InvalidMode,
    #[error("Invalid address specification")]
    InvalidAddress,
    #[error("Invalid direction")]
    InvalidDirection,
    #[error("Family mismatch")]
    FamilyMismatch,
    #[error("Too few arguments")]
    TooFewArguments,
    #[error("Priority offset not in valid range [-2147483647, 2147483648]")]
    PriorityOffset,
    #[error("Priority offset from base not in valid range [0, 1073741823] for negative offsets and [0, 1073741824] for positive offsets")]
    PriorityBaseOffset,
    #[error("No buffers available")]
    NoBufs,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PTok {
    Dir(u8),
    Priority,
    Plus,
    PrioBase(u32),
    PrioOffset(String),
    Action(u16),
    Protocol(u16),
    Mode(u8),
    Me,
    Any,
    Level(u8),
    LevelSpecify(String),
    Slash,
    IpAddress(String),
    Hyphen,
    Port(String),
}

fn is_ipchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b':' | b'.' | b'_')
}

fn lex(s: &[u8]) -> Result<Vec<PTok>, PolicyError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
            continue;
        }
        let rest = &s[i..];
        // candidates: keyword/ipaddress (same character run), decstring, others
        let mut ip = rest.iter().take_while(|&&b| is_ipchar(b)).count();
        if ip > 0 && rest.get(ip) == Some(&b'%') {
            let z = rest[ip + 1..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if z > 0 {
                ip += 1 + z;
            }
        }
        let dec = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        // unique:N
        if rest.starts_with(b"unique:") {
            let d = rest[7..].iter().take_while(|b| b.is_ascii_digit()).count();
            if d > 0 && 7 + d >= ip {
                let n = String::from_utf8_lossy(&rest[7..7 + d]).into_owned();
                out.push(PTok::LevelSpecify(n));
                i += 7 + d;
                continue;
            }
        }
        match c {
            b'/' => {
                out.push(PTok::Slash);
                i += 1;
                continue;
            }
            b'-' => {
                out.push(PTok::Hyphen);
                i += 1;
                continue;
            }
            b'+' => {
                out.push(PTok::Plus);
                i += 1;
                continue;
            }
            b'[' => {
                let d = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
                if d > 0 && rest.get(1 + d) == Some(&b']') {
                    out.push(PTok::Port(
                        String::from_utf8_lossy(&rest[1..1 + d]).into_owned(),
                    ));
                    i += d + 2;
                    continue;
                }
                return Err(PolicyError::InvalidArgument);
            }
            _ => {}
        }
        if ip == 0 {
            return Err(PolicyError::InvalidArgument);
        }
        let word = String::from_utf8_lossy(&rest[..ip]).into_owned();
        let kw = match word.as_str() {
            "in" => Some(PTok::Dir(DIR_INBOUND)),
            "out" => Some(PTok::Dir(DIR_OUTBOUND)),
            "fwd" => Some(PTok::Dir(DIR_FWD)),
            "priority" | "prio" => Some(PTok::Priority),
            "low" => Some(PTok::PrioBase(PRIORITY_LOW)),
            "def" => Some(PTok::PrioBase(PRIORITY_DEFAULT)),
            "high" => Some(PTok::PrioBase(PRIORITY_HIGH)),
            "discard" => Some(PTok::Action(POLICY_DISCARD)),
            "none" => Some(PTok::Action(POLICY_NONE)),
            "ipsec" => Some(PTok::Action(POLICY_IPSEC)),
            "bypass" => Some(PTok::Action(POLICY_BYPASS)),
            "entrust" => Some(PTok::Action(POLICY_ENTRUST)),
            "esp" => Some(PTok::Protocol(IPPROTO_ESP)),
            "ah" => Some(PTok::Protocol(IPPROTO_AH)),
            "ipcomp" => Some(PTok::Protocol(IPPROTO_IPCOMP)),
            "transport" => Some(PTok::Mode(MODE_TRANSPORT)),
            "tunnel" => Some(PTok::Mode(MODE_TUNNEL)),
            "me" => Some(PTok::Me),
            "any" => Some(PTok::Any),
            "default" => Some(PTok::Level(LEVEL_DEFAULT)),
            "use" => Some(PTok::Level(LEVEL_USE)),
            "require" => Some(PTok::Level(LEVEL_REQUIRE)),
            "unique" => Some(PTok::Level(LEVEL_UNIQUE)),
            _ => None,
        };
        if let Some(k) = kw {
            out.push(k);
        } else if dec == ip {
            out.push(PTok::PrioOffset(word));
        } else {
            out.push(PTok::IpAddress(word));
        }
        i += ip;
        if out.len() > 4 * MAX_REQUESTS + 16 {
            return Err(PolicyError::NoBufs);
        }
    }
    Ok(out)
}

/// atol(): leading digits, saturating.
fn atol(s: &str) -> i64 {
    s.parse::<i64>().unwrap_or(i64::MAX)
}

fn parse_sockaddr(addr: &str, port: Option<&str>) -> Result<SocketAddr, PolicyError> {
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| PolicyError::InvalidArgument)?,
        None => 0,
    };
    crate::resolve::parse_numeric(addr)
        .map(|ip| SocketAddr::new(ip, port))
        .ok_or(PolicyError::InvalidArgument)
}

struct P {
    t: Vec<PTok>,
    i: usize,
}

impl P {
    fn peek(&self) -> Option<&PTok> {
        self.t.get(self.i)
    }
    fn next(&mut self) -> Option<PTok> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        t
    }
}

/// Parse a policy string (the text after `-P`).
pub fn parse(text: &str) -> Result<Policy, PolicyError> {
    if text.len() > MAX_POLICY_TEXT {
        return Err(PolicyError::NoBufs);
    }
    let mut p = P {
        t: lex(text.as_bytes())?,
        i: 0,
    };
    let Some(PTok::Dir(dir)) = p.next() else {
        return Err(PolicyError::InvalidArgument);
    };
    let (action, priority) = match p.next() {
        None => {
            return Ok(Policy {
                dir,
                action: 0,
                priority: 0,
                requests: Vec::new(),
            })
        }
        Some(PTok::Action(a)) => (a, PRIORITY_DEFAULT),
        Some(PTok::Priority) => {
            let prio = match p.next() {
                Some(PTok::PrioOffset(n)) => {
                    let off = -atol(&n);
                    if off < i64::from(i32::MIN) {
                        return Err(PolicyError::PriorityOffset);
                    }
                    PRIORITY_DEFAULT.wrapping_add(off as u32)
                }
                Some(PTok::Hyphen) => {
                    let Some(PTok::PrioOffset(n)) = p.next() else {
                        return Err(PolicyError::InvalidArgument);
                    };
                    let off = atol(&n);
                    if off > i64::from(i32::MAX) {
                        return Err(PolicyError::PriorityOffset);
                    }
                    PRIORITY_DEFAULT.wrapping_add(off as u32)
                }
                Some(PTok::PrioBase(base)) => match p.peek() {
                    Some(PTok::Plus) => {
                        p.next();
                        let Some(PTok::PrioOffset(n)) = p.next() else {
                            return Err(PolicyError::InvalidArgument);
                        };
                        let off = atol(&n);
                        if off > PRIORITY_OFFSET_NEGATIVE_MAX {
                            return Err(PolicyError::PriorityBaseOffset);
                        }
                        base.wrapping_sub(off as u32)
                    }
                    Some(PTok::Hyphen) => {
                        p.next();
                        let Some(PTok::PrioOffset(n)) = p.next() else {
                            return Err(PolicyError::InvalidArgument);
                        };
                        let off = atol(&n);
                        if off > PRIORITY_OFFSET_POSITIVE_MAX {
                            return Err(PolicyError::PriorityBaseOffset);
                        }
                        base.wrapping_add(off as u32)
                    }
                    _ => base,
                },
                _ => return Err(PolicyError::InvalidArgument),
            };
            let Some(PTok::Action(a)) = p.next() else {
                return Err(PolicyError::InvalidArgument);
            };
            (a, prio)
        }
        _ => return Err(PolicyError::InvalidArgument),
    };
    let mut requests = Vec::new();
    while let Some(t) = p.next() {
        let PTok::Protocol(proto) = t else {
            return Err(PolicyError::InvalidArgument);
        };
        // protocol [SLASH [mode ...]]
        if p.peek() != Some(&PTok::Slash) {
            return Err(PolicyError::TooFewArguments);
        }
        p.next();
        let mode = match p.peek() {
            Some(PTok::Mode(m)) => *m,
            Some(PTok::Protocol(_)) | None => return Err(PolicyError::TooFewArguments),
            _ => return Err(PolicyError::InvalidArgument),
        };
        p.next();
        let mut tunnel = None;
        let mut level = LEVEL_DEFAULT;
        let mut reqid = 0u32;
        if p.peek() == Some(&PTok::Slash) {
            p.next();
            // addresses | SLASH level | nothing
            match p.peek() {
                Some(PTok::IpAddress(_)) | Some(PTok::PrioOffset(_)) => {
                    let a = match p.next() {
                        Some(PTok::IpAddress(a)) | Some(PTok::PrioOffset(a)) => a,
                        _ => return Err(PolicyError::InvalidArgument),
                    };
                    let ap = if let Some(PTok::Port(_)) = p.peek() {
                        match p.next() {
                            Some(PTok::Port(x)) => Some(x),
                            _ => None,
                        }
                    } else {
                        None
                    };
                    let src = parse_sockaddr(&a, ap.as_deref())?;
                    if p.next() != Some(PTok::Hyphen) {
                        return Err(PolicyError::InvalidArgument);
                    }
                    let b = match p.next() {
                        Some(PTok::IpAddress(b)) | Some(PTok::PrioOffset(b)) => b,
                        _ => return Err(PolicyError::InvalidArgument),
                    };
                    let bp = if ap.is_some() {
                        match p.next() {
                            Some(PTok::Port(x)) => Some(x),
                            _ => return Err(PolicyError::InvalidArgument),
                        }
                    } else {
                        None
                    };
                    let dst = parse_sockaddr(&b, bp.as_deref())?;
                    tunnel = Some((src, dst));
                    if p.peek() == Some(&PTok::Slash) {
                        p.next();
                        if let Some((l, r)) = level_tok(&mut p) {
                            level = l;
                            reqid = r;
                        }
                    }
                }
                Some(PTok::Me) | Some(PTok::Any) => {
                    let first_me = p.next() == Some(PTok::Me);
                    if p.next() != Some(PTok::Hyphen) {
                        return Err(PolicyError::InvalidArgument);
                    }
                    let second = p.next();
                    let addr_dir_error = match (first_me, second) {
                        (true, Some(PTok::Any)) => dir != DIR_OUTBOUND,
                        (false, Some(PTok::Me)) => dir != DIR_INBOUND,
                        _ => return Err(PolicyError::InvalidArgument),
                    };
                    if addr_dir_error {
                        return Err(PolicyError::InvalidDirection);
                    }
                    if p.peek() == Some(&PTok::Slash) {
                        p.next();
                        if let Some((l, r)) = level_tok(&mut p) {
                            level = l;
                            reqid = r;
                        }
                    }
                }
                Some(PTok::Slash) => {
                    p.next();
                    match level_tok(&mut p) {
                        Some((l, r)) => {
                            level = l;
                            reqid = r;
                        }
                        None => return Err(PolicyError::InvalidArgument),
                    }
                }
                _ => {}
            }
        }
        // rule_check()
        if action == POLICY_IPSEC {
            match &tunnel {
                None if mode != MODE_TRANSPORT => return Err(PolicyError::InvalidAddress),
                Some((s, d)) if s.is_ipv4() != d.is_ipv4() => {
                    return Err(PolicyError::FamilyMismatch)
                }
                _ => {}
            }
        }
        if requests.len() >= MAX_REQUESTS {
            return Err(PolicyError::NoBufs);
        }
        requests.push(Request {
            proto,
            mode,
            level,
            reqid,
            tunnel,
        });
    }
    Ok(Policy {
        dir,
        action,
        priority,
        requests,
    })
}

fn level_tok(p: &mut P) -> Option<(u8, u32)> {
    match p.peek() {
        Some(PTok::Level(l)) => {
            let l = *l;
            p.next();
            Some((l, 0))
        }
        Some(PTok::LevelSpecify(n)) => {
            let r = atol(n) as u32;
            p.next();
            Some((LEVEL_UNIQUE, r))
        }
        _ => None,
    }
}

/// Whether an address is IPv4 (for family checks).
pub fn is_v4(a: &IpAddr) -> bool {
    a.is_ipv4()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_forms() {
        let p = parse(" out ipsec esp/transport//require").unwrap();
        assert_eq!(p.dir, DIR_OUTBOUND);
        assert_eq!(p.action, POLICY_IPSEC);
        assert_eq!(p.priority, PRIORITY_DEFAULT);
        assert_eq!(p.requests.len(), 1);
        assert_eq!(p.requests[0].level, LEVEL_REQUIRE);
        assert_eq!(p.requests[0].proto, IPPROTO_ESP);

        let p = parse("in ipsec esp/tunnel/10.0.0.1-10.0.0.2/unique:7 ah/transport//use").unwrap();
        assert_eq!(p.requests.len(), 2);
        assert_eq!(p.requests[0].reqid, 7);
        assert_eq!(p.requests[0].level, LEVEL_UNIQUE);
        assert_eq!(
            p.requests[0].tunnel.unwrap().1,
            "10.0.0.2:0".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(p.requests[1].proto, IPPROTO_AH);

        let p = parse("out").unwrap();
        assert_eq!((p.action, p.priority), (0, 0));
        let p = parse("fwd none").unwrap();
        assert_eq!(p.dir, DIR_FWD);
        let p = parse("out ipsec esp/transport").unwrap();
        assert_eq!(p.requests[0].level, LEVEL_DEFAULT);
        let p = parse("in ipsec esp/tunnel/fe80::1[500]-fe80::2[4500]/require").unwrap();
        assert_eq!(p.requests[0].tunnel.unwrap().1.port(), 4500);
    }

    #[test]
    fn priorities() {
        assert_eq!(
            parse("out prio 10 none").unwrap().priority,
            PRIORITY_DEFAULT - 10
        );
        assert_eq!(
            parse("out prio -10 none").unwrap().priority,
            PRIORITY_DEFAULT + 10
        );
        assert_eq!(parse("out prio high none").unwrap().priority, PRIORITY_HIGH);
        assert_eq!(
            parse("out priority low + 3 none").unwrap().priority,
            PRIORITY_LOW - 3
        );
        assert_eq!(
            parse("out prio def - 3 none").unwrap().priority,
            PRIORITY_DEFAULT + 3
        );
        assert_eq!(
            parse("out prio def - 1073741824 none"),
            Err(PolicyError::PriorityBaseOffset)
        );
        assert_eq!(
            parse("out prio 99999999999 none"),
            Err(PolicyError::PriorityOffset)
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse("out ipsec esp"), Err(PolicyError::TooFewArguments));
        assert_eq!(parse("out ipsec esp/"), Err(PolicyError::TooFewArguments));
        assert_eq!(
            parse("out ipsec esp/tunnel//require"),
            Err(PolicyError::InvalidAddress)
        );
        assert_eq!(
            parse("out ipsec esp/tunnel/10.0.0.1-::1/require"),
            Err(PolicyError::FamilyMismatch)
        );
        assert_eq!(
            parse("in ipsec esp/transport/me-any/require"),
            Err(PolicyError::InvalidDirection)
        );
        assert!(parse("out ipsec esp/transport/me-any/require").is_ok());
        assert_eq!(parse("sideways ipsec"), Err(PolicyError::InvalidArgument));
        assert_eq!(parse(""), Err(PolicyError::InvalidArgument));
        assert_eq!(
            parse("out ipsec esp/transport/host-b/require"),
            Err(PolicyError::InvalidArgument)
        );
    }
}
