//! The admin socket: racoonctl's protocol ([`crate::admin`]) on a unix
//! stream socket (mode 0600 unless configured). Each connection is one
//! request; `show-event` keeps the connection and streams events.
//!
//! Requests are bounded ([`crate::admin::MAX_REQUEST`] bytes, read within
//! [`READ_TIMEOUT`]), connections are limited to [`MAX_CONNS`], and a
//! malformed request only closes its own connection.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pfkey::{Extension, Message, MsgType, SaType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, info, warn};

use super::core::{AdminError, Establish, EstablishProto, IkeCore};
use super::kernel::Link;
use crate::admin::{self as proto, EvtRecord, Indexes, Proto, Request};

pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_CONNS: usize = 32;

/// A closure run on the core by the driver.
pub type CoreFn = Box<dyn FnOnce(&mut dyn IkeCore, Instant) + Send>;

/// Work the admin tasks hand to the driver (which owns the core).
pub enum Call {
    /// Run a closure on the core.
    Core(CoreFn),
    /// Re-read the configuration; the reply says whether it parsed.
    Reload(oneshot::Sender<bool>),
    /// `establish-sa esp|ah`: the driver finds the outbound policy and
    /// hands the core an ACQUIRE for it.
    EstablishPh2(Establish, oneshot::Sender<Result<(), AdminError>>),
}

/// What the admin tasks share.
#[derive(Clone)]
pub struct Shared {
    pub calls: mpsc::Sender<Call>,
    pub events: broadcast::Sender<EvtRecord>,
    /// PF_KEY socket for dumps and flushes (the embedded engine serves one too).
    pub pfkey_path: PathBuf,
    pub pid: u32,
}

/// Bind the admin socket: a stale socket file is replaced; a live one (another
/// racoon) or a non-socket file is an error.
pub fn bind(path: &Path, mode: u32) -> std::io::Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another racoon is listening on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(l)
}

pub async fn accept_task(listener: UnixListener, shared: Shared) {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let (conn, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!("admin socket accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if active.load(Ordering::Relaxed) >= MAX_CONNS {
            debug!("too many admin connections; closing one");
            continue;
        }
        active.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        let active = active.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(conn, &shared).await {
                debug!("admin connection: {e}");
            }
            active.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("request not received in time")]
    Timeout,
    #[error(transparent)]
    Proto(#[from] proto::ProtoError),
}

async fn read_request(conn: &mut UnixStream) -> Result<Vec<u8>, ConnError> {
    let mut hdr = [0u8; proto::HEADER_LEN];
    tokio::time::timeout(READ_TIMEOUT, conn.read_exact(&mut hdr))
        .await
        .map_err(|_| ConnError::Timeout)??;
    let h = proto::Header::decode(&hdr).ok_or(proto::ProtoError::Short)?;
    let len = usize::from(h.len);
    if len > proto::MAX_REQUEST {
        return Err(proto::ProtoError::TooLong(proto::MAX_REQUEST).into());
    }
    if len < proto::HEADER_LEN {
        return Err(proto::ProtoError::Length(len, proto::HEADER_LEN).into());
    }
    let mut buf = hdr.to_vec();
    buf.resize(len, 0);
    tokio::time::timeout(READ_TIMEOUT, conn.read_exact(&mut buf[proto::HEADER_LEN..]))
        .await
        .map_err(|_| ConnError::Timeout)??;
    Ok(buf)
}

async fn serve(mut conn: UnixStream, sh: &Shared) -> Result<(), ConnError> {
    let raw = read_request(&mut conn).await?;
    let h = proto::Header::decode(&raw).ok_or(proto::ProtoError::Short)?;
    let req = match Request::decode(&raw) {
        Ok(r) => r,
        Err(e) => {
            warn!("malformed admin request: {e}");
            let reply = proto::encode_reply(h.cmd, h.proto, 22, &[]);
            conn.write_all(&reply).await?;
            return Ok(());
        }
    };
    debug!("admin request {req:?}");
    let cmd = req.cmd();
    let proto_w = h.proto;
    if let Request::ShowEvent = req {
        return stream_events(conn, sh).await;
    }
    let (errno, payload) = match handle(req, sh).await {
        Ok(p) => (0, p),
        Err(e) => (e, Vec::new()),
    };
    conn.write_all(&proto::encode_reply(cmd, proto_w, errno, &payload))
        .await?;
    Ok(())
}

async fn stream_events(mut conn: UnixStream, sh: &Shared) -> Result<(), ConnError> {
    let mut rx = sh.events.subscribe();
    // An empty first reply tells racoonctl the subscription is in place.
    conn.write_all(&proto::encode_reply(proto::CMD_SHOW_EVT, 0, 0, &[]))
        .await?;
    let (mut rd, mut wr) = conn.into_split();
    let mut sink = [0u8; 64];
    loop {
        tokio::select! {
            r = rd.read(&mut sink) => match r {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => {}
            },
            e = rx.recv() => match e {
                Ok(ev) => {
                    let mut p = Vec::new();
                    ev.encode(&mut p);
                    wr.write_all(&proto::encode_reply(proto::CMD_SHOW_EVT, 0, 0, &p)).await?;
                    if ev.code == super::core::EventCode::RACOON_QUIT.0 {
                        return Ok(());
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => debug!("event listener lagged by {n}"),
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
        }
    }
}

async fn core_call<R: Send + 'static>(
    sh: &Shared,
    f: impl FnOnce(&mut dyn IkeCore, Instant) -> R + Send + 'static,
) -> Result<R, u16> {
    let (tx, rx) = oneshot::channel();
    let call = Call::Core(Box::new(move |core, now| {
        let _ = tx.send(f(core, now));
    }));
    sh.calls.send(call).await.map_err(|_| 5u16)?;
    rx.await.map_err(|_| 5u16)
}

fn satype_of(p: Proto) -> SaType {
    match p {
        Proto::Esp => SaType::ESP,
        Proto::Ah => SaType::AH,
        _ => SaType::UNSPEC,
    }
}

/// Wall-clock seconds for a monotonic instant in the past.
fn wall_of(t: Instant, now: Instant) -> i64 {
    let age = now.saturating_duration_since(t).as_secs() as i64;
    super::wall_secs().saturating_sub(age)
}

async fn handle(req: Request, sh: &Shared) -> Result<Vec<u8>, u16> {
    match req {
        Request::ReloadConfig => {
            let (tx, rx) = oneshot::channel();
            sh.calls.send(Call::Reload(tx)).await.map_err(|_| 5u16)?;
            match rx.await {
                Ok(true) => Ok(Vec::new()),
                _ => Err(22),
            }
        }
        Request::ShowSchedule => {
            let rows = core_call(sh, |c, now| {
                c.schedule()
                    .into_iter()
                    .map(|s| proto::SchedDump {
                        xtime: wall_of(now, now)
                            + s.fires.saturating_duration_since(now).as_secs() as i64,
                        id: s.id.min(i64::MAX as u64) as i64,
                        created: wall_of(s.created, now),
                        tick: s.fires.saturating_duration_since(s.created).as_secs() as i64,
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
            let mut p = Vec::new();
            for r in rows {
                r.encode(&mut p);
            }
            Ok(p)
        }
        Request::ShowEvent => Ok(Vec::new()),
        Request::ShowSa(Proto::Isakmp) => {
            let rows = core_call(sh, |c, now| {
                c.phase1_sas()
                    .into_iter()
                    .map(|p| proto::Ph1Dump {
                        cookies: p.cookies,
                        status: i32::from(p.status),
                        side: if p.initiator { 0 } else { 1 },
                        remote: Some(p.remote),
                        local: Some(p.local),
                        version: p.version,
                        etype: p.etype,
                        created: wall_of(p.created, now),
                        ph2cnt: p.ph2_count.min(i32::MAX as u32) as i32,
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
            let mut p = Vec::new();
            for r in rows {
                r.encode(&mut p);
            }
            Ok(p)
        }
        Request::ShowSa(Proto::Internal) => Ok(Vec::new()),
        Request::ShowSa(p) => sa_dump(sh, satype_of(p)).await,
        Request::FlushSa(Proto::Isakmp) => {
            core_call(sh, |c, now| c.flush_phase1(now)).await?;
            Ok(Vec::new())
        }
        Request::FlushSa(Proto::Internal) => Err(22),
        Request::FlushSa(p) => {
            let m =
                kernel_request(sh, Message::new(MsgType::FLUSH, satype_of(p)).with_seq(1)).await?;
            match m.first().map(|m| m.header.errno) {
                Some(0) => Ok(Vec::new()),
                Some(e) => Err(u16::from(e)),
                None => Err(5),
            }
        }
        Request::DeleteSa(Proto::Isakmp, idx) => {
            let local = (!idx.src.ip().is_unspecified()).then_some(idx.src.ip());
            let remote = idx.dst.ip();
            let n = core_call(sh, move |c, now| c.delete_peer(now, local, remote))
                .await?
                .map_err(|e| e.errno())?;
            info!(
                "delete-sa isakmp {} -> {remote}: {n} phase 1 SA(s)",
                idx.src.ip()
            );
            Ok(Vec::new())
        }
        Request::DeleteSa(p @ (Proto::Esp | Proto::Ah), idx) => {
            delete_kernel_sas(sh, satype_of(p), &idx).await
        }
        Request::DeleteSa(..) => Err(93), // EPROTONOSUPPORT
        Request::DeleteAllSaDst(_, idx) => {
            let remote = idx.dst.ip();
            core_call(sh, move |c, now| c.delete_peer(now, None, remote))
                .await?
                .map_err(|e| e.errno())?;
            Ok(Vec::new())
        }
        Request::EstablishSa {
            proto: p,
            index,
            remote_name,
            xauth,
        } => {
            let proto = match p {
                Proto::Isakmp => EstablishProto::Isakmp,
                Proto::Esp => EstablishProto::Esp,
                Proto::Ah => EstablishProto::Ah,
                _ => return Err(93),
            };
            let req = Establish {
                proto,
                src: index.src,
                dst: index.dst,
                prefs: index.prefs,
                prefd: index.prefd,
                ul_proto: index.ul_proto,
                remote_name,
                xauth: xauth.map(|(u, p)| (u, zeroize::Zeroizing::new(p))),
            };
            if proto == EstablishProto::Isakmp {
                core_call(sh, move |c, now| c.establish(now, req))
                    .await?
                    .map_err(|e: AdminError| e.errno())?;
            } else {
                let (tx, rx) = oneshot::channel();
                sh.calls
                    .send(Call::EstablishPh2(req, tx))
                    .await
                    .map_err(|_| 5u16)?;
                rx.await.map_err(|_| 5u16)?.map_err(|e| e.errno())?;
            }
            Ok(Vec::new())
        }
        Request::LogoutUser(_) => Err(95),
        Request::GetSaCert(_) => Err(2),
    }
}

async fn kernel_request(sh: &Shared, mut m: Message) -> Result<Vec<Message>, u16> {
    m.header.pid = sh.pid;
    let mut link = Link::socket(&sh.pfkey_path).await.map_err(|e| {
        warn!("{e}");
        5u16
    })?;
    let mut others = Vec::new();
    link.request(m, Duration::from_secs(5), &mut others)
        .await
        .map_err(|e| {
            warn!("{e}");
            5u16
        })
}

/// `show-sa esp|ah|ipsec`: the DUMP messages back to back (an error reply
/// alone when the SAD is empty, so racoonctl prints `No SAD entries.`).
async fn sa_dump(sh: &Shared, satype: SaType) -> Result<Vec<u8>, u16> {
    let msgs = kernel_request(sh, Message::new(MsgType::DUMP, satype)).await?;
    let mut out = Vec::new();
    for m in msgs {
        match m.encode() {
            Ok(b) => out.extend_from_slice(&b),
            Err(_) => return Err(22),
        }
    }
    Ok(out)
}

fn same_ip(a: Option<&pfkey::Address>, b: &SocketAddr) -> bool {
    a.is_some_and(|a| a.addr.ip() == b.ip())
}

/// `delete-sa esp|ah FAM SRC DST`: DELETE every SA between the two addresses.
async fn delete_kernel_sas(sh: &Shared, satype: SaType, idx: &Indexes) -> Result<Vec<u8>, u16> {
    let msgs = kernel_request(sh, Message::new(MsgType::DUMP, satype)).await?;
    let mut n = 0;
    for m in msgs.iter().filter(|m| m.header.errno == 0) {
        if !(same_ip(m.addr_src(), &idx.src) && same_ip(m.addr_dst(), &idx.dst)) {
            continue;
        }
        let (Some(sa), Some(src), Some(dst)) = (m.sa(), m.addr_src(), m.addr_dst()) else {
            continue;
        };
        let del = Message::new(MsgType::DELETE, m.header.satype)
            .with(Extension::Sa(*sa))
            .with(Extension::AddressSrc(*src))
            .with(Extension::AddressDst(*dst));
        kernel_request(sh, del).await?;
        n += 1;
    }
    if n == 0 {
        return Err(2);
    }
    Ok(Vec::new())
}
