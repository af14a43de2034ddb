//! Kernel access: one PF_KEY interface, two backends.
//!
//! * **Embedded** (default): the engine runs in this process
//!   ([`engine::io::Engine::spawn`]); racoon talks to it through an
//!   in-process client, and the engine still serves its PF_KEY unix socket
//!   so `setkey` and other clients work.
//! * **External** (`--no-embedded-engine`): racoon is one more client of a
//!   standalone `ipsecd`'s unix socket (`--pfkey-socket PATH`, or
//!   `$PFKEY_SOCKET`, or the default path).
//!
//! Either way the driver gets a [`Link`]: a sender and a receiver of
//! [`Message`]s, served by a background task.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pfkey::{Message, MsgType};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_seqpacket::UnixSeqpacket;
use tracing::{debug, warn};

/// Messages buffered each way.
const QUEUE: usize = 4096;
/// Largest PF_KEY message.
const MAX_MSG: usize = 0xffff * 8;

/// Why the kernel could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("cannot start the embedded engine: {0}")]
    Engine(#[from] engine::io::Error),
    #[error("cannot connect to the PF_KEY socket {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("the PF_KEY connection closed")]
    Closed,
    #[error("no reply to {0} from the kernel")]
    Timeout(&'static str),
}

/// A PF_KEY connection as two channels.
pub struct Link {
    pub tx: mpsc::Sender<Message>,
    pub rx: mpsc::Receiver<Message>,
    task: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Link {
    /// A client of the embedded engine.
    pub fn in_process(engine: &engine::io::EngineHandle) -> Result<Link, KernelError> {
        let mut client = engine.connect(QUEUE)?;
        let (tx, mut out_rx) = mpsc::channel::<Message>(QUEUE);
        let (in_tx, rx) = mpsc::channel::<Message>(QUEUE);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    m = client.recv() => match m {
                        Some(m) => if in_tx.send(m).await.is_err() { break },
                        None => break,
                    },
                    m = out_rx.recv() => match m {
                        Some(m) => if client.send(m).await.is_err() { break },
                        None => break,
                    },
                }
            }
            debug!("in-process PF_KEY link closed");
        });
        Ok(Link { tx, rx, task })
    }

    /// A client of a PF_KEY unix socket (standalone `ipsecd`, or the
    /// embedded engine's own socket).
    pub async fn socket(path: &Path) -> Result<Link, KernelError> {
        let sock = UnixSeqpacket::connect(path)
            .await
            .map_err(|source| KernelError::Connect {
                path: path.display().to_string(),
                source,
            })?;
        let sock = Arc::new(sock);
        let (tx, mut out_rx) = mpsc::channel::<Message>(QUEUE);
        let (in_tx, rx) = mpsc::channel::<Message>(QUEUE);
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_MSG + 1];
            loop {
                tokio::select! {
                    r = sock.recv(&mut buf) => match r.map(|i| i.bytes_read()) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => match Message::decode_lenient(&buf[..n.min(MAX_MSG)]) {
                            Ok(m) => if in_tx.send(m).await.is_err() { break },
                            Err(e) => warn!("undecodable PF_KEY message ({n} bytes): {e}"),
                        },
                    },
                    m = out_rx.recv() => match m {
                        Some(m) => match m.encode() {
                            Ok(b) => if let Err(e) = sock.send(&b).await {
                                warn!("PF_KEY send: {e}");
                                break;
                            },
                            Err(e) => warn!("cannot encode PF_KEY {:?}: {e}", m.header.msg_type),
                        },
                        None => break,
                    },
                }
            }
            debug!("PF_KEY socket link closed");
        });
        Ok(Link { tx, rx, task })
    }

    pub async fn send(&self, m: Message) -> Result<(), KernelError> {
        self.tx.send(m).await.map_err(|_| KernelError::Closed)
    }

    /// Send `req` and collect its reply: one message of the same type and
    /// seq, or for DUMP/X_SPDDUMP every message up to seq 0 (or an error
    /// reply). Other messages received meanwhile go to `others` (bounded).
    pub async fn request(
        &mut self,
        req: Message,
        wait: Duration,
        others: &mut Vec<Message>,
    ) -> Result<Vec<Message>, KernelError> {
        let (t, seq, pid) = (req.header.msg_type, req.header.seq, req.header.pid);
        let dump = matches!(t, MsgType::DUMP | MsgType::X_SPDDUMP);
        let name = t.name().unwrap_or("request");
        self.send(req).await?;
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            let m = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => m,
                Ok(None) => return Err(KernelError::Closed),
                Err(_) => return Err(KernelError::Timeout(name)),
            };
            let h = m.header;
            let mine = h.msg_type == t && h.pid == pid && (dump || h.seq == seq);
            if !mine {
                if others.len() < QUEUE {
                    others.push(m);
                }
                continue;
            }
            let last = !dump || h.errno != 0 || h.seq == 0;
            out.push(m);
            if last || out.len() >= 1 << 20 {
                return Ok(out);
            }
        }
    }
}
