//! IPsec transforms on byte slices, with no I/O, clock or RNG of their own:
//! ESP (RFC 4303) with every cipher and integrity algorithm the engine
//! offers over PF_KEY, AH (RFC 4302), IPComp (RFC 3173) and the anti-replay
//! window. The engine keeps one [`EspSa`] / [`AhSa`] / [`IpcompSa`] per
//! installed SA, built once from the keys (key schedules and HMAC pads are
//! precomputed there), and calls it per packet on its own buffers.

mod ah;
mod alg;
mod cipher;
mod esp;
mod integ;
mod ipcomp;
pub mod mbcbc;
mod replay;

pub use ah::{AhDecapsulated, AhParams, AhSa, IPPROTO_AH};
pub use alg::{AuthAlg, CompAlg, EncAlg};
pub use esp::{Decapsulated, Deferred, EspParams, EspSa, PadMode, Sealer};
pub use ipcomp::{IpcompSa, IPPROTO_COMP, MAX_DECOMPRESSED, MIN_COMPRESS_LEN};
pub use replay::{ReplayWindow, MAX_WINDOW};

/// Why a transform refused a packet or a key. Small and `Copy`: the engine
/// counts these per reason and drops the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XformError {
    /// The encryption algorithm number is not one we implement.
    #[error("unsupported encryption algorithm {0}")]
    UnsupportedEncryption(u8),
    /// The authentication algorithm number is not one we implement.
    #[error("unsupported authentication algorithm {0}")]
    UnsupportedAuthentication(u8),
    /// The compression algorithm number is not one we implement.
    #[error("unsupported compression algorithm {0}")]
    UnsupportedCompression(u8),
    /// A key of the wrong length for its algorithm.
    #[error("invalid key length {bits} bits for algorithm {alg}")]
    KeyLength {
        /// PF_KEY algorithm number.
        alg: u8,
        /// Key length given.
        bits: usize,
    },
    /// An AEAD cipher was combined with a separate integrity algorithm.
    #[error("combined-mode cipher with a separate authentication algorithm")]
    AeadWithAuth,
    /// The caller's buffer lacks headroom or tailroom.
    #[error("no room in the packet buffer")]
    NoRoom,
    /// The outbound sequence number space is used up; the SA must be replaced.
    #[error("sequence number space exhausted")]
    SeqExhausted,
    /// Shorter than the smallest packet the SA can produce.
    #[error("packet too short")]
    TooShort,
    /// A length field or the ciphertext length is inconsistent.
    #[error("bad length")]
    BadLength,
    /// The packet's SPI is not this SA's.
    #[error("wrong SPI")]
    WrongSpi,
    /// Replayed or too old for the window.
    #[error("replayed or outside the replay window")]
    Replay,
    /// ICV or AEAD tag mismatch.
    #[error("integrity check failed")]
    BadIcv,
    /// Pad length points outside the payload.
    #[error("bad padding")]
    BadPadding,
    /// The packet is not an IP packet we can process (AH/IPComp).
    #[error("malformed IP header")]
    BadIpHeader,
    /// Decompression failed or exceeded the size limit.
    #[error("decompression failed")]
    Decompress,
    /// A bug: an internal invariant did not hold.
    #[error("internal error: {0}")]
    Internal(&'static str),
}
