//! The owned [`Message`]: header plus extensions in wire order, with the codec.

use crate::consts::*;
use crate::error::{CheckError, DecodeError, DecodeErrorKind as K, EncodeError};
use crate::ext::*;
use crate::layout::{align8, Layout, IPSECREQUEST_LEN, MAX_MSG_LEN, MSG_HEADER_LEN};

/// `sadb_msg` (16 bytes) without its length field, which [`Message::encode`] computes.
///
/// All fields are host order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// `sadb_msg_version` (u8); must be 2 ([`PF_KEY_V2`]).
    pub version: u8,
    /// `sadb_msg_type` (u8).
    pub msg_type: MsgType,
    /// `sadb_msg_errno` (u8); non-zero in error replies.
    pub errno: u8,
    /// `sadb_msg_satype` (u8).
    pub satype: SaType,
    /// `sadb_msg_reserved` (u16); KAME kernels put a refcount here in dumps.
    pub reserved: u16,
    /// `sadb_msg_seq` (u32).
    pub seq: u32,
    /// `sadb_msg_pid` (u32).
    pub pid: u32,
}

impl Header {
    /// A version-2 header with zero errno, seq and pid.
    pub const fn new(msg_type: MsgType, satype: SaType) -> Header {
        Header {
            version: PF_KEY_V2,
            msg_type,
            errno: 0,
            satype,
            reserved: 0,
            seq: 0,
            pid: 0,
        }
    }

    /// Read the header fields and the declared length in bytes
    /// (`sadb_msg_len * 8`) from the first 16 bytes of `buf`, without
    /// validating anything else. `None` if `buf` is shorter than 16 bytes.
    /// Useful to answer `EINVAL` to a message that fails [`Message::decode`].
    pub fn peek(buf: &[u8]) -> Option<(Header, usize)> {
        let b: &[u8; 16] = buf.get(..MSG_HEADER_LEN)?.try_into().ok()?;
        let len = usize::from(u16::from_ne_bytes([b[4], b[5]])) * 8;
        Some((
            Header {
                version: b[0],
                msg_type: MsgType(b[1]),
                errno: b[2],
                satype: SaType(b[3]),
                reserved: u16::from_ne_bytes([b[6], b[7]]),
                seq: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
                pid: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
            },
            len,
        ))
    }
}

/// How strict [`Message::decode_with`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Keep unknown extension types as [`Extension::Unknown`] instead of
    /// rejecting them (libipsec `pfkey_align` rejects them).
    pub keep_unknown: bool,
    /// Reject SRC/DST address extensions whose family or upper-layer
    /// protocol differ.
    pub check_src_dst: bool,
}

impl DecodeOptions {
    /// Reject unknown extensions and src/dst mismatches (what a kernel or libipsec does).
    pub const STRICT: DecodeOptions = DecodeOptions {
        keep_unknown: false,
        check_src_dst: true,
    };
    /// Keep unknown extensions, allow src/dst mismatches: for pretty-printing
    /// (`setkey -D`/`-DP` print "upper layer protocol mismatched.").
    pub const LENIENT: DecodeOptions = DecodeOptions {
        keep_unknown: true,
        check_src_dst: false,
    };
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions::STRICT
    }
}

/// A PF_KEY v2 message: header and extensions in wire order.
///
/// Build one with [`Message::new`] and the `with_*` methods, send it with
/// [`Message::encode`]; read one with [`Message::decode`] and the typed
/// accessors ([`Message::sa`], [`Message::addr_src`], [`Message::policy`], …).
///
/// ```
/// use pfkey::{Message, MsgType, SaType, Extension, Sa, SaState, EncAlg, AuthAlg, Address, Key};
/// let msg = Message::new(MsgType::ADD, SaType::ESP)
///     .with_seq(7)
///     .with(Extension::Sa(Sa { spi: 0x1234, replay: 4, state: SaState::MATURE,
///         auth: AuthAlg::HMAC_SHA1, encrypt: EncAlg::AES_CBC, ..Default::default() }))
///     .with(Extension::AddressSrc(Address::host("192.0.2.1:0".parse().unwrap())))
///     .with(Extension::AddressDst(Address::host("192.0.2.2:0".parse().unwrap())))
///     .with(Extension::KeyEncrypt(Key::new(&[0x11; 16]).unwrap()));
/// let bytes = msg.encode().unwrap();
/// assert_eq!(bytes.len() % 8, 0);
/// let back = Message::decode(&bytes).unwrap();
/// assert_eq!(back, msg);
/// assert_eq!(back.sa().unwrap().spi, 0x1234);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// Extensions, in wire order. Decoded messages never hold two of one type.
    pub exts: Vec<Extension>,
}

macro_rules! accessor {
    ($(#[$m:meta])* $fn:ident, $variant:ident, $ty:ty) => {
        $(#[$m])*
        pub fn $fn(&self) -> Option<&$ty> {
            self.exts.iter().find_map(|e| match e {
                Extension::$variant(x) => Some(x),
                _ => None,
            })
        }
    };
}

impl Message {
    /// A message with a fresh version-2 header and no extensions.
    pub fn new(msg_type: MsgType, satype: SaType) -> Message {
        Message {
            header: Header::new(msg_type, satype),
            exts: Vec::new(),
        }
    }

    /// Set `sadb_msg_seq`.
    pub fn with_seq(mut self, seq: u32) -> Message {
        self.header.seq = seq;
        self
    }

    /// Set `sadb_msg_pid`.
    pub fn with_pid(mut self, pid: u32) -> Message {
        self.header.pid = pid;
        self
    }

    /// Set `sadb_msg_errno`.
    pub fn with_errno(mut self, errno: u8) -> Message {
        self.header.errno = errno;
        self
    }

    /// Append an extension (builder style). Replaces an extension of the same type.
    pub fn with(mut self, ext: Extension) -> Message {
        self.set(ext);
        self
    }

    /// Append an extension at the end, without checking for duplicates.
    pub fn push(&mut self, ext: Extension) {
        self.exts.push(ext);
    }

    /// Replace the extension of the same type in place, or append it.
    pub fn set(&mut self, ext: Extension) {
        let t = ext.ext_type();
        match self.exts.iter_mut().find(|e| e.ext_type() == t) {
            Some(slot) => *slot = ext,
            None => self.exts.push(ext),
        }
    }

    /// Remove and return the extension of type `t`.
    pub fn remove(&mut self, t: ExtType) -> Option<Extension> {
        let i = self.exts.iter().position(|e| e.ext_type() == t)?;
        Some(self.exts.remove(i))
    }

    /// The extension of type `t`, if present.
    pub fn ext(&self, t: ExtType) -> Option<&Extension> {
        self.exts.iter().find(|e| e.ext_type() == t)
    }

    /// Whether an extension of type `t` is present.
    pub fn has(&self, t: ExtType) -> bool {
        self.ext(t).is_some()
    }

    /// A reply skeleton: same header (type, satype, seq, pid) with `errno`, no extensions.
    pub fn error_reply(&self, errno: u8) -> Message {
        Message {
            header: Header {
                errno,
                ..self.header
            },
            exts: Vec::new(),
        }
    }

    accessor!(/// SA extension.
        sa, Sa, Sa);
    accessor!(/// LIFETIME_CURRENT.
        lifetime_current, LifetimeCurrent, Lifetime);
    accessor!(/// LIFETIME_HARD.
        lifetime_hard, LifetimeHard, Lifetime);
    accessor!(/// LIFETIME_SOFT.
        lifetime_soft, LifetimeSoft, Lifetime);
    accessor!(/// ADDRESS_SRC.
        addr_src, AddressSrc, Address);
    accessor!(/// ADDRESS_DST.
        addr_dst, AddressDst, Address);
    accessor!(/// ADDRESS_PROXY.
        addr_proxy, AddressProxy, Address);
    accessor!(/// KEY_AUTH.
        key_auth, KeyAuth, Key);
    accessor!(/// KEY_ENCRYPT.
        key_encrypt, KeyEncrypt, Key);
    accessor!(/// IDENTITY_SRC.
        identity_src, IdentitySrc, Identity);
    accessor!(/// IDENTITY_DST.
        identity_dst, IdentityDst, Identity);
    accessor!(/// SENSITIVITY.
        sensitivity, Sensitivity, Sensitivity);
    accessor!(/// PROPOSAL.
        proposal, Proposal, Proposal);
    accessor!(/// SUPPORTED_AUTH.
        supported_auth, SupportedAuth, Supported);
    accessor!(/// SUPPORTED_ENCRYPT.
        supported_encrypt, SupportedEncrypt, Supported);
    accessor!(/// SPIRANGE.
        spirange, SpiRange, SpiRange);
    accessor!(/// X_KMPRIVATE bytes.
        kmprivate, KmPrivate, Vec<u8>);
    accessor!(/// X_POLICY.
        policy, Policy, Policy);
    accessor!(/// X_SA2.
        sa2, Sa2, Sa2);
    accessor!(/// X_NAT_T_TYPE.
        nat_t_type, NatTType, NatTType);
    accessor!(/// X_NAT_T_SPORT (host-order value).
        nat_t_sport, NatTSport, u16);
    accessor!(/// X_NAT_T_DPORT (host-order value).
        nat_t_dport, NatTDport, u16);
    accessor!(/// X_NAT_T_OA (Linux 23).
        nat_t_oa, NatTOa, Address);
    accessor!(/// X_SEC_CTX (Linux 24).
        sec_ctx, SecCtx, SecCtx);
    accessor!(/// X_KMADDRESS (Linux 25).
        kmaddress, KmAddress, KmAddress);
    accessor!(/// X_FILTER (Linux 26).
        filter, Filter, Filter);

    /// Encode to a new buffer. All lengths and padding are computed here.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Append the encoding to `out`. On error `out` is left as it was.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let r = encode_msg(self, out, start);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    /// Strict decode ([`DecodeOptions::STRICT`]) of exactly one message filling `buf`.
    pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
        Message::decode_with(buf, DecodeOptions::STRICT)
    }

    /// Lenient decode ([`DecodeOptions::LENIENT`]): keeps unknown extensions.
    pub fn decode_lenient(buf: &[u8]) -> Result<Message, DecodeError> {
        Message::decode_with(buf, DecodeOptions::LENIENT)
    }

    /// Decode exactly one message filling `buf`, with options.
    ///
    /// Rejected, with the byte offset of the problem ([`DecodeError`]):
    /// a buffer shorter than 16 bytes or than `sadb_msg_len` says
    /// (`Truncated`), longer (`Overlong`, or `Misaligned` when the excess is
    /// not whole words), `sadb_msg_len` < 2, version ≠ 2, a zero extension
    /// length, an extension past the end, a repeated extension type, an
    /// unknown type (unless [`DecodeOptions::keep_unknown`]), an extension
    /// whose length does not match its layout (fixed-size extensions must be
    /// exactly their size; variable ones may carry < 8 bytes of padding),
    /// sockaddrs that are short, not `AF_INET`/`AF_INET6`, or with a prefix
    /// longer than the address, ipsecrequests whose byte length is < 16,
    /// past the policy or not a multiple of 8, tunnel/KMADDRESS endpoints of
    /// two families, and (unless disabled) SRC/DST family or upper-protocol
    /// mismatches. Reserved fields and padding bytes are not checked.
    ///
    /// Never panics. Allocations are bounded by the input: at most one
    /// [`Extension`] (64 bytes) per 8 input bytes plus copies of variable
    /// payloads; no length field alone drives an allocation.
    pub fn decode_with(buf: &[u8], opts: DecodeOptions) -> Result<Message, DecodeError> {
        decode_msg(buf, opts)
    }

    /// Semantic checks mirroring libipsec `pfkey_check`: version, message type
    /// range, satype use per message type, src/dst family and protocol match.
    pub fn check(&self) -> Result<(), CheckError> {
        let h = &self.header;
        if h.version != PF_KEY_V2 {
            return Err(CheckError::BadVersion(h.version));
        }
        if h.msg_type.0 == 0 || h.msg_type > MsgType::MAX {
            return Err(CheckError::BadMsgType(h.msg_type));
        }
        let misuse = Err(CheckError::SaTypeMisuse {
            msg_type: h.msg_type,
            satype: h.satype,
        });
        match h.satype {
            SaType::UNSPEC => match h.msg_type {
                MsgType::GETSPI
                | MsgType::UPDATE
                | MsgType::ADD
                | MsgType::DELETE
                | MsgType::GET
                | MsgType::ACQUIRE
                | MsgType::EXPIRE
                | MsgType::X_NAT_T_NEW_MAPPING => return misuse,
                _ => {}
            },
            SaType::ESP | SaType::AH | SaType::IPCOMP => {
                match h.msg_type {
                    MsgType::X_SPDADD
                    | MsgType::X_SPDDELETE
                    | MsgType::X_SPDGET
                    | MsgType::X_SPDDUMP
                    | MsgType::X_SPDFLUSH => return misuse,
                    _ => {}
                }
                if h.msg_type == MsgType::X_NAT_T_NEW_MAPPING && h.satype != SaType::ESP {
                    return misuse;
                }
            }
            SaType::RSVP | SaType::OSPFV2 | SaType::RIPV2 | SaType::MIP => {
                return Err(CheckError::SaTypeNotSupported(h.satype));
            }
            SaType(1) if h.msg_type == MsgType::X_PROMISC => {}
            _ => return misuse,
        }
        if let (Some(s), Some(d)) = (self.addr_src(), self.addr_dst()) {
            if s.addr.is_ipv4() != d.addr.is_ipv4() {
                return Err(CheckError::FamilyMismatch);
            }
            if s.proto != d.proto {
                return Err(CheckError::ProtoMismatch);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Encoding

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_ne_bytes());
}
fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_ne_bytes());
}
fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_ne_bytes());
}
fn pad_to8(out: &mut Vec<u8>, base: usize) {
    let n = out.len() - base;
    out.resize(base + align8(n), 0);
}

fn encode_msg(m: &Message, out: &mut Vec<u8>, start: usize) -> Result<(), EncodeError> {
    let h = &m.header;
    out.extend_from_slice(&[h.version, h.msg_type.0, h.errno, h.satype.0]);
    put16(out, 0); // length, patched below
    put16(out, h.reserved);
    put32(out, h.seq);
    put32(out, h.pid);
    for e in &m.exts {
        encode_ext(e, out)?;
        if out.len() - start > MAX_MSG_LEN {
            return Err(EncodeError::MessageTooLong);
        }
    }
    let words = u16::try_from((out.len() - start) / 8).map_err(|_| EncodeError::MessageTooLong)?;
    out[start + 4..start + 6].copy_from_slice(&words.to_ne_bytes());
    Ok(())
}

fn put_address(out: &mut Vec<u8>, a: &Address) {
    out.push(a.proto);
    out.push(a.prefixlen);
    put16(out, 0);
    Layout::CURRENT.put_sockaddr(out, &a.addr);
}

fn put_lifetime(out: &mut Vec<u8>, l: &Lifetime) {
    put32(out, l.allocations);
    put64(out, l.bytes);
    put64(out, l.addtime);
    put64(out, l.usetime);
}

fn put_key(out: &mut Vec<u8>, k: &Key) {
    put16(out, k.bits());
    put16(out, 0);
    out.extend_from_slice(k.bytes());
}

fn put_ident(out: &mut Vec<u8>, i: &Identity) {
    put16(out, i.ident_type.0);
    put16(out, 0);
    put64(out, i.id);
    out.extend_from_slice(&i.data);
}

fn put_supported(out: &mut Vec<u8>, s: &Supported) {
    put32(out, 0);
    for a in &s.algs {
        out.push(a.id);
        out.push(a.ivlen);
        put16(out, a.minbits);
        put16(out, a.maxbits);
        put16(out, 0);
    }
}

fn encode_ext(e: &Extension, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let t = e.ext_type();
    let base = out.len();
    put16(out, 0);
    put16(out, t.0);
    match e {
        Extension::Sa(s) => {
            out.extend_from_slice(&s.spi.to_be_bytes());
            out.extend_from_slice(&[s.replay, s.state.0, s.auth.0, s.encrypt.0]);
            put32(out, s.flags.0);
        }
        Extension::LifetimeCurrent(l) | Extension::LifetimeHard(l) | Extension::LifetimeSoft(l) => {
            put_lifetime(out, l)
        }
        Extension::AddressSrc(a)
        | Extension::AddressDst(a)
        | Extension::AddressProxy(a)
        | Extension::NatTOa(a) => put_address(out, a),
        Extension::KeyAuth(k) | Extension::KeyEncrypt(k) => put_key(out, k),
        Extension::IdentitySrc(i) | Extension::IdentityDst(i) => put_ident(out, i),
        Extension::Sensitivity(s) => {
            let sl = u8::try_from(s.sens_bitmap.len()).map_err(|_| EncodeError::FieldTooLong(t))?;
            let il =
                u8::try_from(s.integ_bitmap.len()).map_err(|_| EncodeError::FieldTooLong(t))?;
            put32(out, s.dpd);
            out.extend_from_slice(&[s.sens_level, sl, s.integ_level, il]);
            put32(out, 0);
            for w in s.sens_bitmap.iter().chain(s.integ_bitmap.iter()) {
                put64(out, *w);
            }
        }
        Extension::Proposal(p) => {
            out.extend_from_slice(&[p.replay, 0, 0, 0]);
            for c in &p.combs {
                if out.len() - base > MAX_MSG_LEN {
                    return Err(EncodeError::ExtTooLong(t));
                }
                out.extend_from_slice(&[c.auth.0, c.encrypt.0]);
                put16(out, c.flags);
                put16(out, c.auth_minbits);
                put16(out, c.auth_maxbits);
                put16(out, c.encrypt_minbits);
                put16(out, c.encrypt_maxbits);
                put32(out, 0);
                put32(out, c.soft_allocations);
                put32(out, c.hard_allocations);
                put64(out, c.soft_bytes);
                put64(out, c.hard_bytes);
                put64(out, c.soft_addtime);
                put64(out, c.hard_addtime);
                put64(out, c.soft_usetime);
                put64(out, c.hard_usetime);
            }
        }
        Extension::SupportedAuth(s) | Extension::SupportedEncrypt(s) => put_supported(out, s),
        Extension::SpiRange(r) => {
            put32(out, r.min);
            put32(out, r.max);
            put32(out, 0);
        }
        Extension::KmPrivate(d) => {
            put32(out, 0);
            out.extend_from_slice(d);
        }
        Extension::Policy(p) => {
            put16(out, p.policy_type.0);
            out.extend_from_slice(&[p.dir.0, 0]);
            put32(out, p.id);
            put32(out, p.priority);
            for r in &p.requests {
                if out.len() - base > MAX_MSG_LEN {
                    return Err(EncodeError::ExtTooLong(t));
                }
                let rb = out.len();
                put16(out, 0);
                put16(out, r.proto.0);
                out.extend_from_slice(&[r.mode.0, r.level.0]);
                put16(out, 0);
                put32(out, r.reqid);
                put32(out, 0);
                if let Some(ep) = &r.tunnel {
                    if ep.src.is_ipv4() != ep.dst.is_ipv4() {
                        return Err(EncodeError::FamilyMismatch(t));
                    }
                    Layout::CURRENT.put_sockaddr(out, &ep.src);
                    Layout::CURRENT.put_sockaddr(out, &ep.dst);
                }
                pad_to8(out, rb);
                let rlen =
                    u16::try_from(out.len() - rb).map_err(|_| EncodeError::FieldTooLong(t))?;
                out[rb..rb + 2].copy_from_slice(&rlen.to_ne_bytes());
            }
        }
        Extension::Sa2(s) => {
            out.extend_from_slice(&[s.mode.0, 0, 0, 0]);
            put32(out, s.sequence);
            put32(out, s.reqid);
        }
        Extension::NatTType(n) => out.extend_from_slice(&[n.0, 0, 0, 0]),
        Extension::NatTSport(p) | Extension::NatTDport(p) => {
            out.extend_from_slice(&p.to_be_bytes());
            put16(out, 0);
        }
        Extension::SecCtx(c) => {
            let n = u16::try_from(c.ctx.len()).map_err(|_| EncodeError::FieldTooLong(t))?;
            out.extend_from_slice(&[c.alg, c.doi]);
            put16(out, n);
            out.extend_from_slice(&c.ctx);
        }
        Extension::KmAddress(k) => {
            if k.local.is_ipv4() != k.remote.is_ipv4() {
                return Err(EncodeError::FamilyMismatch(t));
            }
            put32(out, 0);
            Layout::CURRENT.put_sockaddr(out, &k.local);
            Layout::CURRENT.put_sockaddr(out, &k.remote);
        }
        Extension::Filter(f) => {
            out.extend_from_slice(&f.saddr);
            out.extend_from_slice(&f.daddr);
            put16(out, f.family);
            out.extend_from_slice(&[f.splen, f.dplen]);
        }
        Extension::Unknown { body, .. } => out.extend_from_slice(body),
    }
    pad_to8(out, base);
    let words = u16::try_from((out.len() - base) / 8).map_err(|_| EncodeError::ExtTooLong(t))?;
    out[base..base + 2].copy_from_slice(&words.to_ne_bytes());
    Ok(())
}

// ---------------------------------------------------------------------------
// Decoding

/// Bounds-checked reader over one extension; errors carry absolute offsets.
struct Rd<'a> {
    b: &'a [u8],
    pos: usize,
    base: usize,
    ext: ExtType,
}

impl<'a> Rd<'a> {
    fn err(&self, kind: K) -> DecodeError {
        DecodeError::new(self.base + self.pos, kind)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(self.err(K::BadExtLen(self.ext)))?;
        let s = self
            .b
            .get(self.pos..end)
            .ok_or(self.err(K::BadExtLen(self.ext)))?;
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.arr::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_ne_bytes(self.arr()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_ne_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_ne_bytes(self.arr()?))
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = self.b.get(self.pos..).unwrap_or(&[]);
        self.pos = self.b.len();
        s
    }
    fn remaining(&self) -> usize {
        self.b.len().saturating_sub(self.pos)
    }
    /// The extension must have exactly `n` bytes in total.
    fn exact(&self, n: usize) -> Result<(), DecodeError> {
        if self.b.len() != n {
            return Err(DecodeError::new(self.base, K::BadExtLen(self.ext)));
        }
        Ok(())
    }
    /// Only padding (< 8 bytes) may remain.
    fn padded_end(&self) -> Result<(), DecodeError> {
        if self.remaining() >= 8 {
            return Err(DecodeError::new(self.base, K::BadExtLen(self.ext)));
        }
        Ok(())
    }
    fn sockaddr(&mut self) -> Result<core::net::SocketAddr, DecodeError> {
        let at = self.base + self.pos;
        let rest = self.b.get(self.pos..).unwrap_or(&[]);
        let (a, n) = Layout::CURRENT
            .get_sockaddr(rest)
            .map_err(|e| DecodeError::new(at, K::BadSockaddr(e)))?;
        self.pos += n;
        Ok(a)
    }
}

fn get_address(r: &mut Rd<'_>) -> Result<Address, DecodeError> {
    let proto = r.u8()?;
    let plen_at = r.base + r.pos;
    let prefixlen = r.u8()?;
    r.u16()?;
    let addr = r.sockaddr()?;
    r.padded_end()?;
    let a = Address {
        proto,
        prefixlen,
        addr,
    };
    if prefixlen > a.max_prefixlen() {
        return Err(DecodeError::new(plen_at, K::BadPrefixLen(prefixlen)));
    }
    Ok(a)
}

fn get_lifetime(r: &mut Rd<'_>) -> Result<Lifetime, DecodeError> {
    r.exact(32)?;
    Ok(Lifetime {
        allocations: r.u32()?,
        bytes: r.u64()?,
        addtime: r.u64()?,
        usetime: r.u64()?,
    })
}

fn get_key(r: &mut Rd<'_>) -> Result<Key, DecodeError> {
    let bits = r.u16()?;
    r.u16()?;
    let n = usize::from(bits).div_ceil(8);
    if n > r.remaining() {
        return Err(r.err(K::BadKeyLen));
    }
    let data = r.take(n)?;
    r.padded_end()?;
    Key::with_bits(bits, data).ok_or(r.err(K::BadKeyLen))
}

fn get_ident(r: &mut Rd<'_>) -> Result<Identity, DecodeError> {
    let ident_type = IdentType(r.u16()?);
    r.u16()?;
    let id = r.u64()?;
    let rest = r.rest();
    let end = rest.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    Ok(Identity {
        ident_type,
        id,
        data: rest[..end].to_vec(),
    })
}

fn get_supported(r: &mut Rd<'_>) -> Result<Supported, DecodeError> {
    r.u32()?;
    let mut algs = Vec::with_capacity(r.remaining() / 8);
    while r.remaining() > 0 {
        let id = r.u8()?;
        let ivlen = r.u8()?;
        let minbits = r.u16()?;
        let maxbits = r.u16()?;
        r.u16()?;
        algs.push(Alg {
            id,
            ivlen,
            minbits,
            maxbits,
        });
    }
    Ok(Supported { algs })
}

fn get_policy(r: &mut Rd<'_>) -> Result<Policy, DecodeError> {
    let policy_type = PolicyType(r.u16()?);
    let dir = Dir(r.u8()?);
    r.u8()?;
    let id = r.u32()?;
    let priority = r.u32()?;
    let mut requests = Vec::new();
    while r.remaining() > 0 {
        let at = r.base + r.pos;
        let bad = DecodeError::new(at, K::BadRequestLen);
        if r.remaining() < IPSECREQUEST_LEN {
            return Err(bad);
        }
        let rlen = usize::from(u16::from_ne_bytes([r.b[r.pos], r.b[r.pos + 1]]));
        if rlen < IPSECREQUEST_LEN || rlen > r.remaining() || rlen % 8 != 0 {
            return Err(bad);
        }
        let chunk = r.take(rlen)?;
        let mut q = Rd {
            b: chunk,
            pos: 2,
            base: at,
            ext: r.ext,
        };
        let proto = IpsecProto(q.u16()?);
        let mode = Mode(q.u8()?);
        let level = Level(q.u8()?);
        q.u16()?;
        let reqid = q.u32()?;
        q.u32()?;
        let tunnel = if q.remaining() == 0 {
            None
        } else {
            let src = q.sockaddr()?;
            let dst_at = q.base + q.pos;
            let dst = q.sockaddr()?;
            if src.is_ipv4() != dst.is_ipv4() {
                return Err(DecodeError::new(dst_at, K::EndpointFamilyMismatch));
            }
            if q.remaining() >= 8 {
                return Err(bad);
            }
            Some(Endpoints { src, dst })
        };
        requests.push(IpsecRequest {
            proto,
            mode,
            level,
            reqid,
            tunnel,
        });
    }
    Ok(Policy {
        policy_type,
        dir,
        id,
        priority,
        requests,
    })
}

fn decode_ext(r: &mut Rd<'_>, opts: DecodeOptions) -> Result<Option<Extension>, DecodeError> {
    let t = r.ext;
    let e = match t {
        ExtType::SA => {
            r.exact(16)?;
            let spi = u32::from_be_bytes(r.arr()?);
            let [replay, state, auth, encrypt] = r.arr()?;
            Extension::Sa(Sa {
                spi,
                replay,
                state: SaState(state),
                auth: AuthAlg(auth),
                encrypt: EncAlg(encrypt),
                flags: SaFlags(r.u32()?),
            })
        }
        ExtType::LIFETIME_CURRENT => Extension::LifetimeCurrent(get_lifetime(r)?),
        ExtType::LIFETIME_HARD => Extension::LifetimeHard(get_lifetime(r)?),
        ExtType::LIFETIME_SOFT => Extension::LifetimeSoft(get_lifetime(r)?),
        ExtType::ADDRESS_SRC => Extension::AddressSrc(get_address(r)?),
        ExtType::ADDRESS_DST => Extension::AddressDst(get_address(r)?),
        ExtType::ADDRESS_PROXY => Extension::AddressProxy(get_address(r)?),
        ExtType::X_NAT_T_OA => Extension::NatTOa(get_address(r)?),
        ExtType::KEY_AUTH => Extension::KeyAuth(get_key(r)?),
        ExtType::KEY_ENCRYPT => Extension::KeyEncrypt(get_key(r)?),
        ExtType::IDENTITY_SRC => Extension::IdentitySrc(get_ident(r)?),
        ExtType::IDENTITY_DST => Extension::IdentityDst(get_ident(r)?),
        ExtType::SENSITIVITY => {
            let dpd = r.u32()?;
            let [sens_level, sl, integ_level, il] = r.arr()?;
            r.u32()?;
            r.exact(16 + 8 * (usize::from(sl) + usize::from(il)))?;
            let mut sens_bitmap = Vec::with_capacity(usize::from(sl));
            for _ in 0..sl {
                sens_bitmap.push(r.u64()?);
            }
            let mut integ_bitmap = Vec::with_capacity(usize::from(il));
            for _ in 0..il {
                integ_bitmap.push(r.u64()?);
            }
            Extension::Sensitivity(Sensitivity {
                dpd,
                sens_level,
                integ_level,
                sens_bitmap,
                integ_bitmap,
            })
        }
        ExtType::PROPOSAL => {
            let [replay, _, _, _] = r.arr()?;
            if r.remaining() % 72 != 0 {
                return Err(DecodeError::new(r.base, K::BadExtLen(t)));
            }
            let mut combs = Vec::with_capacity(r.remaining() / 72);
            while r.remaining() > 0 {
                let [auth, encrypt] = r.arr()?;
                let flags = r.u16()?;
                let auth_minbits = r.u16()?;
                let auth_maxbits = r.u16()?;
                let encrypt_minbits = r.u16()?;
                let encrypt_maxbits = r.u16()?;
                r.u32()?;
                combs.push(Comb {
                    auth: AuthAlg(auth),
                    encrypt: EncAlg(encrypt),
                    flags,
                    auth_minbits,
                    auth_maxbits,
                    encrypt_minbits,
                    encrypt_maxbits,
                    soft_allocations: r.u32()?,
                    hard_allocations: r.u32()?,
                    soft_bytes: r.u64()?,
                    hard_bytes: r.u64()?,
                    soft_addtime: r.u64()?,
                    hard_addtime: r.u64()?,
                    soft_usetime: r.u64()?,
                    hard_usetime: r.u64()?,
                });
            }
            Extension::Proposal(Proposal { replay, combs })
        }
        ExtType::SUPPORTED_AUTH => Extension::SupportedAuth(get_supported(r)?),
        ExtType::SUPPORTED_ENCRYPT => Extension::SupportedEncrypt(get_supported(r)?),
        ExtType::SPIRANGE => {
            r.exact(16)?;
            let min = r.u32()?;
            let max = r.u32()?;
            Extension::SpiRange(SpiRange { min, max })
        }
        ExtType::X_KMPRIVATE => {
            r.u32()?;
            Extension::KmPrivate(r.rest().to_vec())
        }
        ExtType::X_POLICY => Extension::Policy(get_policy(r)?),
        ExtType::X_SA2 => {
            r.exact(16)?;
            let [mode, _, _, _] = r.arr()?;
            let sequence = r.u32()?;
            let reqid = r.u32()?;
            Extension::Sa2(Sa2 {
                mode: Mode(mode),
                sequence,
                reqid,
            })
        }
        ExtType::X_NAT_T_TYPE => {
            r.exact(8)?;
            Extension::NatTType(NatTType(r.u8()?))
        }
        ExtType::X_NAT_T_SPORT => {
            r.exact(8)?;
            Extension::NatTSport(u16::from_be_bytes(r.arr()?))
        }
        ExtType::X_NAT_T_DPORT => {
            r.exact(8)?;
            Extension::NatTDport(u16::from_be_bytes(r.arr()?))
        }
        ExtType::X_SEC_CTX => {
            let alg = r.u8()?;
            let doi = r.u8()?;
            let n = usize::from(r.u16()?);
            let ctx = r.take(n)?.to_vec();
            r.padded_end()?;
            Extension::SecCtx(SecCtx { alg, doi, ctx })
        }
        ExtType::X_KMADDRESS => {
            r.u32()?;
            let local = r.sockaddr()?;
            let at = r.base + r.pos;
            let remote = r.sockaddr()?;
            if local.is_ipv4() != remote.is_ipv4() {
                return Err(DecodeError::new(at, K::EndpointFamilyMismatch));
            }
            r.padded_end()?;
            Extension::KmAddress(KmAddress { local, remote })
        }
        ExtType::X_FILTER => {
            r.exact(40)?;
            let saddr = r.arr()?;
            let daddr = r.arr()?;
            let family = r.u16()?;
            let [splen, dplen] = r.arr()?;
            Extension::Filter(Filter {
                saddr,
                daddr,
                family,
                splen,
                dplen,
            })
        }
        _ => {
            if !opts.keep_unknown {
                return Err(DecodeError::new(r.base + 2, K::UnknownExt(t)));
            }
            Extension::Unknown {
                ext_type: t,
                body: r.rest().to_vec(),
            }
        }
    };
    Ok(Some(e))
}

fn decode_msg(buf: &[u8], opts: DecodeOptions) -> Result<Message, DecodeError> {
    let (header, len) = Header::peek(buf).ok_or(DecodeError::new(buf.len(), K::Truncated))?;
    if header.version != PF_KEY_V2 {
        return Err(DecodeError::new(0, K::BadVersion(header.version)));
    }
    if len < MSG_HEADER_LEN {
        return Err(DecodeError::new(4, K::BadMsgLen));
    }
    if len > buf.len() {
        return Err(DecodeError::new(buf.len(), K::Truncated));
    }
    if buf.len() % 8 != 0 {
        return Err(DecodeError::new(buf.len() - buf.len() % 8, K::Misaligned));
    }
    if len < buf.len() {
        return Err(DecodeError::new(len, K::Overlong));
    }
    // Types below 64 in one word; a full 65536-bit set only if a larger
    // (unknown) type shows up, so the common case costs nothing.
    let mut seen_low = 0u64;
    let mut seen_high: Option<Box<[u64; 1024]>> = None;
    let mut exts = Vec::with_capacity(((len - MSG_HEADER_LEN) / 8).min(16));
    let mut off = MSG_HEADER_LEN;
    let mut src: Option<(usize, Address)> = None;
    let mut dst: Option<(usize, Address)> = None;
    while off < len {
        // `len` and `off` are multiples of 8, so at least 8 bytes remain.
        let hdr = buf
            .get(off..off + 4)
            .ok_or(DecodeError::new(off, K::Truncated))?;
        let elen = usize::from(u16::from_ne_bytes([hdr[0], hdr[1]])) * 8;
        let etype = ExtType(u16::from_ne_bytes([hdr[2], hdr[3]]));
        if elen == 0 {
            return Err(DecodeError::new(off, K::ZeroExtLen));
        }
        if elen > len - off {
            return Err(DecodeError::new(off, K::ExtPastEnd));
        }
        let (word, bit) = (usize::from(etype.0 / 64), etype.0 % 64);
        let slot = if word == 0 {
            &mut seen_low
        } else {
            &mut seen_high.get_or_insert_with(|| Box::new([0u64; 1024]))[word]
        };
        if *slot & (1 << bit) != 0 {
            return Err(DecodeError::new(off + 2, K::DuplicateExt(etype)));
        }
        *slot |= 1 << bit;
        let mut r = Rd {
            b: &buf[off..off + elen],
            pos: 4,
            base: off,
            ext: etype,
        };
        if let Some(e) = decode_ext(&mut r, opts)? {
            match &e {
                Extension::AddressSrc(a) => src = Some((off, *a)),
                Extension::AddressDst(a) => dst = Some((off, *a)),
                _ => {}
            }
            exts.push(e);
        }
        off += elen;
    }
    if opts.check_src_dst {
        if let (Some((_, s)), Some((doff, d))) = (src, dst) {
            if s.addr.is_ipv4() != d.addr.is_ipv4() {
                return Err(DecodeError::new(doff, K::FamilyMismatch));
            }
            if s.proto != d.proto {
                return Err(DecodeError::new(doff + 4, K::ProtoMismatch));
            }
        }
    }
    Ok(Message { header, exts })
}
