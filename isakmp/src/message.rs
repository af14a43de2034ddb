//! ISAKMP header, payload chains and whole messages; the NAT-T non-ESP marker.

use crate::codec::{LengthPatch, Reader};
use crate::error::{DecodeError, EncodeError, ErrorKind};
use crate::payload::Payload;
use crate::types::{ExchangeType, Flags, PayloadType};
use crate::{MAX_MESSAGE_LEN, MAX_PAYLOADS};

/// Length of the ISAKMP header.
pub const HEADER_LEN: usize = 28;

/// ISAKMP version byte for IKEv1 (major 1, minor 0).
pub const VERSION_1_0: u8 = 0x10;

/// The fixed ISAKMP header (RFC 2408 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Initiator cookie.
    pub initiator_cookie: [u8; 8],
    /// Responder cookie (zero in the first message).
    pub responder_cookie: [u8; 8],
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Major (high nibble) and minor version.
    pub version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID (0 in phase 1).
    pub message_id: u32,
    /// Total length of the message including the header.
    pub length: u32,
}

impl Header {
    /// Decodes the header at the start of `buf` and checks its length field against the
    /// datagram: `length` must be at least 28, at most [`MAX_MESSAGE_LEN`], and equal to
    /// `buf.len()` (trailing bytes, e.g. a second message glued on, are rejected).
    pub fn decode(buf: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::new(buf);
        let initiator_cookie = r.take_array()?;
        let responder_cookie = r.take_array()?;
        let next_payload = PayloadType(r.u8()?);
        let version = r.u8()?;
        if version >> 4 != 1 {
            return Err(DecodeError::new(17, ErrorKind::UnsupportedVersion));
        }
        let exchange = ExchangeType(r.u8()?);
        let flags = Flags(r.u8()?);
        let message_id = r.u32()?;
        let length = r.u32()?;
        let l = usize::try_from(length).unwrap_or(usize::MAX);
        if l > MAX_MESSAGE_LEN {
            return Err(DecodeError::new(24, ErrorKind::MessageTooLarge));
        }
        if l < HEADER_LEN || l != buf.len() {
            return Err(DecodeError::new(24, ErrorKind::BadMessageLength));
        }
        Ok(Header {
            initiator_cookie,
            responder_cookie,
            next_payload,
            version,
            exchange,
            flags,
            message_id,
            length,
        })
    }

    /// Writes the header with `length` as given.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.initiator_cookie);
        out.extend_from_slice(&self.responder_cookie);
        out.push(self.next_payload.0);
        out.push(self.version);
        out.push(self.exchange.0);
        out.push(self.flags.0);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    /// True when the E flag is set.
    pub fn is_encrypted(&self) -> bool {
        self.flags.contains(Flags::ENCRYPTION)
    }
}

/// What may follow the last payload of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trailing {
    /// Nothing: the chain must end exactly at the end of the buffer (cleartext messages).
    Forbidden,
    /// Padding of any content (decrypted bodies: IKEv1 pads to the cipher block size).
    Padding,
}

/// An iterator over a payload chain yielding `(type, body reader)`; it stops for good after
/// the first error, after [`MAX_PAYLOADS`] payloads or at the end of the chain.
pub struct PayloadIter<'a> {
    r: Reader<'a>,
    next: PayloadType,
    trailing: Trailing,
    count: usize,
    done: bool,
}

impl<'a> PayloadIter<'a> {
    /// Starts at `first` over `bytes`, whose first byte is at absolute offset `base`.
    pub fn new(first: PayloadType, bytes: &'a [u8], base: usize, trailing: Trailing) -> Self {
        PayloadIter {
            r: Reader::with_base(bytes, base),
            next: first,
            trailing,
            count: 0,
            done: false,
        }
    }

    fn step(&mut self) -> Result<Option<(PayloadType, Reader<'a>)>, DecodeError> {
        if self.next == PayloadType::NONE {
            if self.trailing == Trailing::Forbidden {
                self.r.expect_end()?;
            }
            return Ok(None);
        }
        if self.count >= MAX_PAYLOADS {
            return Err(self.r.err(ErrorKind::TooManyPayloads));
        }
        self.count += 1;
        let at = self.r.offset();
        let ty = self.next;
        let np = PayloadType(self.r.u8()?);
        let _reserved = self.r.u8()?;
        let len = usize::from(self.r.u16()?);
        if len < 4 || len - 4 > self.r.left() {
            return Err(DecodeError::new(at + 2, ErrorKind::BadPayloadLength));
        }
        let body = self.r.sub(len - 4)?;
        self.next = np;
        Ok(Some((ty, body)))
    }
}

impl<'a> Iterator for PayloadIter<'a> {
    type Item = Result<(PayloadType, Reader<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(x)) => Some(Ok(x)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Decodes a whole payload chain starting with `first` (the header's next-payload field).
/// For a decrypted body pass `base = HEADER_LEN` so offsets match the message, and
/// `Trailing::Padding`.
pub fn decode_payloads(
    first: PayloadType,
    bytes: &[u8],
    base: usize,
    trailing: Trailing,
) -> Result<Vec<Payload>, DecodeError> {
    let mut v = Vec::new();
    for item in PayloadIter::new(first, bytes, base, trailing) {
        let (ty, mut body) = item?;
        v.push(Payload::decode_body(ty, &mut body)?);
    }
    Ok(v)
}

/// Encodes a payload chain; returns the type of the first payload (for the header) and
/// appends the bytes to `out`.
pub fn encode_payloads(
    payloads: &[Payload],
    out: &mut Vec<u8>,
) -> Result<PayloadType, EncodeError> {
    let begin = out.len();
    for (i, p) in payloads.iter().enumerate() {
        let np = payloads
            .get(i + 1)
            .map_or(PayloadType::NONE, Payload::payload_type);
        let start = out.len();
        out.push(np.0);
        out.push(0);
        let mut g = LengthPatch::u16(out, start);
        p.encode_body(&mut g)?;
        drop(g);
        if out.len() - start > usize::from(u16::MAX) || out.len() - begin > MAX_MESSAGE_LEN {
            return Err(EncodeError::TooLong);
        }
    }
    Ok(payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type))
}

/// The body of a message: decoded payloads, or ciphertext when the E flag is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Cleartext payloads.
    Plain(Vec<Payload>),
    /// Encrypted payload chain (to be decrypted, then decoded with [`decode_payloads`] and
    /// [`Trailing::Padding`]).
    Encrypted(Vec<u8>),
}

/// A whole ISAKMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header (its `length` and `next_payload` are recomputed by [`Message::encode`] for
    /// cleartext bodies).
    pub header: Header,
    /// Payloads or ciphertext.
    pub body: Body,
}

impl Message {
    /// Decodes a datagram (without a non-ESP marker). Encrypted bodies are returned as bytes.
    pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
        let header = Header::decode(buf)?;
        let rest = &buf[HEADER_LEN..];
        let body = if header.is_encrypted() {
            Body::Encrypted(rest.to_vec())
        } else {
            Body::Plain(decode_payloads(
                header.next_payload,
                rest,
                HEADER_LEN,
                Trailing::Forbidden,
            )?)
        };
        Ok(Message { header, body })
    }

    /// Encodes the message. For a cleartext body the header's next-payload and length are
    /// filled in; for an encrypted body the header's next-payload is kept as set by the caller.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(256);
        let mut h = self.header;
        self.header.encode(&mut out);
        match &self.body {
            Body::Plain(p) => {
                h.next_payload = encode_payloads(p, &mut out)?;
            }
            Body::Encrypted(c) => out.extend_from_slice(c),
        }
        if out.len() > MAX_MESSAGE_LEN {
            return Err(EncodeError::TooLong);
        }
        h.length = out.len() as u32;
        let mut hdr = Vec::with_capacity(HEADER_LEN);
        h.encode(&mut hdr);
        out[..HEADER_LEN].copy_from_slice(&hdr);
        Ok(out)
    }

    /// The payloads of a cleartext message (empty for an encrypted one).
    pub fn payloads(&self) -> &[Payload] {
        match &self.body {
            Body::Plain(p) => p,
            Body::Encrypted(_) => &[],
        }
    }
}

/// The 4-byte non-ESP marker that precedes IKE messages on UDP port 4500 (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// What a datagram received on UDP port 4500 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port4500<'a> {
    /// An IKE message, marker stripped.
    Ike(&'a [u8]),
    /// An ESP packet (starts with a non-zero SPI).
    Esp(&'a [u8]),
    /// A NAT-keepalive (the single byte 0xFF, RFC 3948 §2.3).
    Keepalive,
}

/// Classifies a UDP/4500 payload.
pub fn classify_port_4500(d: &[u8]) -> Result<Port4500<'_>, DecodeError> {
    if d == [0xff] {
        return Ok(Port4500::Keepalive);
    }
    if d.len() < 4 {
        return Err(DecodeError::new(0, ErrorKind::NotIke));
    }
    if d[..4] == NON_ESP_MARKER {
        Ok(Port4500::Ike(&d[4..]))
    } else {
        Ok(Port4500::Esp(d))
    }
}

/// Strips the non-ESP marker; `None` if the datagram does not start with it.
pub fn strip_non_esp_marker(d: &[u8]) -> Option<&[u8]> {
    d.strip_prefix(&NON_ESP_MARKER[..])
}

/// Prepends the non-ESP marker for sending on port 4500.
pub fn add_non_esp_marker(msg: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(msg.len() + 4);
    v.extend_from_slice(&NON_ESP_MARKER);
    v.extend_from_slice(msg);
    v
}
