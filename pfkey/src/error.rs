//! Typed errors for decoding, encoding and checking PF_KEY messages.

use crate::consts::{ExtType, MsgType, SaType};
use crate::layout::SockaddrError;

/// What was wrong with a message; see [`DecodeError`] for where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// Fewer bytes than a structure needs (buffer shorter than the header, or
    /// shorter than `sadb_msg_len` says).
    #[error("truncated message")]
    Truncated,
    /// More bytes than `sadb_msg_len` says (trailing garbage).
    #[error("trailing bytes after the message")]
    Overlong,
    /// Buffer length not a multiple of 8.
    #[error("message length not a multiple of 8")]
    Misaligned,
    /// `sadb_msg_len` smaller than the header itself.
    #[error("header length field too small")]
    BadMsgLen,
    /// `sadb_msg_version` is not 2.
    #[error("unsupported version {0}")]
    BadVersion(u8),
    /// An extension length of zero.
    #[error("zero extension length")]
    ZeroExtLen,
    /// An extension runs past the end of the message.
    #[error("extension runs past the end of the message")]
    ExtPastEnd,
    /// An extension's length does not fit its type's layout.
    #[error("bad length for extension {0:?}")]
    BadExtLen(ExtType),
    /// An extension type present twice.
    #[error("duplicate extension {0:?}")]
    DuplicateExt(ExtType),
    /// An extension type this crate does not know (strict mode).
    #[error("unknown extension type {0:?}")]
    UnknownExt(ExtType),
    /// A sockaddr could not be read.
    #[error("bad sockaddr: {0}")]
    BadSockaddr(SockaddrError),
    /// Prefix length larger than the address size.
    #[error("prefix length {0} too long for the address family")]
    BadPrefixLen(u8),
    /// A key's `sadb_key_bits` needs more bytes than the extension holds.
    #[error("key bits exceed the extension")]
    BadKeyLen,
    /// An `sadb_x_ipsecrequest` length below 16, past the policy's end, or not a multiple of 8.
    #[error("bad ipsecrequest length")]
    BadRequestLen,
    /// Tunnel endpoints (or KMADDRESS addresses) of different families.
    #[error("tunnel endpoint family mismatch")]
    EndpointFamilyMismatch,
    /// SRC and DST addresses of different families.
    #[error("src/dst address family mismatch")]
    FamilyMismatch,
    /// SRC and DST addresses with different upper-layer protocols.
    #[error("src/dst upper-layer protocol mismatch")]
    ProtoMismatch,
}

/// A decoding failure: what, and at which byte offset of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("PF_KEY decode error at offset {offset}: {kind}")]
pub struct DecodeError {
    /// Byte offset into the decoded buffer where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    pub(crate) const fn new(offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError { offset, kind }
    }

    /// The errno a KAME/Linux kernel answers for such a message (always `EINVAL`).
    pub const fn errno(&self) -> i32 {
        libc::EINVAL
    }
}

/// An encoding failure: the message cannot be represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The whole message is longer than 65535 × 8 bytes.
    #[error("message too long")]
    MessageTooLong,
    /// One extension is longer than 65535 × 8 bytes.
    #[error("extension {0:?} too long")]
    ExtTooLong(ExtType),
    /// A field's count does not fit its wire width (e.g. a sensitivity bitmap
    /// over 255 words, a security context over 65535 bytes, an ipsecrequest
    /// over 65535 bytes).
    #[error("field of extension {0:?} too long for its length field")]
    FieldTooLong(ExtType),
    /// Tunnel endpoints or KMADDRESS addresses of different families.
    #[error("address family mismatch in extension {0:?}")]
    FamilyMismatch(ExtType),
}

/// A semantic problem found by [`crate::Message::check`] (libipsec `pfkey_check`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// `sadb_msg_version` is not 2.
    #[error("unsupported version {0}")]
    BadVersion(u8),
    /// Message type 0 or above `SADB_MAX`.
    #[error("invalid message type {0:?}")]
    BadMsgType(MsgType),
    /// The satype is not allowed with this message type.
    #[error("satype {satype:?} not allowed in {msg_type:?}")]
    SaTypeMisuse {
        /// The message type.
        msg_type: MsgType,
        /// The offending satype.
        satype: SaType,
    },
    /// RSVP, OSPFv2, RIPv2, MIP: recognised but not supported.
    #[error("satype {0:?} not supported")]
    SaTypeNotSupported(SaType),
    /// SRC and DST families differ.
    #[error("src/dst address family mismatch")]
    FamilyMismatch,
    /// SRC and DST upper-layer protocols differ.
    #[error("src/dst upper-layer protocol mismatch")]
    ProtoMismatch,
}

impl CheckError {
    /// The errno libipsec/KAME associate with the problem.
    pub const fn errno(&self) -> i32 {
        match self {
            CheckError::SaTypeNotSupported(_) => libc::EOPNOTSUPP,
            _ => libc::EINVAL,
        }
    }
}
