//! PF_KEY v2 (RFC 2367 + KAME/Linux extensions): typed messages, codec, client transport.
//!
//! * [`Message`] — an owned message: [`Header`] plus [`Extension`]s in wire
//!   order, with typed accessors and a builder style; [`Message::encode`]
//!   computes every length and all padding, [`Message::decode`] validates
//!   everything a hostile sender could get wrong and never panics.
//! * [`consts`] — wire enumerations as newtypes with named constants
//!   ([`MsgType::ADD`], [`SaType::ESP`], [`ExtType::SA`], …) so unknown values
//!   round-trip; `name()` gives the words `setkey` prints.
//! * [`layout`] — the ABI-dependent parts (Linux `sockaddr`, extension numbering).
//!   Byte order per field is documented there and on every struct field.
//! * [`client`] — a small blocking client for the project's unix
//!   `SOCK_SEQPACKET` PF_KEY socket.
//!
//! The codec does no I/O and reads no clock or RNG.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod consts;
pub mod error;
pub mod ext;
#[doc(hidden)]
pub mod fuzzing;
pub mod layout;
mod message;

pub use client::{socket_path, Client, ClientError, DEFAULT_SOCKET_PATH, SOCKET_ENV};
pub use consts::*;
pub use error::{CheckError, DecodeError, DecodeErrorKind, EncodeError};
pub use ext::*;
pub use layout::{Layout, SockaddrError};
pub use message::{DecodeOptions, Header, Message};
