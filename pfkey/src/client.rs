//! A small blocking client for the project's PF_KEY socket: a unix-domain
//! `SOCK_SEQPACKET` socket carrying one PF_KEY message per packet.
//!
//! ```no_run
//! use pfkey::{client::Client, Message, MsgType, SaType};
//! let c = Client::connect(&pfkey::socket_path(None)).unwrap();
//! c.set_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
//! c.send(&Message::new(MsgType::REGISTER, SaType::ESP).with_seq(1)).unwrap();
//! let reply = c.recv().unwrap();
//! println!("{:?}", reply.supported_encrypt());
//! ```

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use socket2;
use socket2::{Domain, SockAddr, Socket, Type};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{DecodeError, EncodeError};
use crate::layout::MAX_MSG_LEN;
use crate::message::{DecodeOptions, Message};

/// Where the PF_KEY socket lives unless configured otherwise.
pub const DEFAULT_SOCKET_PATH: &str = "/run/racoon-rs/pfkey.sock";
/// Environment variable naming the PF_KEY socket path.
pub const SOCKET_ENV: &str = "PFKEY_SOCKET";

/// The socket path to use: the command-line value if given, else
/// `$PFKEY_SOCKET` if set and non-empty, else [`DEFAULT_SOCKET_PATH`].
pub fn socket_path(cli: Option<&Path>) -> PathBuf {
    if let Some(p) = cli {
        return p.to_path_buf();
    }
    match std::env::var_os(SOCKET_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_SOCKET_PATH),
    }
}

/// Client-side failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Socket I/O failed (a receive timeout shows up as `WouldBlock`/`TimedOut`).
    #[error("PF_KEY socket: {0}")]
    Io(#[from] io::Error),
    /// The message could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A received packet is not a valid message.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A received packet was larger than the configured cap.
    #[error("received packet larger than {0} bytes")]
    TooBig(usize),
    /// The peer closed the connection.
    #[error("PF_KEY socket closed by peer")]
    Closed,
    /// Only part of a packet was sent.
    #[error("short send")]
    ShortSend,
}

impl ClientError {
    /// True if this is a receive timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Io(e)
            if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}

/// A connected PF_KEY client socket (blocking).
#[derive(Debug)]
pub struct Client {
    sock: Socket,
    max_len: usize,
    opts: DecodeOptions,
}

impl Client {
    /// Connect to the `SOCK_SEQPACKET` socket at `path`.
    pub fn connect(path: &Path) -> io::Result<Client> {
        let sock = Socket::new(Domain::UNIX, Type::SEQPACKET, None)?;
        sock.connect(&SockAddr::unix(path)?)?;
        Ok(Client::from_socket(sock))
    }

    /// Wrap an already connected `SOCK_SEQPACKET` socket.
    pub fn from_socket(sock: Socket) -> Client {
        Client {
            sock,
            max_len: MAX_MSG_LEN,
            opts: DecodeOptions::STRICT,
        }
    }

    /// A connected pair of clients (`socketpair`), handy for in-process tests.
    pub fn pair() -> io::Result<(Client, Client)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::SEQPACKET, None)?;
        Ok((Client::from_socket(a), Client::from_socket(b)))
    }

    /// The underlying socket.
    pub fn socket(&self) -> &Socket {
        &self.sock
    }

    /// Receive timeout (`None` = block forever).
    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(t)?;
        self.sock.set_write_timeout(t)
    }

    /// Largest packet accepted by `recv` (default and maximum: 65535 × 8 bytes).
    pub fn set_max_len(&mut self, n: usize) {
        self.max_len = n.min(MAX_MSG_LEN);
    }

    /// Decode options used by [`Client::recv`] (default strict).
    pub fn set_decode_options(&mut self, opts: DecodeOptions) {
        self.opts = opts;
    }

    /// Encode and send one message as one packet.
    pub fn send(&self, msg: &Message) -> Result<(), ClientError> {
        // The encoding may hold key material: wipe it after sending.
        let buf = Zeroizing::new(msg.encode()?);
        self.send_raw(&buf)
    }

    /// Send raw bytes as one packet.
    pub fn send_raw(&self, buf: &[u8]) -> Result<(), ClientError> {
        let n = self.sock.send(buf)?;
        if n != buf.len() {
            return Err(ClientError::ShortSend);
        }
        Ok(())
    }

    /// Receive one packet (at most the size cap) without decoding it.
    ///
    /// The packet may contain key material (GET replies); the scratch buffer
    /// is wiped, the returned copy is the caller's to wipe.
    pub fn recv_raw(&self) -> Result<Vec<u8>, ClientError> {
        // One byte more than the cap: a packet that fills it was too big
        // (SOCK_SEQPACKET discards the rest of a truncated packet).
        let mut scratch = vec![0u8; self.max_len + 1];
        let n = (&self.sock).read(&mut scratch)?;
        let used = scratch.get_mut(..n).unwrap_or_default();
        let out = used.to_vec();
        used.zeroize();
        if n == 0 {
            return Err(ClientError::Closed);
        }
        if n > self.max_len {
            return Err(ClientError::TooBig(self.max_len));
        }
        Ok(out)
    }

    /// Receive and decode one message (the raw bytes are wiped afterwards).
    pub fn recv(&self) -> Result<Message, ClientError> {
        let buf = Zeroizing::new(self.recv_raw()?);
        Ok(Message::decode_with(&buf, self.opts)?)
    }

    /// Send `msg`, then receive until a message with the same type, seq and
    /// pid arrives (other messages — broadcasts — are skipped, at most
    /// `max_skip` of them). A reply with `errno` set is returned as is.
    pub fn request(&self, msg: &Message, max_skip: usize) -> Result<Message, ClientError> {
        self.send(msg)?;
        let h = msg.header;
        for _ in 0..=max_skip {
            let r = self.recv()?;
            if r.header.msg_type == h.msg_type && r.header.seq == h.seq && r.header.pid == h.pid {
                return Ok(r);
            }
        }
        Err(ClientError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "no matching PF_KEY reply",
        )))
    }
}
