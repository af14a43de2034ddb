//! IKEv1 fragmentation as Cisco, strongSwan, libreswan and racoon do it (not RFC 7383, which is
//! IKEv2-only).
//!
//! Capability: a vendor ID made of the 16 bytes [`VENDOR_ID_PREFIX`] optionally followed by four
//! bytes of capability flags (strongSwan and racoon send `80 00 00 00` = [`CAPS_BASE`], Cisco
//! `c0 00 00 00` = base | [`CAPS_AGGRESSIVE`]). Receivers match on the 16-byte prefix.
//!
//! Each fragment is a whole ISAKMP datagram: the original header's cookies and version, next
//! payload 132 ([`PayloadType::FRAGMENT`]), message ID 0 and the exchange type of the phase-1 mode
//! (what strongSwan sends; racoon and strongSwan key reassembly on cookies + fragment ID only),
//! flags 0, and one fragment payload:
//!
//! ```text
//! next payload (0) | reserved | payload length (u16) | fragment id (u16) | number (u8) | flags (u8, LAST = 1) | data
//! ```
//!
//! The data of fragments 1..=n concatenated is the original (possibly encrypted) datagram.
//!
//! [`Reassembler`] is the hardened receiver (CVE-2009-1574: fragment without data;
//! CVE-2016-10396: quadratic reassembly and its follow-up regression where a retransmitted last
//! fragment aborted reassembly). Every operation is O(1) amortized per fragment plus one O(n)
//! concatenation when complete; memory is bounded per message, per pending set and in total;
//! entries expire after [`Limits::timeout`] seconds of an injected `now`.

use crate::{ExchangeType, Flags, Header, PayloadType, HEADER_LEN, MAX_MESSAGE_LEN};
use std::collections::HashMap;
use thiserror::Error;

/// The 16-byte IKE fragmentation vendor ID (`4048b7d56ebce88525e7de7f00d6c2d3`).
pub const VENDOR_ID_PREFIX: [u8; 16] = [
    0x40, 0x48, 0xb7, 0xd5, 0x6e, 0xbc, 0xe8, 0x85, 0x25, 0xe7, 0xde, 0x7f, 0x00, 0xd6, 0xc2, 0xd3,
];
/// Capability flag: fragmentation supported.
pub const CAPS_BASE: u32 = 0x8000_0000;
/// Capability flag: fragmentation also in Aggressive Mode (racoon's VENDORID_FRAG_AGG).
pub const CAPS_AGGRESSIVE: u32 = 0x4000_0000;
/// Fragment flag: this is the last fragment.
pub const FLAG_LAST: u8 = 0x01;
/// Bytes of fragment payload header (generic header + id + number + flags).
pub const FRAG_PAYLOAD_HEADER_LEN: usize = 8;
/// Default path MTU when fragmenting (IPv6 minimum).
pub const DEFAULT_MTU: usize = 1280;

/// The vendor ID we send: prefix + capability flags (big-endian).
pub fn vendor_id(caps: u32) -> [u8; 20] {
    let mut v = [0u8; 20];
    v[..16].copy_from_slice(&VENDOR_ID_PREFIX);
    v[16..].copy_from_slice(&caps.to_be_bytes());
    v
}

/// If `vid` is the fragmentation vendor ID, its capability flags (a bare 16-byte ID is taken as
/// [`CAPS_BASE`]).
pub fn parse_vendor_id(vid: &[u8]) -> Option<u32> {
    match vid {
        [p @ .., a, b, c, d] if p == VENDOR_ID_PREFIX => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        v if v == VENDOR_ID_PREFIX => Some(CAPS_BASE),
        _ => None,
    }
}

/// Largest ISAKMP datagram that fits a path MTU: minus IPv4 (20) or IPv6 (40) header, UDP (8)
/// and, on port 4500, the non-ESP marker (4).
pub fn max_datagram_len(mtu: usize, ipv6: bool, port_4500: bool) -> usize {
    let ip = if ipv6 { 40 } else { 20 };
    mtu.saturating_sub(ip + 8 + if port_4500 { 4 } else { 0 })
}

/// Fragmentation and reassembly errors. The receiver drops the offending datagram; none of them
/// aborts a pending reassembly except [`FragError::MessageTooLarge`].
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum FragError {
    /// Not a well-formed fragment datagram.
    #[error("malformed IKE fragment: {0}")]
    Malformed(&'static str),
    /// Fragment carries no data (CVE-2009-1574).
    #[error("IKE fragment without data")]
    Empty,
    /// Fragment number 0 or above the limit.
    #[error("IKE fragment number {0} out of range")]
    BadNumber(u8),
    /// Same number received again (retransmission): dropped, reassembly goes on.
    #[error("duplicate IKE fragment {0}")]
    Duplicate(u8),
    /// A number past the already-known last fragment, or a second, different LAST.
    #[error("IKE fragment {0} conflicts with the last fragment {1}")]
    PastLast(u8, u8),
    /// Reassembled message would exceed the limit: the reassembly is dropped.
    #[error("reassembled IKE message would exceed {0} bytes")]
    MessageTooLarge(usize),
    /// The reassembled datagram is not an ISAKMP message of these cookies.
    #[error("reassembled IKE message is invalid")]
    BadReassembly,
    /// Splitting: the message does not fit in the allowed number of fragments.
    #[error("message of {0} bytes needs too many fragments")]
    TooManyFragments(usize),
    /// Splitting: the datagram size leaves no room for data.
    #[error("datagram size {0} too small to fragment into")]
    MtuTooSmall(usize),
}

/// A decoded fragment datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// Initiator cookie.
    pub initiator_cookie: [u8; 8],
    /// Responder cookie.
    pub responder_cookie: [u8; 8],
    /// Fragment ID (same for all fragments of one message).
    pub id: u16,
    /// Number, 1-based.
    pub number: u8,
    /// LAST flag.
    pub last: bool,
    /// The data.
    pub data: &'a [u8],
}

impl<'a> Fragment<'a> {
    /// Decodes a datagram whose first payload is a fragment payload (the only payload).
    pub fn decode(datagram: &'a [u8]) -> Result<Self, FragError> {
        let h = Header::decode(datagram).map_err(|_| FragError::Malformed("bad ISAKMP header"))?;
        if h.next_payload != PayloadType::FRAGMENT {
            return Err(FragError::Malformed("first payload is not a fragment"));
        }
        let p = &datagram[HEADER_LEN..];
        if p.len() < FRAG_PAYLOAD_HEADER_LEN {
            return Err(FragError::Malformed("truncated fragment payload"));
        }
        let plen = usize::from(u16::from_be_bytes([p[2], p[3]]));
        if plen != p.len() {
            return Err(FragError::Malformed("fragment payload length mismatch"));
        }
        let number = p[6];
        if number == 0 {
            return Err(FragError::BadNumber(0));
        }
        let data = &p[FRAG_PAYLOAD_HEADER_LEN..];
        if data.is_empty() {
            return Err(FragError::Empty);
        }
        Ok(Self {
            initiator_cookie: h.initiator_cookie,
            responder_cookie: h.responder_cookie,
            id: u16::from_be_bytes([p[4], p[5]]),
            number,
            last: p[7] & FLAG_LAST != 0,
            data,
        })
    }
}

/// Splits the encoded datagram `msg` into fragment datagrams of at most `max_len` bytes each
/// (see [`max_datagram_len`]), numbered from 1, the last flagged LAST. `exchange` is the phase-1
/// exchange type to put in the fragment headers (Identity Protection or Aggressive).
pub fn split(
    msg: &[u8],
    max_len: usize,
    frag_id: u16,
    exchange: ExchangeType,
) -> Result<Vec<Vec<u8>>, FragError> {
    let h = Header::decode(msg).map_err(|_| FragError::Malformed("message to split"))?;
    // A fragment is never fragmented again: the reassembler refuses nested
    // fragments, so splitting one would produce something nobody accepts.
    if h.next_payload == PayloadType::FRAGMENT {
        return Err(FragError::Malformed(
            "message to split is itself a fragment",
        ));
    }
    let chunk = max_len.saturating_sub(HEADER_LEN + FRAG_PAYLOAD_HEADER_LEN);
    if chunk == 0 {
        return Err(FragError::MtuTooSmall(max_len));
    }
    let count = msg.len().div_ceil(chunk);
    if count > usize::from(u8::MAX) {
        return Err(FragError::TooManyFragments(msg.len()));
    }
    let mut out = Vec::with_capacity(count);
    for (i, data) in msg.chunks(chunk).enumerate() {
        let total = HEADER_LEN + FRAG_PAYLOAD_HEADER_LEN + data.len();
        let fh = Header {
            next_payload: PayloadType::FRAGMENT,
            exchange,
            flags: Flags(0),
            message_id: 0,
            length: total as u32,
            ..h
        };
        let mut d = Vec::with_capacity(total);
        fh.encode(&mut d);
        d.push(0);
        d.push(0);
        d.extend_from_slice(&((FRAG_PAYLOAD_HEADER_LEN + data.len()) as u16).to_be_bytes());
        d.extend_from_slice(&frag_id.to_be_bytes());
        d.push((i + 1) as u8);
        d.push(if i + 1 == count { FLAG_LAST } else { 0 });
        d.extend_from_slice(data);
        out.push(d);
    }
    Ok(out)
}

/// Bounds of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Highest fragment number accepted (so most fragments per message).
    pub max_fragments: u8,
    /// Largest reassembled message.
    pub max_message_len: usize,
    /// Most messages being reassembled at once; beyond it the oldest is dropped.
    pub max_pending: usize,
    /// Most bytes held over all pending messages; beyond it the oldest are dropped.
    pub max_total_bytes: usize,
    /// Seconds after its first fragment that an incomplete message is dropped.
    pub timeout: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_fragments: 64,
            max_message_len: MAX_MESSAGE_LEN,
            max_pending: 32,
            max_total_bytes: 1024 * 1024,
            timeout: 30,
        }
    }
}

type Key = ([u8; 8], [u8; 8], u16);

#[derive(Debug)]
struct Pending {
    /// Slot n-1 holds fragment n; grown on demand up to `max_fragments`.
    slots: Vec<Option<Vec<u8>>>,
    last: Option<u8>,
    highest: u8,
    received: usize,
    bytes: usize,
    started: i64,
}

/// Reassembles fragment datagrams into messages, keyed by (cookies, fragment ID).
#[derive(Debug, Default)]
pub struct Reassembler {
    limits: Limits,
    pending: HashMap<Key, Pending>,
    total_bytes: usize,
}

impl Reassembler {
    /// With the given limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            pending: HashMap::new(),
            total_bytes: 0,
        }
    }

    /// Messages currently being reassembled.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Bytes currently held.
    pub fn held_bytes(&self) -> usize {
        self.total_bytes
    }

    /// Drops every reassembly started more than `timeout` seconds before `now`.
    pub fn expire(&mut self, now: i64) {
        let timeout = self.limits.timeout;
        let mut freed = 0;
        self.pending.retain(|_, p| {
            let keep = now.saturating_sub(p.started) <= timeout;
            if !keep {
                freed += p.bytes;
            }
            keep
        });
        self.total_bytes -= freed;
    }

    fn drop_oldest(&mut self) {
        if let Some(k) = self
            .pending
            .iter()
            .min_by_key(|(_, p)| p.started)
            .map(|(k, _)| *k)
        {
            self.remove(&k);
        }
    }

    fn remove(&mut self, k: &Key) -> Option<Pending> {
        let p = self.pending.remove(k)?;
        self.total_bytes -= p.bytes;
        Some(p)
    }

    /// Takes one received fragment datagram. Returns the reassembled datagram when this fragment
    /// completed it, `Ok(None)` while fragments are missing, or why this fragment was dropped.
    pub fn insert(&mut self, datagram: &[u8], now: i64) -> Result<Option<Vec<u8>>, FragError> {
        let f = Fragment::decode(datagram)?;
        self.insert_fragment(&f, now)
    }

    /// As [`Reassembler::insert`] for an already decoded fragment.
    pub fn insert_fragment(
        &mut self,
        f: &Fragment<'_>,
        now: i64,
    ) -> Result<Option<Vec<u8>>, FragError> {
        let lim = self.limits;
        if f.number == 0 || f.number > lim.max_fragments {
            return Err(FragError::BadNumber(f.number));
        }
        if f.data.is_empty() {
            return Err(FragError::Empty);
        }
        self.expire(now);
        let key = (f.initiator_cookie, f.responder_cookie, f.id);
        if !self.pending.contains_key(&key) {
            while self.pending.len() >= lim.max_pending.max(1) {
                self.drop_oldest();
            }
            self.pending.insert(
                key,
                Pending {
                    slots: Vec::new(),
                    last: None,
                    highest: 0,
                    received: 0,
                    bytes: 0,
                    started: now,
                },
            );
        }
        let p = self.pending.get_mut(&key).expect("inserted above");
        let n = f.number;
        let idx = usize::from(n - 1);
        if p.slots.get(idx).is_some_and(Option::is_some) {
            return Err(FragError::Duplicate(n));
        }
        match (p.last, f.last) {
            (Some(l), _) if n > l => return Err(FragError::PastLast(n, l)),
            (Some(l), true) if n != l => return Err(FragError::PastLast(n, l)),
            (None, true) if n < p.highest => return Err(FragError::PastLast(p.highest, n)),
            _ => {}
        }
        if p.bytes + f.data.len() > lim.max_message_len {
            self.remove(&key);
            return Err(FragError::MessageTooLarge(lim.max_message_len));
        }
        if p.slots.len() <= idx {
            p.slots.resize(idx + 1, None);
        }
        p.slots[idx] = Some(f.data.to_vec());
        p.received += 1;
        p.bytes += f.data.len();
        p.highest = p.highest.max(n);
        if f.last {
            p.last = Some(n);
        }
        self.total_bytes += f.data.len();
        let complete = p.last.is_some_and(|l| p.received == usize::from(l));
        if complete {
            let p = self.remove(&key).expect("present");
            let mut msg = Vec::with_capacity(p.bytes);
            for s in p.slots.into_iter().flatten() {
                msg.extend_from_slice(&s);
            }
            return match Header::decode(&msg) {
                Ok(h)
                    if h.initiator_cookie == f.initiator_cookie
                        && h.responder_cookie == f.responder_cookie
                        && h.next_payload != PayloadType::FRAGMENT =>
                {
                    Ok(Some(msg))
                }
                _ => Err(FragError::BadReassembly),
            };
        }
        // Global memory bound: drop the oldest other reassemblies first, then this one.
        while self.total_bytes > lim.max_total_bytes {
            let oldest = self
                .pending
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    self.remove(&k);
                }
                None => {
                    self.remove(&key);
                    return Err(FragError::MessageTooLarge(lim.max_total_bytes));
                }
            }
        }
        Ok(None)
    }
}

/// Entry point for the fragment fuzz target and its corpus replay: the input is a sequence of
/// `u16 length || datagram` records fed to one reassembler (time advancing by one second per
/// record); whatever comes out must be a valid header, and every fragment of a split round-trips.
#[doc(hidden)]
pub fn fuzz_reassemble(data: &[u8]) {
    let mut r = Reassembler::new(Limits {
        max_total_bytes: 64 * 1024,
        max_pending: 4,
        ..Limits::default()
    });
    let mut rest = data;
    let mut now = 0;
    while rest.len() >= 2 {
        let l = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (d, tail) = rest[2..].split_at(l);
        rest = tail;
        now += 1;
        if let Ok(Some(m)) = r.insert(d, now) {
            assert!(Header::decode(&m).is_ok());
        }
        assert!(r.held_bytes() <= 64 * 1024);
        assert!(r.pending() <= 4);
    }
    if Header::decode(data).is_ok() {
        if let Ok(frags) = split(data, 100, 7, ExchangeType(2)) {
            let mut r = Reassembler::default();
            let mut out = None;
            for f in frags.iter().rev() {
                out = r.insert(f, 0).expect("own fragments reassemble");
            }
            assert_eq!(out.as_deref(), Some(data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `fuzz/run-all.sh` (pki/fuzz isakmp_frag): splitting a message
    /// whose first payload is already a fragment produced fragments that the
    /// reassembler (rightly) refuses.
    #[test]
    fn nested_fragment_is_not_split() {
        let data: Vec<u8> = vec![
            0, 44, 1, 1, 1, 1, 1, 35, 1, 1, 0, 2, 40, 2, 2, 22, 132, 16, 2, 0, 0, 0, 0, 63, 0, 0,
            0, 44, 0, 0, 0, 16, 0, 1, 18, 20, 21, 24, 1, 1, 247, 158, 157, 156,
        ];
        assert!(Header::decode(&data).is_ok());
        assert!(matches!(
            split(&data, 100, 7, ExchangeType(2)),
            Err(FragError::Malformed(_))
        ));
        fuzz_reassemble(&data);
    }

    fn message(len: usize) -> Vec<u8> {
        let h = Header {
            initiator_cookie: [1; 8],
            responder_cookie: [2; 8],
            next_payload: PayloadType(5),
            version: 0x10,
            exchange: ExchangeType(2),
            flags: Flags(1),
            message_id: 0,
            length: len as u32,
        };
        let mut m = Vec::new();
        h.encode(&mut m);
        m.extend((0..len - HEADER_LEN).map(|i| (i * 7) as u8));
        m
    }

    #[test]
    fn vendor_id_bytes() {
        let v = vendor_id(CAPS_BASE);
        assert_eq!(
            v.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "4048b7d56ebce88525e7de7f00d6c2d380000000"
        );
        assert_eq!(parse_vendor_id(&v), Some(CAPS_BASE));
        assert_eq!(
            parse_vendor_id(&vendor_id(0xc000_0000)),
            Some(CAPS_BASE | CAPS_AGGRESSIVE)
        );
        assert_eq!(parse_vendor_id(&VENDOR_ID_PREFIX), Some(CAPS_BASE));
        assert_eq!(parse_vendor_id(&v[..19]), None);
        assert_eq!(parse_vendor_id(&[0u8; 20]), None);
    }

    #[test]
    fn split_fits_mtu_and_reassembles_in_any_order() {
        let m = message(5000);
        let max = max_datagram_len(DEFAULT_MTU, false, true);
        assert_eq!(max, 1248);
        let frags = split(&m, max, 1, ExchangeType(2)).unwrap();
        assert_eq!(frags.len(), 5000usize.div_ceil(max - 36));
        for (i, f) in frags.iter().enumerate() {
            assert!(f.len() <= max);
            let d = Fragment::decode(f).unwrap();
            assert_eq!(usize::from(d.number), i + 1);
            assert_eq!(d.last, i + 1 == frags.len());
            assert_eq!(Header::decode(f).unwrap().message_id, 0);
        }
        for order in [
            vec![0, 1, 2, 3, 4],
            vec![4, 3, 2, 1, 0],
            vec![2, 4, 0, 3, 1],
        ] {
            let mut r = Reassembler::default();
            let mut out = None;
            for (k, &i) in order.iter().enumerate() {
                let res = r.insert(&frags[i], 10).unwrap();
                assert_eq!(res.is_some(), k == order.len() - 1);
                out = res.or(out);
            }
            assert_eq!(out.unwrap(), m);
            assert_eq!((r.pending(), r.held_bytes()), (0, 0));
        }
        assert_eq!(
            split(&m, 36, 1, ExchangeType(2)),
            Err(FragError::MtuTooSmall(36))
        );
        assert_eq!(
            split(&message(60000), 100, 1, ExchangeType(2)),
            Err(FragError::TooManyFragments(60000))
        );
    }

    #[test]
    fn duplicates_and_retransmitted_last_do_not_abort() {
        let m = message(3000);
        let frags = split(&m, 1000, 9, ExchangeType(2)).unwrap();
        assert_eq!(frags.len(), 4);
        let mut r = Reassembler::default();
        assert_eq!(r.insert(&frags[3], 0), Ok(None));
        assert_eq!(r.insert(&frags[3], 0), Err(FragError::Duplicate(4)));
        assert_eq!(r.insert(&frags[0], 0), Ok(None));
        assert_eq!(r.insert(&frags[0], 0), Err(FragError::Duplicate(1)));
        assert_eq!(r.insert(&frags[1], 0), Ok(None));
        assert_eq!(r.insert(&frags[2], 1).unwrap().unwrap(), m);
    }

    fn forge(number: u8, last: bool, data: &[u8], id: u16) -> Vec<u8> {
        let h = Header {
            initiator_cookie: [1; 8],
            responder_cookie: [2; 8],
            next_payload: PayloadType::FRAGMENT,
            version: 0x10,
            exchange: ExchangeType(2),
            flags: Flags(0),
            message_id: 0,
            length: (HEADER_LEN + 8 + data.len()) as u32,
        };
        let mut d = Vec::new();
        h.encode(&mut d);
        d.extend_from_slice(&[0, 0]);
        d.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        d.extend_from_slice(&id.to_be_bytes());
        d.push(number);
        d.push(u8::from(last));
        d.extend_from_slice(data);
        d
    }

    #[test]
    fn hostile_fragments_are_rejected() {
        let mut r = Reassembler::default();
        assert_eq!(
            r.insert(&forge(0, false, b"x", 1), 0),
            Err(FragError::BadNumber(0))
        );
        assert_eq!(
            r.insert(&forge(65, false, b"x", 1), 0),
            Err(FragError::BadNumber(65))
        );
        assert_eq!(r.insert(&forge(1, false, b"", 1), 0), Err(FragError::Empty));
        let mut bad = forge(1, false, b"abc", 1);
        bad[31] = 50; // payload length
        assert!(matches!(r.insert(&bad, 0), Err(FragError::Malformed(_))));
        assert!(matches!(
            r.insert(&bad[..30], 0),
            Err(FragError::Malformed(_))
        ));
        // gaps past the last
        assert_eq!(r.insert(&forge(3, true, b"c", 1), 0), Ok(None));
        assert_eq!(
            r.insert(&forge(5, false, b"e", 1), 0),
            Err(FragError::PastLast(5, 3))
        );
        assert_eq!(
            r.insert(&forge(2, true, b"b", 1), 0),
            Err(FragError::PastLast(2, 3))
        );
        // a LAST below what was already seen
        assert_eq!(r.insert(&forge(9, false, b"i", 2), 0), Ok(None));
        assert_eq!(
            r.insert(&forge(4, true, b"d", 2), 0),
            Err(FragError::PastLast(9, 4))
        );
        // garbage reassembled is reported, not returned
        assert_eq!(r.insert(&forge(1, false, b"a", 1), 0), Ok(None));
        assert_eq!(
            r.insert(&forge(2, false, b"b", 1), 0),
            Err(FragError::BadReassembly)
        );
        assert_eq!(r.pending(), 1);
    }

    #[test]
    fn limits_and_expiry() {
        let lim = Limits {
            max_message_len: 1000,
            max_pending: 3,
            max_total_bytes: 2500,
            timeout: 30,
            ..Limits::default()
        };
        let mut r = Reassembler::new(lim);
        let big = vec![0u8; 600];
        assert_eq!(r.insert(&forge(1, false, &big, 1), 0), Ok(None));
        assert_eq!(
            r.insert(&forge(2, false, &big, 1), 0),
            Err(FragError::MessageTooLarge(1000))
        );
        assert_eq!(r.pending(), 0);
        for id in 0..10u16 {
            r.insert(&forge(1, false, &big, id), i64::from(id)).unwrap();
            assert!(r.pending() <= 3);
            assert!(r.held_bytes() <= 2500);
        }
        // oldest evicted: ids 7, 8, 9 remain
        assert_eq!(
            r.insert(&forge(1, false, b"x", 9), 10),
            Err(FragError::Duplicate(1))
        );
        r.expire(9 + 30);
        assert_eq!(r.pending(), 1);
        r.expire(9 + 31);
        assert_eq!((r.pending(), r.held_bytes()), (0, 0));
    }

    #[test]
    fn worst_case_order_is_linear() {
        // CVE-2016-10396: 64 fragments in reverse order, repeated for many messages, must cost
        // about as much as the same number of fragments in order.
        let m = message(64 * 900);
        let frags = split(&m, 900 + 36, 3, ExchangeType(2)).unwrap();
        assert_eq!(frags.len(), 64);
        let mut r = Reassembler::default();
        for round in 0..50 {
            let mut out = None;
            for f in frags.iter().rev() {
                out = r.insert(f, round).unwrap().or(out);
            }
            assert_eq!(out.as_deref(), Some(m.as_slice()));
        }
    }

    #[test]
    fn fuzz_entry_runs() {
        let mut input = Vec::new();
        for f in split(&message(400), 100, 5, ExchangeType(2)).unwrap() {
            input.extend_from_slice(&(f.len() as u16).to_be_bytes());
            input.extend_from_slice(&f);
        }
        fuzz_reassemble(&input);
        fuzz_reassemble(&message(300));
        fuzz_reassemble(&[]);
    }
}
