//! Sans-I/O IKEv1 core and its cryptography (DH, PRF, key derivation, IKE ciphers).
//!
//! [`Endpoint`] owns phase-1 SAs (by cookie pair) and their Quick Mode exchanges. The driver
//! feeds it datagrams ([`Endpoint::handle_datagram`], without the non-ESP marker), PF_KEY
//! messages ([`Endpoint::handle_kernel`]: replies, ACQUIRE, EXPIRE, X_SPD* broadcasts) and
//! time ([`Endpoint::handle_timeout`]), and drains [`Endpoint::poll_transmit`] (a
//! [`Transmit`] says whether the non-ESP marker must be prefixed), [`Endpoint::poll_kernel`],
//! [`Endpoint::poll_event`] and [`Endpoint::poll_timeout`]. No sockets, no clock, no RNG of
//! its own: randomness comes from the boxed `CryptoRngCore` given to [`Endpoint::new`].
//!
//! Inbound pipeline: header → phase 1 by cookies (a new responder only for a cleartext
//! first message) → retransmitted request (same datagram as last time: the stored reply is
//! resent) → decryption with a staged IV → payload chain → the message rule table
//! ([`rules`]) → the typed state handler (`MainI`/`MainR`/`AggrI`/`AggrR`,
//! `QuickI`/`QuickR`) → the IV is committed only after the handler accepted the message.
//!
//! What racoon does and this core does too: REGISTER + X_SPDDUMP at start and a private SPD
//! image; ACQUIRE → remote/sainfo selection → phase 1 (first `exchange_mode`) → GETSPI →
//! QM1 → QM2 → UPDATE+ADD → QM3 (initiator), QM1 → GETSPI → QM2 → QM3 → UPDATE+ADD +
//! generated policies (responder); SA contents of racoon-setkey.md §5 (replay 4, SA2
//! mode+reqid, hard = negotiated lifetime, soft = 80 %, NAT-T type and ports); failed
//! negotiations answer the ACQUIRE with ENOENT and DELETE their larval (GETSPI) SAs;
//! `proposal_check` levels for both phases;
//! RESPONDER-LIFETIME; NAT-T (RFC 3947 and drafts 00-03, NAT-D with the negotiated hash, float
//! to the NAT-T port at MM5/AM3, UDP encapsulation modes 3/4 or 61443/61444, keepalives when
//! we are behind the NAT); DPD (RFC 3706); INITIAL-CONTACT (sent once per peer, acted on by
//! a DUMP and DELETEs and by dropping the peer's phase 1s established before the notifying one
//! began); DELETE payloads both ways; phase-2 rekey on soft EXPIRE (initiator);
//! phase-1 rekey (`rekey force`, or `rekey on` with DPD): "dying" at 80 % with a new
//! phase 1 started by the initiator when phase 2s exist, deletion at 100 %.
//!
//! Phase-1 authentication: pre-shared keys and `rsasig` (X.509 certificates or plain_rsa
//! keys, supplied by the driver as [`Credentials`] through [`Endpoint::set_credentials`]; the
//! order of the checks is in [`creds`]).
//!
//! Quick Mode honours the commit bit both ways (responder: CONNECTED as QM4 after installing;
//! initiator: installs only on a verified CONNECTED) and carries NAT-OAi/NAT-OAr in transport
//! mode under NAT-T (into the SAs as `X_NAT_T_OA`). Inbound and outbound SAs take the reqid of
//! the inbound and the outbound policy (racoon's reqid_in/reqid_out).
//!
//! Deviations and limits (see also the report of issue 6): no DSS, RSA-encryption, GSSAPI or
//! hybrid/XAUTH methods; we never set the commit bit ourselves (racoon has no setting for
//! it); retransmission intervals double (capped at
//! 60 s) rather than staying fixed; a datagram that does not decrypt never ends an SA (it
//! is logged as a probable wrong pre-shared key, and a phase-1 one is answered with a
//! cleartext AUTHENTICATION-FAILED, where racoon stays silent); unauthenticated notifies and
//! deletes are only logged (CVE-2004-0164); an error notify under a verified HASH(1) before
//! phase 1 completes ends that phase 1. Every peer-controlled quantity is capped ([`MAX_PH1`],
//! [`MAX_HALF_OPEN`], [`MAX_PH2`], [`MAX_QUEUE`], [`MAX_EARLY_QM`], [`MAX_NONCE`], and the
//! codec's own limits).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
pub mod creds;
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

pub use creds::{Credentials, RemoteCreds, Signer};
pub use endpoint::{
    Endpoint, Options, MAX_EARLY_QM, MAX_HALF_OPEN, MAX_NONCE, MAX_PH1, MAX_PH2, MAX_QUEUE,
};
pub use error::Error;
pub use phase1::{natt_vid, VID_DPD};
pub use types::{Event, KeyLog, Level, Phase1Info, Rng, Role, Transmit};

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

    /// Splits `data` into datagrams (2-byte big-endian length prefixes) and feeds them to a
    /// responder endpoint with a fixed configuration, then runs its timers. Must never panic.
    pub fn datagram(data: &[u8]) {
        use std::time::{Duration, Instant};
        let cfg = conf::parse(
            "remote anonymous { exchange_mode main, aggressive; generate_policy on; \
             nat_traversal on; ike_frag on; dpd_delay 5; proposal { encryption_algorithm aes; \
             hash_algorithm sha1; authentication_method pre_shared_key; dh_group modp768; } \
             proposal { encryption_algorithm aes; hash_algorithm sha1; \
             authentication_method rsasig; dh_group modp768; } }\n\
             sainfo anonymous { encryption_algorithm aes; authentication_algorithm hmac_sha1; \
             compression_algorithm deflate; }\n",
            "fuzz.conf",
        );
        let Ok(cfg) = cfg else { return };
        let psk = conf::parse_psk("* fuzzkey\n").unwrap_or_default();
        let rng = Box::new(Lcg(0x1234_5678));
        let mut ep = crate::Endpoint::new(cfg.config, psk, crate::Options::default(), rng);
        let t0 = Instant::now();
        let local = "192.0.2.2:500".parse().unwrap_or_else(|_| unreachable!());
        let remote = "192.0.2.1:500".parse().unwrap_or_else(|_| unreachable!());
        let mut rest = data;
        let mut i = 0u64;
        while rest.len() >= 2 {
            let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
            let (d, r) = rest[2..].split_at(n);
            rest = r;
            i += 1;
            ep.handle_datagram(t0 + Duration::from_secs(i), local, remote, d);
            while ep.poll_transmit().is_some() {}
            while let Some(m) = ep.poll_kernel() {
                let _ = m.encode();
            }
        }
        ep.handle_timeout(t0 + Duration::from_secs(3600));
        while ep.poll_event().is_some() {}
    }

    /// A deterministic generator for fuzzing only (not cryptographically secure).
    struct Lcg(u64);
    impl rand_core::RngCore for Lcg {
        fn next_u32(&mut self) -> u32 {
            (self.next_u64() >> 32) as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0
        }
        fn fill_bytes(&mut self, d: &mut [u8]) {
            for b in d {
                *b = self.next_u64() as u8;
            }
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(d);
            Ok(())
        }
    }
    impl rand_core::CryptoRng for Lcg {}
}
