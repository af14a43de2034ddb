//! Errors of the IKE core and the one place that decides what the peer is told.

use isakmp::NotifyType;

use crate::crypto::CryptoError;

/// Why a message or a negotiation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ISAKMP codec rejected the message.
    #[error("malformed message: {0}")]
    Decode(#[from] isakmp::DecodeError),
    /// A payload type not allowed in this message.
    #[error("payload {0} not allowed here")]
    InvalidPayloadType(u8),
    /// Required payload missing or too many of one kind.
    #[error("payload {0} missing or repeated")]
    PayloadCount(u8),
    /// Cleartext where encryption is required (or the reverse).
    #[error("message must be encrypted")]
    NotEncrypted,
    /// Peer did something the protocol does not allow.
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(&'static str),
    /// No acceptable proposal.
    #[error("no suitable proposal found")]
    NoProposalChosen,
    /// Malformed proposal (wrong protocol, bad attributes).
    #[error("bad proposal syntax")]
    BadProposalSyntax,
    /// A HASH payload did not verify (wrong pre-shared key in phase 1).
    #[error("authentication failed (HASH mismatch; bad pre-shared key?)")]
    AuthenticationFailed,
    /// A phase-2 HASH did not verify.
    #[error("invalid hash information")]
    InvalidHash,
    /// Unacceptable identity.
    #[error("invalid ID information")]
    InvalidId,
    /// Key exchange value rejected.
    #[error("invalid key information: {0}")]
    InvalidKey(CryptoError),
    /// No pre-shared key for the peer.
    #[error("couldn't find the pskey for {0}")]
    NoPsk(String),
    /// Nothing in the configuration fits.
    #[error("configuration: {0}")]
    Config(String),
    /// Decryption failed (wrong length).
    #[error("decryption failed")]
    Decrypt,
    /// A kernel (PF_KEY) operation failed.
    #[error("kernel: {0}")]
    Kernel(String),
    /// A limit was reached.
    #[error("limit reached: {0}")]
    Limit(&'static str),
    /// Message not expected in the current state.
    #[error("unexpected message in state {0}")]
    UnexpectedState(&'static str),
    /// The peer's certificate was not accepted (missing, chain, dates, revocation).
    #[error("invalid certificate: {0}")]
    InvalidCert(String),
    /// Signature authentication failed (SIG does not verify, identity does not match).
    #[error("signature authentication failed: {0}")]
    SigAuthFailed(String),
}

impl From<CryptoError> for Error {
    fn from(e: CryptoError) -> Self {
        Error::InvalidKey(e)
    }
}

impl Error {
    /// The notification we send the peer for this error, if any (the one place this is
    /// decided). Authentication failures and decryption failures are answered only where the
    /// peer can read the answer; garbage is never answered.
    pub fn notify(&self) -> Option<NotifyType> {
        Some(match self {
            Error::Decode(_) => NotifyType::PAYLOAD_MALFORMED,
            Error::InvalidPayloadType(_) => NotifyType::INVALID_PAYLOAD_TYPE,
            Error::PayloadCount(_) => NotifyType::PAYLOAD_MALFORMED,
            Error::NoProposalChosen => NotifyType::NO_PROPOSAL_CHOSEN,
            Error::BadProposalSyntax => NotifyType::BAD_PROPOSAL_SYNTAX,
            Error::AuthenticationFailed => NotifyType::AUTHENTICATION_FAILED,
            Error::InvalidHash => NotifyType::INVALID_HASH_INFORMATION,
            Error::InvalidId => NotifyType::INVALID_ID_INFORMATION,
            Error::InvalidKey(_) => NotifyType::INVALID_KEY_INFORMATION,
            Error::InvalidCert(_) => NotifyType::INVALID_CERTIFICATE,
            Error::SigAuthFailed(_) => NotifyType::AUTHENTICATION_FAILED,
            Error::NotEncrypted
            | Error::PeerMisbehaved(_)
            | Error::NoPsk(_)
            | Error::Config(_)
            | Error::Decrypt
            | Error::Kernel(_)
            | Error::Limit(_)
            | Error::UnexpectedState(_) => return None,
        })
    }
}

/// Result alias.
pub type Result<T, E = Error> = core::result::Result<T, E>;
