//! racoon's admin-socket wire protocol (`admin.h`), shared by the daemon and
//! `racoonctl`. No I/O.
//!
//! A message is an 8-byte header `{u16 len; u16 cmd; u16 errno|version|len_high;
//! u16 proto}` in host byte order, then the payload. Requests set
//! [`FLAG_VERSION`] in `cmd` and version 1; a reply longer than 0xffff bytes
//! sets [`FLAG_LONG_REPLY`] and carries the high 16 bits of its length in
//! the third field. Binary records (`ph1dump`, `evt_async`, `scheddump`,
//! `admin_com_indexes`) use Linux's x86-64/aarch64 C layout, with 128-byte
//! `sockaddr_storage`s, so the original racoonctl can talk to us.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

pub const HEADER_LEN: usize = 8;
/// Largest request the daemon reads (requests are a header, two addresses
/// and a few short strings).
pub const MAX_REQUEST: usize = 4096;
/// Largest reply racoonctl accepts.
pub const MAX_REPLY: usize = 64 << 20;

pub const FLAG_VERSION: u16 = 0x8000;
pub const FLAG_LONG_REPLY: u16 = 0x8000;

pub const CMD_RELOAD_CONF: u16 = 0x0001;
pub const CMD_SHOW_SCHED: u16 = 0x0002;
pub const CMD_SHOW_EVT: u16 = 0x0003;
pub const CMD_SHOW_SA: u16 = 0x0101;
pub const CMD_FLUSH_SA: u16 = 0x0102;
pub const CMD_DELETE_SA: u16 = 0x0201;
pub const CMD_ESTABLISH_SA: u16 = 0x0202;
pub const CMD_ESTABLISH_SA_PSK: u16 = 0x0203;
pub const CMD_DELETE_ALL_SA_DST: u16 = 0x0204;
pub const CMD_LOGOUT_USER: u16 = 0x0205;
pub const CMD_GET_SA_CERT: u16 = 0x0206;

pub const PROTO_ISAKMP: u16 = 0x01ff;
pub const PROTO_IPSEC: u16 = 0x02ff;
pub const PROTO_AH: u16 = 0x0203;
pub const PROTO_ESP: u16 = 0x0204;
pub const PROTO_INTERNAL: u16 = 0x0301;

const SS_LEN: usize = 128;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
/// `admin_com_indexes`: prefs, prefd, ul_proto, reserved, src, dst.
pub const INDEXES_LEN: usize = 4 + 2 * SS_LEN;
/// `struct ph1dump`.
pub const PH1DUMP_LEN: usize = 304;
/// `struct evt_async`.
pub const EVT_LEN: usize = 280;
/// `struct scheddump`.
pub const SCHED_LEN: usize = 32;
/// `admin_com_psk`: id_type, id_len, key_len (three ints).
const PSK_HDR_LEN: usize = 12;

/// Malformed admin messages.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum ProtoError {
    #[error("message shorter than its header")]
    Short,
    #[error("declared length {0} does not match the {1} bytes received")]
    Length(usize, usize),
    #[error("message longer than {0} bytes")]
    TooLong(usize),
    #[error("unknown command {0:#06x}")]
    UnknownCommand(u16),
    #[error("unknown protocol {0:#06x}")]
    UnknownProto(u16),
    #[error("bad address record")]
    BadAddress,
    #[error("bad string")]
    BadString,
}

/// The 8-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub len: u16,
    pub cmd: u16,
    /// errno in replies, version in requests, high length bits in long replies.
    pub word: u16,
    pub proto: u16,
}

impl Header {
    pub fn decode(b: &[u8]) -> Option<Header> {
        let b = b.get(..HEADER_LEN)?;
        let w = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(Header {
            len: w(0),
            cmd: w(2),
            word: w(4),
            proto: w(6),
        })
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut o = [0u8; HEADER_LEN];
        o[0..2].copy_from_slice(&self.len.to_ne_bytes());
        o[2..4].copy_from_slice(&self.cmd.to_ne_bytes());
        o[4..6].copy_from_slice(&self.word.to_ne_bytes());
        o[6..8].copy_from_slice(&self.proto.to_ne_bytes());
        o
    }

    /// Total message length this header declares (long replies included).
    pub fn total_len(&self) -> usize {
        if self.cmd & FLAG_LONG_REPLY != 0 {
            usize::from(self.len) | (usize::from(self.word) << 16)
        } else {
            usize::from(self.len)
        }
    }
}

/// `admin_com_indexes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Indexes {
    pub prefs: u8,
    pub prefd: u8,
    pub ul_proto: u8,
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

/// Encode a Linux `sockaddr_storage` (family host order, port network order).
pub fn put_sockaddr(out: &mut Vec<u8>, a: &SocketAddr) {
    let start = out.len();
    out.resize(start + SS_LEN, 0);
    let s = &mut out[start..];
    match a {
        SocketAddr::V4(v) => {
            s[0..2].copy_from_slice(&AF_INET.to_ne_bytes());
            s[2..4].copy_from_slice(&v.port().to_be_bytes());
            s[4..8].copy_from_slice(&v.ip().octets());
        }
        SocketAddr::V6(v) => {
            s[0..2].copy_from_slice(&AF_INET6.to_ne_bytes());
            s[2..4].copy_from_slice(&v.port().to_be_bytes());
            s[4..8].copy_from_slice(&v.flowinfo().to_be_bytes());
            s[8..24].copy_from_slice(&v.ip().octets());
            s[24..28].copy_from_slice(&v.scope_id().to_ne_bytes());
        }
    }
}

/// Decode a `sockaddr_storage`; `None` for families other than inet/inet6
/// (AF_UNSPEC = an unset address).
pub fn get_sockaddr(b: &[u8]) -> Result<Option<SocketAddr>, ProtoError> {
    let b = b.get(..SS_LEN).ok_or(ProtoError::BadAddress)?;
    let fam = u16::from_ne_bytes([b[0], b[1]]);
    let port = u16::from_be_bytes([b[2], b[3]]);
    Ok(match fam {
        AF_INET => Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(b[4], b[5], b[6], b[7]),
            port,
        ))),
        AF_INET6 => {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&b[8..24]);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                u32::from_ne_bytes([b[24], b[25], b[26], b[27]]),
            )))
        }
        0 => None,
        _ => return Err(ProtoError::BadAddress),
    })
}

impl Indexes {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.prefs, self.prefd, self.ul_proto, 0]);
        put_sockaddr(out, &self.src);
        put_sockaddr(out, &self.dst);
    }

    pub fn decode(b: &[u8]) -> Result<Indexes, ProtoError> {
        if b.len() < INDEXES_LEN {
            return Err(ProtoError::BadAddress);
        }
        let src = get_sockaddr(&b[4..])?.ok_or(ProtoError::BadAddress)?;
        let dst = get_sockaddr(&b[4 + SS_LEN..])?.ok_or(ProtoError::BadAddress)?;
        Ok(Indexes {
            prefs: b[0],
            prefd: b[1],
            ul_proto: b[2],
            src,
            dst,
        })
    }
}

/// Which SAs a show-sa/flush-sa/delete-sa is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Isakmp,
    Ipsec,
    Ah,
    Esp,
    Internal,
}

impl Proto {
    pub fn from_wire(v: u16) -> Option<Proto> {
        Some(match v {
            PROTO_ISAKMP => Proto::Isakmp,
            PROTO_IPSEC => Proto::Ipsec,
            PROTO_AH => Proto::Ah,
            PROTO_ESP => Proto::Esp,
            PROTO_INTERNAL => Proto::Internal,
            _ => return None,
        })
    }

    pub fn wire(self) -> u16 {
        match self {
            Proto::Isakmp => PROTO_ISAKMP,
            Proto::Ipsec => PROTO_IPSEC,
            Proto::Ah => PROTO_AH,
            Proto::Esp => PROTO_ESP,
            Proto::Internal => PROTO_INTERNAL,
        }
    }

    pub fn from_name(s: &str) -> Option<Proto> {
        Some(match s {
            "isakmp" => Proto::Isakmp,
            "ipsec" => Proto::Ipsec,
            "ah" => Proto::Ah,
            "esp" => Proto::Esp,
            "internal" => Proto::Internal,
            _ => return None,
        })
    }
}

/// A decoded request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    ReloadConfig,
    ShowSchedule,
    ShowEvent,
    ShowSa(Proto),
    FlushSa(Proto),
    DeleteSa(Proto, Indexes),
    /// `vpn-disconnect`.
    DeleteAllSaDst(Proto, Indexes),
    EstablishSa {
        proto: Proto,
        index: Indexes,
        remote_name: Option<String>,
        /// `-u`: (identity, password).
        xauth: Option<(String, String)>,
    },
    LogoutUser(String),
    GetSaCert(Indexes),
}

fn cstr(b: &[u8]) -> Result<String, ProtoError> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    std::str::from_utf8(&b[..end])
        .map(str::to_owned)
        .map_err(|_| ProtoError::BadString)
}

impl Request {
    /// Decode one complete request (header included).
    pub fn decode(b: &[u8]) -> Result<Request, ProtoError> {
        let h = Header::decode(b).ok_or(ProtoError::Short)?;
        let len = usize::from(h.len);
        if len > MAX_REQUEST {
            return Err(ProtoError::TooLong(MAX_REQUEST));
        }
        if len < HEADER_LEN || len != b.len() {
            return Err(ProtoError::Length(len, b.len()));
        }
        let body = &b[HEADER_LEN..];
        let cmd = h.cmd & !FLAG_VERSION;
        let proto = || Proto::from_wire(h.proto).ok_or(ProtoError::UnknownProto(h.proto));
        Ok(match cmd {
            CMD_RELOAD_CONF => Request::ReloadConfig,
            CMD_SHOW_SCHED => Request::ShowSchedule,
            CMD_SHOW_EVT => Request::ShowEvent,
            CMD_SHOW_SA => Request::ShowSa(proto()?),
            CMD_FLUSH_SA => Request::FlushSa(proto()?),
            CMD_DELETE_SA => Request::DeleteSa(proto()?, Indexes::decode(body)?),
            CMD_DELETE_ALL_SA_DST => Request::DeleteAllSaDst(proto()?, Indexes::decode(body)?),
            CMD_ESTABLISH_SA | CMD_ESTABLISH_SA_PSK => {
                let proto = proto()?;
                let index = Indexes::decode(body)?;
                let rest = &body[INDEXES_LEN..];
                let mut remote_name = None;
                let mut xauth = None;
                if cmd == CMD_ESTABLISH_SA_PSK {
                    let hdr = rest.get(..PSK_HDR_LEN).ok_or(ProtoError::BadString)?;
                    let int =
                        |i: usize| i32::from_ne_bytes([hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]]);
                    let id_len = usize::try_from(int(4)).map_err(|_| ProtoError::BadString)?;
                    let key_len = usize::try_from(int(8)).map_err(|_| ProtoError::BadString)?;
                    let data = &rest[PSK_HDR_LEN..];
                    let id = data.get(..id_len).ok_or(ProtoError::BadString)?;
                    let key = data
                        .get(id_len..id_len.saturating_add(key_len))
                        .ok_or(ProtoError::BadString)?;
                    xauth = Some((cstr(id)?, cstr(key)?));
                } else if !rest.is_empty() {
                    remote_name = Some(cstr(rest)?);
                }
                Request::EstablishSa {
                    proto,
                    index,
                    remote_name,
                    xauth,
                }
            }
            CMD_LOGOUT_USER => Request::LogoutUser(cstr(body)?),
            CMD_GET_SA_CERT => Request::GetSaCert(Indexes::decode(body)?),
            other => return Err(ProtoError::UnknownCommand(other)),
        })
    }

    /// The wire command code.
    pub fn cmd(&self) -> u16 {
        match self {
            Request::ReloadConfig => CMD_RELOAD_CONF,
            Request::ShowSchedule => CMD_SHOW_SCHED,
            Request::ShowEvent => CMD_SHOW_EVT,
            Request::ShowSa(_) => CMD_SHOW_SA,
            Request::FlushSa(_) => CMD_FLUSH_SA,
            Request::DeleteSa(..) => CMD_DELETE_SA,
            Request::DeleteAllSaDst(..) => CMD_DELETE_ALL_SA_DST,
            Request::EstablishSa { xauth: Some(_), .. } => CMD_ESTABLISH_SA_PSK,
            Request::EstablishSa { .. } => CMD_ESTABLISH_SA,
            Request::LogoutUser(_) => CMD_LOGOUT_USER,
            Request::GetSaCert(_) => CMD_GET_SA_CERT,
        }
    }

    fn proto_wire(&self) -> u16 {
        match self {
            Request::ShowSa(p)
            | Request::FlushSa(p)
            | Request::DeleteSa(p, _)
            | Request::DeleteAllSaDst(p, _)
            | Request::EstablishSa { proto: p, .. } => p.wire(),
            Request::GetSaCert(_) => PROTO_ISAKMP,
            _ => 0,
        }
    }

    /// Encode as racoonctl does (version flag, version 1).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        match self {
            Request::DeleteSa(_, i) | Request::DeleteAllSaDst(_, i) | Request::GetSaCert(i) => {
                i.encode(&mut body)
            }
            Request::EstablishSa {
                index,
                remote_name,
                xauth,
                proto,
            } => {
                index.encode(&mut body);
                if let Some((id, key)) = xauth {
                    body.extend_from_slice(&5i32.to_ne_bytes()); // IDTYPE_USERFQDN
                    body.extend_from_slice(&((id.len() + 1) as i32).to_ne_bytes());
                    body.extend_from_slice(&((key.len() + 1) as i32).to_ne_bytes());
                    body.extend_from_slice(id.as_bytes());
                    body.push(0);
                    body.extend_from_slice(key.as_bytes());
                    body.push(0);
                } else if let (Some(n), Proto::Isakmp) = (remote_name, proto) {
                    body.extend_from_slice(n.as_bytes());
                    body.push(0);
                }
            }
            Request::LogoutUser(u) => {
                body.extend_from_slice(u.as_bytes());
                body.push(0);
            }
            _ => {}
        }
        let h = Header {
            len: (HEADER_LEN + body.len()).min(0xffff) as u16,
            cmd: FLAG_VERSION | self.cmd(),
            word: 1,
            proto: self.proto_wire(),
        };
        let mut out = h.encode().to_vec();
        out.extend_from_slice(&body);
        out
    }
}

/// Encode a reply: `errno` 0 and a payload, or an errno and no payload.
pub fn encode_reply(cmd: u16, proto: u16, errno: u16, payload: &[u8]) -> Vec<u8> {
    let total = HEADER_LEN + payload.len();
    let (len, word, flag) = if total > 0xffff {
        (
            (total & 0xffff) as u16,
            (total >> 16) as u16,
            FLAG_LONG_REPLY,
        )
    } else {
        (total as u16, errno, 0)
    };
    let h = Header {
        len,
        cmd: (cmd & !FLAG_VERSION) | flag,
        word,
        proto,
    };
    let mut out = h.encode().to_vec();
    out.extend_from_slice(payload);
    out
}

/// A decoded reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub cmd: u16,
    pub proto: u16,
    pub errno: u16,
    pub payload: Vec<u8>,
}

impl Reply {
    /// Decode one complete reply.
    pub fn decode(b: &[u8]) -> Result<Reply, ProtoError> {
        let h = Header::decode(b).ok_or(ProtoError::Short)?;
        let total = h.total_len();
        if total < HEADER_LEN || total != b.len() {
            return Err(ProtoError::Length(total, b.len()));
        }
        let long = h.cmd & FLAG_LONG_REPLY != 0;
        Ok(Reply {
            cmd: h.cmd & !FLAG_LONG_REPLY,
            proto: h.proto,
            errno: if long { 0 } else { h.word },
            payload: b[HEADER_LEN..].to_vec(),
        })
    }
}

/// `struct ph1dump` (one row of `show-sa isakmp`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ph1Dump {
    pub cookies: [u8; 16],
    pub status: i32,
    /// 0 initiator, 1 responder.
    pub side: i32,
    pub remote: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    pub version: u8,
    pub etype: u8,
    /// Seconds since the epoch (0 = unknown).
    pub created: i64,
    pub ph2cnt: i32,
}

impl Ph1Dump {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.cookies);
        out.extend_from_slice(&self.status.to_ne_bytes());
        out.extend_from_slice(&self.side.to_ne_bytes());
        for a in [&self.remote, &self.local] {
            match a {
                Some(a) => put_sockaddr(out, a),
                None => out.resize(out.len() + SS_LEN, 0),
            }
        }
        out.push(self.version);
        out.push(self.etype);
        out.resize(start + 288, 0);
        out.extend_from_slice(&self.created.to_ne_bytes());
        out.extend_from_slice(&self.ph2cnt.to_ne_bytes());
        out.resize(start + PH1DUMP_LEN, 0);
    }

    pub fn decode(b: &[u8]) -> Result<Ph1Dump, ProtoError> {
        let b = b.get(..PH1DUMP_LEN).ok_or(ProtoError::Short)?;
        let i32at = |i: usize| i32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut cookies = [0u8; 16];
        cookies.copy_from_slice(&b[..16]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[288..296]);
        Ok(Ph1Dump {
            cookies,
            status: i32at(16),
            side: i32at(20),
            remote: get_sockaddr(&b[24..])?,
            local: get_sockaddr(&b[24 + SS_LEN..])?,
            version: b[280],
            etype: b[281],
            created: i64::from_ne_bytes(t),
            ph2cnt: i32at(296),
        })
    }
}

/// `struct evt_async` (one `show-event` record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvtRecord {
    pub code: u32,
    pub timestamp: i64,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub ph2_msgid: u32,
}

impl EvtRecord {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.code.to_ne_bytes());
        out.resize(start + 8, 0);
        out.extend_from_slice(&self.timestamp.to_ne_bytes());
        for a in [&self.src, &self.dst] {
            match a {
                Some(a) => put_sockaddr(out, a),
                None => out.resize(out.len() + SS_LEN, 0),
            }
        }
        out.extend_from_slice(&self.ph2_msgid.to_ne_bytes());
        out.resize(start + EVT_LEN, 0);
    }

    pub fn decode(b: &[u8]) -> Result<EvtRecord, ProtoError> {
        let b = b.get(..EVT_LEN).ok_or(ProtoError::Short)?;
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[8..16]);
        Ok(EvtRecord {
            code: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            timestamp: i64::from_ne_bytes(t),
            src: get_sockaddr(&b[16..])?,
            dst: get_sockaddr(&b[16 + SS_LEN..])?,
            ph2_msgid: u32::from_ne_bytes([b[272], b[273], b[274], b[275]]),
        })
    }
}

/// `struct scheddump` (one `show-schedule` row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedDump {
    pub xtime: i64,
    pub id: i64,
    pub created: i64,
    pub tick: i64,
}

impl SchedDump {
    pub fn encode(&self, out: &mut Vec<u8>) {
        for v in [self.xtime, self.id, self.created, self.tick] {
            out.extend_from_slice(&v.to_ne_bytes());
        }
    }

    pub fn decode(b: &[u8]) -> Result<SchedDump, ProtoError> {
        let b = b.get(..SCHED_LEN).ok_or(ProtoError::Short)?;
        let v = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i * 8..i * 8 + 8]);
            i64::from_ne_bytes(a)
        };
        Ok(SchedDump {
            xtime: v(0),
            id: v(1),
            created: v(2),
            tick: v(3),
        })
    }
}

/// Render an address the way racoon's `saddr2str` does (`addr[port]`).
pub fn saddr2str(a: &SocketAddr) -> String {
    format!("{}[{}]", a.ip(), a.port())
}

/// The ip part of an address for display.
pub fn ip_of(a: &Option<SocketAddr>) -> Option<IpAddr> {
    a.map(|a| a.ip())
}

/// Fuzz entry point (replayed over the seed corpus by a unit test): decode
/// `data` as a request, as a reply, and every record type. Never panics.
pub fn fuzz_admin(data: &[u8]) {
    if let Ok(r) = Request::decode(data) {
        // What decodes must re-encode to something that decodes the same.
        let again = Request::decode(&r.encode());
        assert!(again.is_ok());
    }
    if let Ok(r) = Reply::decode(data) {
        for c in r.payload.chunks(PH1DUMP_LEN) {
            let _ = Ph1Dump::decode(c);
        }
        for c in r.payload.chunks(EVT_LEN) {
            let _ = EvtRecord::decode(c);
        }
        for c in r.payload.chunks(SCHED_LEN) {
            let _ = SchedDump::decode(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx() -> Indexes {
        Indexes {
            prefs: 32,
            prefd: 24,
            ul_proto: 6,
            src: "192.0.2.1:0".parse().unwrap(),
            dst: "[2001:db8::2]:500".parse().unwrap(),
        }
    }

    #[test]
    fn requests_round_trip() {
        let reqs = vec![
            Request::ReloadConfig,
            Request::ShowSchedule,
            Request::ShowEvent,
            Request::ShowSa(Proto::Isakmp),
            Request::ShowSa(Proto::Esp),
            Request::FlushSa(Proto::Ipsec),
            Request::DeleteSa(Proto::Isakmp, idx()),
            Request::DeleteAllSaDst(Proto::Isakmp, idx()),
            Request::EstablishSa {
                proto: Proto::Isakmp,
                index: idx(),
                remote_name: Some("gw".into()),
                xauth: None,
            },
            Request::EstablishSa {
                proto: Proto::Esp,
                index: idx(),
                remote_name: None,
                xauth: Some(("user@example.net".into(), "pw".into())),
            },
            Request::LogoutUser("bob".into()),
            Request::GetSaCert(idx()),
        ];
        for r in reqs {
            let b = r.encode();
            assert_eq!(usize::from(u16::from_ne_bytes([b[0], b[1]])), b.len());
            assert_eq!(
                u16::from_ne_bytes([b[2], b[3]]) & FLAG_VERSION,
                FLAG_VERSION
            );
            assert_eq!(Request::decode(&b).unwrap(), r, "{r:?}");
        }
    }

    #[test]
    fn show_sa_isakmp_is_racoonctl_bytes() {
        // racoonctl show-sa isakmp: len 8, cmd 0x8101, version 1, proto 0x01ff.
        let b = Request::ShowSa(Proto::Isakmp).encode();
        let mut want = Vec::new();
        for v in [8u16, 0x8101, 1, 0x01ff] {
            want.extend_from_slice(&v.to_ne_bytes());
        }
        assert_eq!(b, want);
    }

    #[test]
    fn malformed_requests_are_errors() {
        assert_eq!(Request::decode(&[1, 2, 3]), Err(ProtoError::Short));
        let mut b = Request::ShowSa(Proto::Esp).encode();
        b.push(0);
        assert!(matches!(Request::decode(&b), Err(ProtoError::Length(8, 9))));
        let mut b = Request::ShowSa(Proto::Esp).encode();
        b[6..8].copy_from_slice(&0x1234u16.to_ne_bytes());
        assert_eq!(Request::decode(&b), Err(ProtoError::UnknownProto(0x1234)));
        let mut b = Request::ReloadConfig.encode();
        b[2..4].copy_from_slice(&0x8999u16.to_ne_bytes());
        assert_eq!(Request::decode(&b), Err(ProtoError::UnknownCommand(0x999)));
        // delete-sa without indexes.
        let h = Header {
            len: 8,
            cmd: 0x8201,
            word: 1,
            proto: PROTO_ISAKMP,
        };
        assert_eq!(Request::decode(&h.encode()), Err(ProtoError::BadAddress));
        // An xauth block whose lengths point past the end.
        let mut b = Request::EstablishSa {
            proto: Proto::Isakmp,
            index: idx(),
            remote_name: None,
            xauth: Some(("a".into(), "b".into())),
        }
        .encode();
        let off = HEADER_LEN + INDEXES_LEN + 4;
        b[off..off + 4].copy_from_slice(&i32::MAX.to_ne_bytes());
        assert_eq!(Request::decode(&b), Err(ProtoError::BadString));
        b[off..off + 4].copy_from_slice(&(-1i32).to_ne_bytes());
        assert_eq!(Request::decode(&b), Err(ProtoError::BadString));
    }

    #[test]
    fn long_replies() {
        let payload = vec![7u8; 70_000];
        let b = encode_reply(CMD_SHOW_SA, PROTO_ESP, 0, &payload);
        let h = Header::decode(&b).unwrap();
        assert_ne!(h.cmd & FLAG_LONG_REPLY, 0);
        assert_eq!(h.total_len(), 70_008);
        let r = Reply::decode(&b).unwrap();
        assert_eq!(r.cmd, CMD_SHOW_SA);
        assert_eq!(r.payload.len(), 70_000);
        let e = Reply::decode(&encode_reply(CMD_FLUSH_SA, PROTO_ISAKMP, 2, &[])).unwrap();
        assert_eq!(e.errno, 2);
    }

    #[test]
    fn records_round_trip_with_c_layout() {
        let p = Ph1Dump {
            cookies: *b"0123456789abcdef",
            status: 9,
            side: 1,
            remote: Some("192.0.2.2:500".parse().unwrap()),
            local: Some("[2001:db8::1]:4500".parse().unwrap()),
            version: 0x10,
            etype: 2,
            created: 1_700_000_000,
            ph2cnt: 3,
        };
        let mut b = Vec::new();
        p.encode(&mut b);
        assert_eq!(b.len(), PH1DUMP_LEN);
        // sockaddr_in of the remote at offset 24: family 2, port 500 big-endian.
        assert_eq!(u16::from_ne_bytes([b[24], b[25]]), 2);
        assert_eq!(&b[26..28], &500u16.to_be_bytes());
        assert_eq!(&b[28..32], &[192, 0, 2, 2]);
        assert_eq!(Ph1Dump::decode(&b).unwrap(), p);
        let e = EvtRecord {
            code: 0x0100,
            timestamp: 5,
            src: Some("10.0.0.1:500".parse().unwrap()),
            dst: None,
            ph2_msgid: 9,
        };
        let mut b = Vec::new();
        e.encode(&mut b);
        assert_eq!(b.len(), EVT_LEN);
        assert_eq!(EvtRecord::decode(&b).unwrap(), e);
        let s = SchedDump {
            xtime: 1,
            id: 2,
            created: 3,
            tick: 4,
        };
        let mut b = Vec::new();
        s.encode(&mut b);
        assert_eq!(SchedDump::decode(&b).unwrap(), s);
        // A bad family is an error, not a panic.
        let mut b = Vec::new();
        p.encode(&mut b);
        b[24] = 99;
        assert_eq!(Ph1Dump::decode(&b), Err(ProtoError::BadAddress));
    }

    #[test]
    fn fuzz_corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/admin");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("corpus dir") {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            fuzz_admin(&data);
            n += 1;
        }
        assert!(n >= 5, "corpus has only {n} files");
    }

    #[test]
    fn every_prefix_of_every_request_is_safe() {
        let r = Request::EstablishSa {
            proto: Proto::Esp,
            index: idx(),
            remote_name: None,
            xauth: Some(("u".into(), "p".into())),
        }
        .encode();
        for n in 0..r.len() {
            fuzz_admin(&r[..n]);
            let mut t = r[..n].to_vec();
            if t.len() >= 2 {
                t[0..2].copy_from_slice(&(n as u16).to_ne_bytes());
            }
            fuzz_admin(&t);
        }
    }
}
