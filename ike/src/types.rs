//! Public types of the core: transmits, events, admin views, randomness.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand_core::{CryptoRng, CryptoRngCore, RngCore};
use zeroize::Zeroizing;

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Our address and port to send from (500 or the NAT-T port).
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// The ISAKMP message (or the single 0xFF NAT-keepalive byte).
    pub data: Vec<u8>,
    /// Prefix `data` with the 4-byte non-ESP marker (IKE on the NAT-T port); never set for
    /// keepalives.
    pub non_esp_marker: bool,
}

/// Initiator or responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the first message.
    Initiator,
    /// The peer did.
    Responder,
}

/// Log level of an [`Event::Log`].
pub type Level = conf::LogLevel;

/// What the core reports to the driver (logs, admin socket, hooks).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A log line with racoon's text.
    Log {
        /// Level.
        level: Level,
        /// The peer concerned.
        peer: Option<IpAddr>,
        /// Text.
        text: String,
    },
    /// A phase-1 SA is established.
    Phase1Established {
        /// Local endpoint.
        local: SocketAddr,
        /// Remote endpoint.
        remote: SocketAddr,
        /// Initiator cookie.
        icookie: [u8; 8],
        /// Responder cookie.
        rcookie: [u8; 8],
        /// Our role.
        role: Role,
    },
    /// A phase-1 SA went away.
    Phase1Deleted {
        /// Remote endpoint.
        remote: SocketAddr,
        /// Initiator cookie.
        icookie: [u8; 8],
        /// Responder cookie.
        rcookie: [u8; 8],
    },
    /// A phase-1 negotiation failed.
    Phase1Failed {
        /// Remote endpoint.
        remote: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A phase-2 SA pair is installed.
    Phase2Established {
        /// Remote IKE endpoint.
        remote: SocketAddr,
        /// SA type.
        satype: pfkey::SaType,
        /// Our inbound SPI.
        spi_in: u32,
        /// Our outbound SPI.
        spi_out: u32,
    },
    /// A phase-2 SA pair was deleted.
    Phase2Deleted {
        /// Remote IKE endpoint.
        remote: SocketAddr,
        /// Inbound SPI.
        spi_in: u32,
        /// Outbound SPI.
        spi_out: u32,
    },
    /// A phase-2 negotiation failed.
    Phase2Failed {
        /// Remote IKE endpoint.
        remote: SocketAddr,
        /// Why.
        reason: String,
    },
    /// DPD declared the peer dead.
    PeerDead {
        /// Remote endpoint.
        remote: SocketAddr,
    },
    /// Key material for the debug key log (only emitted when [`crate::Options::key_log`]
    /// is set; never logged otherwise).
    KeyLog(KeyLog),
}

/// Key material for a debug key log (Wireshark's IKEv1 decryption table and ESP SA table).
#[derive(Clone, PartialEq, Eq)]
pub enum KeyLog {
    /// A phase-1 SA: initiator cookie and the encryption key Ka.
    Ike {
        /// Initiator cookie.
        icookie: [u8; 8],
        /// Ka.
        enc_key: Zeroizing<Vec<u8>>,
    },
    /// One ESP/AH SA.
    Esp {
        /// SPI.
        spi: u32,
        /// SA source.
        src: IpAddr,
        /// SA destination.
        dst: IpAddr,
        /// Encryption algorithm (PF_KEY name, e.g. `aes-cbc`).
        enc_alg: String,
        /// Encryption key (incl. salt for GCM/CTR).
        enc_key: Zeroizing<Vec<u8>>,
        /// Authentication algorithm (PF_KEY name, e.g. `hmac-sha1`).
        auth_alg: String,
        /// Authentication key.
        auth_key: Zeroizing<Vec<u8>>,
    },
}

impl core::fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyLog::Ike { icookie, .. } => write!(f, "KeyLog::Ike({icookie:02x?}, <redacted>)"),
            KeyLog::Esp { spi, src, dst, .. } => {
                write!(f, "KeyLog::Esp({spi:#x} {src}->{dst}, <redacted>)")
            }
        }
    }
}

/// A phase-1 SA as the admin socket lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase1Info {
    /// Local endpoint.
    pub local: SocketAddr,
    /// Remote endpoint.
    pub remote: SocketAddr,
    /// Initiator cookie.
    pub icookie: [u8; 8],
    /// Responder cookie (zero until known).
    pub rcookie: [u8; 8],
    /// State name.
    pub state: &'static str,
    /// Our role.
    pub role: Role,
    /// Created at.
    pub created: Instant,
    /// Phase-2 exchanges run under it.
    pub ph2_count: u32,
    /// Aggressive Mode (else Main Mode).
    pub aggressive: bool,
}

/// The randomness the core uses (a seedable RNG in tests).
pub trait Rng: RngCore + CryptoRng + Send {}
impl<T: RngCore + CryptoRng + Send> Rng for T {}

/// Adapts `&mut dyn CryptoRngCore` to the generic bounds of the crypto layer.
pub(crate) struct RngRef<'a>(pub &'a mut dyn CryptoRngCore);

impl RngCore for RngRef<'_> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        self.0.fill_bytes(d)
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.try_fill_bytes(d)
    }
}
impl CryptoRng for RngRef<'_> {}
