//! Sans-I/O IKEv1 core and its cryptography (DH, PRF, key derivation, IKE ciphers).
//!
//! [`Endpoint`] owns phase-1 SAs (by cookie pair) and their Quick Mode exchanges. The driver
//! feeds it datagrams ([`Endpoint::handle_datagram`]), PF_KEY messages
//! ([`Endpoint::handle_kernel`]) and time ([`Endpoint::handle_timeout`]), and drains
//! [`Endpoint::poll_transmit`], [`Endpoint::poll_kernel`], [`Endpoint::poll_event`] and
//! [`Endpoint::poll_timeout`]. No sockets, no clock, no RNG of its own.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod crypto;
mod endpoint;
pub mod error;
mod info;
pub mod kernel;
mod phase1;
mod phase2;
pub mod proposal;
pub mod rules;
pub mod spd;
pub mod types;

pub use endpoint::{
    Endpoint, Options, MAX_EARLY_QM, MAX_HALF_OPEN, MAX_NONCE, MAX_PH1, MAX_PH2, MAX_QUEUE,
};
pub use error::Error;
pub use phase1::{natt_vid, VID_DPD};
pub use types::{Event, Level, Phase1Info, Rng, Role, Transmit};

/// Entry points shared by the cargo-fuzz targets and the corpus-replay test.
#[doc(hidden)]
pub mod fuzz {
    /// Decodes `data` as a decrypted payload chain (first payload type in byte 0, the chain
    /// after it), checks it against every message rule and computes the HASH range, as the
    /// core does after decryption. Must never panic.
    pub fn decrypted_chain(data: &[u8]) {
        let Some((&first, body)) = data.split_first() else {
            return;
        };
        let first = isakmp::PayloadType(first);
        if let Ok(p) = isakmp::decode_payloads(first, body, 0, isakmp::Trailing::Padding) {
            use crate::rules::{check, MsgKind};
            for k in [
                MsgKind::MainSa,
                MsgKind::MainKe,
                MsgKind::MainAuth,
                MsgKind::AggrFirst,
                MsgKind::AggrSecond,
                MsgKind::AggrThird,
                MsgKind::QuickSa,
                MsgKind::QuickThird,
                MsgKind::Info,
            ] {
                let _ = check(k, &p, true);
            }
            for pl in &p {
                if let isakmp::Payload::Sa(sa) = pl {
                    let _ = crate::proposal::ph1_accept(sa, &[]);
                }
                if let isakmp::Payload::Id(id) = pl {
                    let _ = crate::spd::Sel::from_id(id);
                }
            }
        }
        if let Ok(r) = crate::endpoint::after_first(first, body) {
            assert!(r.start <= r.end && r.end <= body.len());
        }
    }
}
