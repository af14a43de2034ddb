//! ISAKMP/IKEv1 wire format (RFC 2408/2407/2409, NAT-T): headers, payloads, attributes; no crypto state.
//!
//! Decoding is strict and bounded: every length is checked against its container through a
//! [`Reader`] whose `sub(len)` cannot reach past a declared length; counts the peer controls are
//! capped ([`MAX_PAYLOADS`], [`MAX_PROPOSALS`], [`MAX_TRANSFORMS`], [`MAX_ATTRIBUTES`],
//! [`MAX_DELETE_SPIS`], [`MAX_MESSAGE_LEN`]); errors are `Copy` and carry the absolute offset.
//! Wire enums are newtypes with named constants so unknown values round-trip.
//!
//! Encrypted messages: [`Message::decode`] returns the ciphertext in [`Body::Encrypted`]; after
//! decryption call [`decode_payloads`] with the header's next-payload, `base = HEADER_LEN` and
//! [`Trailing::Padding`].
//!
//! SA and ID payloads keep their received body bytes in `raw` for the HASH computations.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attr;
pub mod codec;
pub mod error;
pub mod frag;
pub mod message;
pub mod payload;
pub mod types;

pub use attr::{
    AhTransformId, AttrError, AttrValue, Attribute, AuthAlgorithm, AuthMethod, EncapsulationMode,
    EncryptionAlgorithm, EspTransformId, GroupDescription, HashAlgorithm, IkeAttrType, IkeAttrs,
    IpcompTransformId, IpsecAttrType, IpsecAttrs, LifeType, Lifetime, KEY_IKE,
};
pub use codec::{LengthPatch, Reader};
pub use error::{DecodeError, EncodeError, ErrorKind};
pub use message::{
    add_non_esp_marker, classify_port_4500, decode_payloads, encode_payloads, strip_non_esp_marker,
    Body, Header, Message, PayloadIter, Port4500, Trailing, HEADER_LEN, NON_ESP_MARKER,
    VERSION_1_0,
};
pub use payload::{
    ConfigAttributes, Delete, IdValue, Identification, Notify, Payload, Proposal, Sa, Transform,
    SIT_IDENTITY_ONLY,
};
pub use types::{
    CertEncoding, CfgAttrType, CfgType, Doi, ExchangeType, Flags, IdType, NotifyType, PayloadType,
    ProtocolId,
};

/// Largest message accepted or produced (a UDP datagram's payload cannot be larger).
pub const MAX_MESSAGE_LEN: usize = 65535;
/// Most payloads in one message (Cisco peers send a dozen vendor IDs; 64 is generous).
pub const MAX_PAYLOADS: usize = 64;
/// Most proposals in one SA payload.
pub const MAX_PROPOSALS: usize = 64;
/// Most transforms in one proposal.
pub const MAX_TRANSFORMS: usize = 64;
/// Most attributes in one transform or ATTR payload.
pub const MAX_ATTRIBUTES: usize = 64;
/// Most SPIs in one delete payload.
pub const MAX_DELETE_SPIS: usize = 1024;

/// Entry points shared by the cargo-fuzz targets and the corpus-replay test.
#[doc(hidden)]
pub mod fuzz {
    use crate::{
        classify_port_4500, decode_payloads, Body, IkeAttrs, IpsecAttrs, Message, Payload,
        Port4500, Trailing, HEADER_LEN,
    };

    /// Decodes `data` as a datagram (also as a port-4500 datagram and as a decrypted body);
    /// whatever decodes must re-encode to something that decodes to the same value.
    pub fn message(data: &[u8]) {
        if let Ok(Port4500::Ike(m)) = classify_port_4500(data) {
            let _ = Message::decode(m);
        }
        if let Ok(m) = Message::decode(data) {
            let bytes = m.encode().expect("decoded message re-encodes");
            let again = Message::decode(&bytes).expect("re-encoded message decodes");
            assert_eq!(strip_raw(again), strip_raw(m.clone()));
            for p in m.payloads() {
                if let Payload::Sa(sa) = p {
                    for t in sa.proposals.iter().flat_map(|p| &p.transforms) {
                        if let Ok(a) = IkeAttrs::parse(&t.attributes) {
                            assert_eq!(IkeAttrs::parse(&a.to_attributes()), Ok(a));
                        }
                        if let Ok(a) = IpsecAttrs::parse(&t.attributes) {
                            assert_eq!(IpsecAttrs::parse(&a.to_attributes()), Ok(a));
                        }
                    }
                }
            }
        }
        if data.len() > HEADER_LEN {
            let _ = decode_payloads(
                crate::PayloadType(data[16]),
                &data[HEADER_LEN..],
                HEADER_LEN,
                Trailing::Padding,
            );
        }
    }

    /// Clears the `raw` fields (which re-encoding legitimately changes when attributes were
    /// sent in a non-canonical way) so two decodes can be compared.
    pub fn strip_raw(mut m: Message) -> Message {
        if let Body::Plain(ps) = &mut m.body {
            for p in ps {
                match p {
                    Payload::Sa(sa) => sa.raw.clear(),
                    Payload::Id(id) => id.raw.clear(),
                    _ => {}
                }
            }
        }
        m.header.length = 0;
        m
    }
}
