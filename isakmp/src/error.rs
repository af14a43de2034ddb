//! Decode and encode errors: small, `Copy`, with the absolute byte offset of the problem.

/// What went wrong while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before a field or a declared length.
    #[error("truncated")]
    Truncated,
    /// Bytes were left over after a structure that must fill its container.
    #[error("trailing data")]
    TrailingData,
    /// The ISAKMP header's length field disagrees with the datagram (or is below 28).
    #[error("bad message length")]
    BadMessageLength,
    /// A generic payload header declared a length below 4 or past its container.
    #[error("bad payload length")]
    BadPayloadLength,
    /// A proposal or transform header declared an impossible length.
    #[error("bad proposal or transform length")]
    BadSubstructureLength,
    /// The number of transforms in a proposal disagrees with its declared count.
    #[error("transform count mismatch")]
    TransformCountMismatch,
    /// A proposal chain contains something other than proposals, or a transform chain
    /// something other than transforms.
    #[error("unexpected payload inside an SA")]
    BadSubstructureType,
    /// The major version is not 1 (IKEv1).
    #[error("unsupported ISAKMP version")]
    UnsupportedVersion,
    /// The message exceeds [`crate::MAX_MESSAGE_LEN`].
    #[error("message too large")]
    MessageTooLarge,
    /// More payloads than [`crate::MAX_PAYLOADS`].
    #[error("too many payloads")]
    TooManyPayloads,
    /// More proposals than [`crate::MAX_PROPOSALS`].
    #[error("too many proposals")]
    TooManyProposals,
    /// More transforms than [`crate::MAX_TRANSFORMS`].
    #[error("too many transforms")]
    TooManyTransforms,
    /// More attributes than [`crate::MAX_ATTRIBUTES`].
    #[error("too many attributes")]
    TooManyAttributes,
    /// A delete payload whose SPI count and size do not fill the payload exactly.
    #[error("bad SPI count or size")]
    BadSpi,
    /// An ID payload whose data length does not fit its type (IPv4 address must be 4 bytes ...).
    #[error("bad identification data length")]
    BadIdLength,
    /// A NAT-OA payload that is neither an IPv4 nor an IPv6 address.
    #[error("bad NAT-OA payload")]
    BadNatOa,
    /// An SA payload with a situation this codec does not support (secrecy/integrity labels).
    #[error("unsupported situation")]
    UnsupportedSituation,
    /// A UDP/4500 datagram that is neither IKE (non-ESP marker), ESP nor a keepalive.
    #[error("not an IKE message")]
    NotIke,
}

/// A decode error: where (absolute byte offset) and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ISAKMP decode error at offset {offset}: {kind}")]
pub struct DecodeError {
    /// Offset from the start of the message (or of the buffer handed to the decoder).
    pub offset: usize,
    /// What was wrong.
    pub kind: ErrorKind,
}

impl DecodeError {
    /// Constructs an error.
    pub fn new(offset: usize, kind: ErrorKind) -> Self {
        DecodeError { offset, kind }
    }
}

/// Errors when building a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message would exceed [`crate::MAX_MESSAGE_LEN`] bytes (or a field its width).
    #[error("message too long")]
    TooLong,
    /// A count field (SPIs, transforms) does not fit its width, or an SPI size is inconsistent.
    #[error("field out of range")]
    OutOfRange,
}
