//! The PF_KEY server: a unix-domain `SOCK_SEQPACKET` socket, one PF_KEY
//! message per packet, in front of the sans-I/O [`Kernel`].
//!
//! One task owns the [`Kernel`] and receives everything through a channel:
//! packets from socket clients, messages from in-process clients
//! ([`EngineHandle::connect`]), data-plane calls ([`EngineHandle::call`]) and
//! its own timer (a 250 ms tick driving [`Kernel::handle_timeout`]).
//! Each socket client has a reader task and a writer task with a bounded
//! queue: a client that does not read loses messages (as a full kernel socket
//! buffer does) but never blocks the engine.
//!
//! With [`Config::dataplane`] the same task also carries traffic: it waits on
//! the TUN device and the raw ESP/AH/IPComp sockets ([`crate::netio`]), reads
//! up to 64 packets per wakeup into its one [`PacketBuf`], runs
//! [`Kernel::outbound`] / [`Kernel::inbound`] and sends the result; PF_KEY
//! messages the packet path produces (ACQUIRE, EXPIRE) are delivered like any
//! other. ESP-in-UDP is read and sent by this task on its own socket
//! (`DataplaneConfig::udp_encap_port`) or on an embedding daemon's shared one
//! (`DataplaneConfig::udp_encap_shared`, IKE handed back through
//! `NonEspInput`); otherwise it comes in through
//! [`EngineHandle::udp_encap_input`] and leaves through the registered
//! [`UdpEncapTx`]. A separate task keeps the
//! routes and the inbound guard in step with the SPD.

use std::collections::HashMap;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pfkey::Message;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_seqpacket::{UnixSeqpacket, UnixSeqpacketListener};
use tracing::{debug, info, warn};

use crate::datapath::{classify_udp4500, DropReason, PacketBuf, Stats, Udp4500, Verdict};
use crate::handler::{Kernel, Limits, Output, SocketId};
use crate::netio::{DataplaneConfig, Net, Source};
use crate::Now;

/// Sends ESP-in-UDP datagrams for the engine. Whoever owns UDP 4500 (racoon's
/// driver when the engine is embedded, `ipsecd --udp-encap-port` otherwise)
/// implements it and registers it with [`EngineHandle::attach_udp_encap`].
pub trait UdpEncapTx: Send + Sync + 'static {
    fn send_to(
        &self,
        data: &[u8],
        local: std::net::SocketAddr,
        remote: std::net::SocketAddr,
    ) -> std::io::Result<()>;
}

/// Packets handled per readiness event of one descriptor before the core
/// looks at its other inputs (boringtun's `MAX_ITR`).
const BATCH: usize = 64;

/// Packets per `recvmmsg` on a raw socket, and the room for each (the
/// largest IPv4 packet).
const RX_SLOTS: usize = 32;
const RX_SLOT: usize = 65_536;

/// How often lifetimes are checked.
pub const TIMER_TICK: Duration = Duration::from_millis(250);

/// Largest PF_KEY message (`sadb_msg_len` is 16 bits of 8-byte words).
pub const MAX_PFKEY_MSG: usize = 0xffff * 8;

/// Server settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Path of the PF_KEY socket (see [`pfkey::socket_path`]).
    pub socket_path: PathBuf,
    /// Concurrent socket clients; further connections are closed at once.
    pub max_clients: usize,
    /// Largest accepted request in bytes; longer packets are answered EINVAL.
    pub max_msg_len: usize,
    /// Messages queued per client before further ones are dropped.
    pub client_queue: usize,
    /// SAD/SPD sizes.
    pub limits: Limits,
    /// The data plane (TUN device, raw sockets, routes); `None`: PF_KEY only.
    pub dataplane: Option<DataplaneConfig>,
}

impl Config {
    pub fn new(socket_path: impl Into<PathBuf>) -> Self {
        Config {
            socket_path: socket_path.into(),
            max_clients: 64,
            max_msg_len: MAX_PFKEY_MSG,
            client_queue: 65_536,
            limits: Limits::default(),
            dataplane: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} exists and is not a socket")]
    NotASocket { path: PathBuf },
    #[error("another server is listening on {path}")]
    InUse { path: PathBuf },
    #[error("cannot bind {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot set mode 0600 on {path}: {source}")]
    Chmod {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the engine has stopped")]
    Stopped,
    #[error("cannot set up the data plane: {0}")]
    Dataplane(std::io::Error),
}

/// The current time from the system clocks (only the I/O layer reads them).
pub fn now() -> Now {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Now::new(Instant::now(), wall)
}

enum Sink {
    Socket(mpsc::Sender<Vec<u8>>),
    InProc(mpsc::Sender<Message>),
}

type Call = Box<dyn FnOnce(&mut Kernel, Now) -> Vec<Output> + Send>;

/// Requests (packets, in-process messages) queued to the core before readers wait.
const DATA_QUEUE: usize = 1024;

/// The two ways into the core task: control (connect, disconnect, calls;
/// bounded by the number of clients and callers) and data (requests; bounded,
/// so a flooding client waits instead of growing memory). The core prefers
/// control, so a connection is always known before its first request.
#[derive(Clone)]
struct Chans {
    ctl: mpsc::UnboundedSender<Cmd>,
    data: mpsc::Sender<Cmd>,
}

enum Cmd {
    Connect(SocketId, Sink),
    Disconnect(SocketId),
    Packet(SocketId, Vec<u8>),
    Msg(SocketId, Message),
    Call(Call),
    AttachEncap(Arc<dyn UdpEncapTx>),
    EncapIn(Vec<u8>, std::net::SocketAddr, std::net::SocketAddr),
}

/// A running engine. Dropping it stops the tasks but leaves the socket file;
/// [`EngineHandle::shutdown`] also removes it.
pub struct EngineHandle {
    cmd: Chans,
    stop: watch::Sender<bool>,
    ids: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
    path: PathBuf,
    dataplane: Option<DataplaneConfig>,
}

/// An in-process PF_KEY client: the same messages a socket client gets,
/// without the encoding.
pub struct InProcClient {
    id: SocketId,
    cmd: Chans,
    rx: mpsc::Receiver<Message>,
}

impl InProcClient {
    pub fn id(&self) -> SocketId {
        self.id
    }

    /// Submits a request as if written to the socket (waits while the
    /// engine's request queue is full).
    pub async fn send(&self, msg: Message) -> Result<(), Error> {
        self.cmd
            .data
            .send(Cmd::Msg(self.id, msg))
            .await
            .map_err(|_| Error::Stopped)
    }

    /// The next message for this client (`None` once the engine stopped).
    pub async fn recv(&mut self) -> Option<Message> {
        self.rx.recv().await
    }

    pub fn try_recv(&mut self) -> Option<Message> {
        self.rx.try_recv().ok()
    }
}

impl Drop for InProcClient {
    fn drop(&mut self) {
        let _ = self.cmd.ctl.send(Cmd::Disconnect(self.id));
    }
}

/// The engine: see [`Engine::spawn`].
pub struct Engine;

impl Engine {
    /// Binds the PF_KEY socket (creating its directory with mode 0700 if
    /// missing; the socket gets mode 0600) and starts the engine on the
    /// current tokio runtime.
    pub fn spawn(config: Config) -> Result<EngineHandle, Error> {
        let net = match &config.dataplane {
            Some(dp) => {
                let net = Net::open(dp).map_err(|e| {
                    Net::cleanup(dp);
                    Error::Dataplane(e)
                })?;
                info!(tun = %dp.tun_name, table = dp.table, fwmark = dp.fwmark, "data plane up");
                Some(net)
            }
            None => None,
        };
        let listener = match bind(&config.socket_path) {
            Ok(l) => l,
            Err(e) => {
                if let Some(dp) = &config.dataplane {
                    Net::cleanup(dp);
                }
                return Err(e);
            }
        };
        info!(path = %config.socket_path.display(), "PF_KEY socket listening");
        let (routes_tx, routes_rx) = watch::channel(HostState::default());
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (data_tx, data_rx) = mpsc::channel(DATA_QUEUE);
        let cmd_tx = Chans {
            ctl: ctl_tx,
            data: data_tx,
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let ids = Arc::new(AtomicU64::new(1));
        let mut tasks = Vec::new();
        let manage = config
            .dataplane
            .as_ref()
            .filter(|d| d.manage_routes)
            .cloned();
        if let Some(dp) = manage.clone() {
            tasks.push(tokio::spawn(route_task(dp, routes_rx, stop_rx.clone())));
        }
        let core = tokio::spawn(core_task(
            Kernel::new(config.limits),
            ctl_rx,
            data_rx,
            stop_rx.clone(),
            net,
            manage.map(|_| routes_tx),
        ));
        let acceptor = tokio::spawn(accept_task(
            listener,
            config.clone(),
            cmd_tx.clone(),
            ids.clone(),
            stop_rx,
        ));
        tasks.push(core);
        tasks.push(acceptor);
        Ok(EngineHandle {
            cmd: cmd_tx,
            stop: stop_tx,
            ids,
            tasks,
            path: config.socket_path,
            dataplane: config.dataplane,
        })
    }
}

impl EngineHandle {
    /// A new in-process client (its own socket id; registrations and
    /// broadcasts work as for socket clients).
    pub fn connect(&self, queue: usize) -> Result<InProcClient, Error> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(queue.max(1));
        self.cmd
            .ctl
            .send(Cmd::Connect(id, Sink::InProc(tx)))
            .map_err(|_| Error::Stopped)?;
        Ok(InProcClient {
            id,
            cmd: self.cmd.clone(),
            rx,
        })
    }

    /// Runs `f` on the kernel (data-plane calls: lookups, `acquire`,
    /// `account`, …); the messages it returns are delivered. Resolves to
    /// `f`'s other result.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Kernel, Now) -> (R, Vec<Output>) + Send + 'static,
    ) -> Result<R, Error> {
        let (tx, rx) = oneshot::channel();
        let call: Call = Box::new(move |k, now| {
            let (r, out) = f(k, now);
            let _ = tx.send(r);
            out
        });
        self.cmd
            .ctl
            .send(Cmd::Call(call))
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// Who owns UDP 4500 (racoon's driver when the engine is embedded)
    /// registers its sender; outbound ESP-in-UDP goes through it.
    pub fn attach_udp_encap(&self, tx: Arc<dyn UdpEncapTx>) {
        let _ = self.cmd.ctl.send(Cmd::AttachEncap(tx));
    }

    /// An ESP-in-UDP datagram received on 4500 (first 4 bytes non-zero = ESP,
    /// RFC 3948). NAT-T keepalives (one 0xff byte) are counted and dropped;
    /// IKE (non-ESP marker) is not for the engine and is ignored. Never
    /// blocks: when the engine's queue is full the datagram is dropped and
    /// counted (`drop_queue_full`).
    pub fn udp_encap_input(
        &self,
        data: &[u8],
        local: std::net::SocketAddr,
        remote: std::net::SocketAddr,
    ) {
        match classify_udp4500(data) {
            Udp4500::Esp => {}
            Udp4500::Keepalive => {
                let _ = self.cmd.ctl.send(Cmd::Call(Box::new(|k, _| {
                    k.count_keepalive();
                    Vec::new()
                })));
                return;
            }
            Udp4500::Ike | Udp4500::Invalid => return,
        }
        let data = data[..data.len().min(crate::datapath::MAX_PACKET)].to_vec();
        if self
            .cmd
            .data
            .try_send(Cmd::EncapIn(data, local, remote))
            .is_err()
        {
            let _ = self.cmd.ctl.send(Cmd::Call(Box::new(|k, _| {
                k.count_drop(DropReason::QueueFull);
                Vec::new()
            })));
        }
    }

    /// A snapshot of the data-plane counters.
    pub async fn stats(&self) -> Result<Stats, Error> {
        self.call(|k, _| (k.stats().clone(), Vec::new())).await
    }

    /// Stops every task and removes the socket file.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        if let Some(dp) = &self.dataplane {
            Net::cleanup(dp);
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => debug!(path = %self.path.display(), "socket removed"),
            Err(e) => warn!(path = %self.path.display(), "cannot remove socket: {e}"),
        }
    }
}

fn bind(path: &Path) -> Result<UnixSeqpacketListener, Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| Error::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(Error::NotASocket {
                path: path.to_path_buf(),
            });
        }
        if UnixSeqpacket::connect_blocking(path).is_ok() {
            return Err(Error::InUse {
                path: path.to_path_buf(),
            });
        }
        // A stale socket from a previous run.
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixSeqpacketListener::bind(path).map_err(|source| Error::Bind {
        path: path.to_path_buf(),
        source,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        Error::Chmod {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(listener)
}

async fn accept_task(
    mut listener: UnixSeqpacketListener,
    config: Config,
    cmd: Chans,
    ids: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut clients: Vec<JoinHandle<()>> = Vec::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = listener.accept() => match r {
                Ok(sock) => {
                    clients.retain(|c| !c.is_finished());
                    if active.load(Ordering::Relaxed) >= config.max_clients {
                        warn!("too many PF_KEY clients, closing a new connection");
                        drop(sock);
                        continue;
                    }
                    let id = ids.fetch_add(1, Ordering::Relaxed);
                    active.fetch_add(1, Ordering::Relaxed);
                    clients.push(tokio::spawn(client_task(
                        id,
                        sock,
                        config.clone(),
                        cmd.clone(),
                        active.clone(),
                        stop.clone(),
                    )));
                }
                Err(e) => {
                    warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    for c in clients {
        c.abort();
    }
}

async fn client_task(
    id: SocketId,
    sock: UnixSeqpacket,
    config: Config,
    cmd: Chans,
    active: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) {
    let sock = Arc::new(sock);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(config.client_queue.max(1));
    if cmd.ctl.send(Cmd::Connect(id, Sink::Socket(tx))).is_err() {
        active.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    debug!(client = id, "PF_KEY client connected");
    let wsock = sock.clone();
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if let Err(e) = wsock.send(&b).await {
                debug!(client = id, "send: {e}");
                break;
            }
        }
    });
    // One byte more than the limit tells an oversized packet from a full one.
    let mut buf = vec![0u8; config.max_msg_len.saturating_add(1)];
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = sock.recv(&mut buf) => match r {
                Ok(info) => {
                    let n = info.bytes_read();
                    if n == 0 {
                        break; // orderly shutdown by the peer
                    }
                    let n = n.min(config.max_msg_len.saturating_add(1));
                    if cmd.data.send(Cmd::Packet(id, buf[..n].to_vec())).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    debug!(client = id, "recv: {e}");
                    break;
                }
            }
        }
    }
    let _ = cmd.ctl.send(Cmd::Disconnect(id));
    writer.abort();
    active.fetch_sub(1, Ordering::Relaxed);
    debug!(client = id, "PF_KEY client gone");
}

struct Core {
    kernel: Kernel,
    sinks: HashMap<SocketId, Sink>,
    rng: StdRng,
    /// The packet buffer (one per worker; the core is the only worker).
    pkt: PacketBuf,
    /// TUN reads with offload: header + super-packet, segmented into `pkt`.
    gso: Vec<u8>,
    /// TUN writes with offload: inbound TCP segments coalesced per batch.
    gro: Option<crate::datapath::Gro>,
    /// PF_KEY messages produced by the packet path.
    pending: Vec<Output>,
    encap: Option<Arc<dyn UdpEncapTx>>,
    /// Outer packets of the current batch (sendmmsg / UDP GSO).
    tx: crate::txbatch::TxBatch,
    /// Writes to the TUN device in parallel with the packet path (`None`:
    /// inline), and the batch being filled for it.
    tunw: Option<crate::tunout::TunThread>,
    tunb: crate::tunout::TunBatch,
    /// Sends full batches in parallel with the packet path (`None`: inline).
    sender: Option<crate::txbatch::SendThread>,
    /// `recvmmsg` slots for raw IPv4 reads (allocated on first use).
    rx: Vec<u8>,
    /// Reads from the engine's own UDP socket (GRO: several datagrams).
    udp_buf: Vec<u8>,
    routes: Option<watch::Sender<HostState>>,
    routes_gen: Option<u64>,
}

impl Core {
    fn deliver(&mut self, sender: Option<SocketId>, outs: Vec<Output>) {
        for o in outs {
            let to = self.kernel.recipients(o.dest, sender);
            if to.is_empty() {
                continue;
            }
            let mut bytes: Option<Vec<u8>> = None;
            for id in to {
                match self.sinks.get(&id) {
                    Some(Sink::Socket(tx)) => {
                        if bytes.is_none() {
                            match o.msg.encode() {
                                Ok(b) => bytes = Some(b),
                                Err(e) => {
                                    warn!("cannot encode {:?}: {e}", o.msg.header.msg_type);
                                    break;
                                }
                            }
                        }
                        if let Some(b) = &bytes {
                            if tx.try_send(b.clone()).is_err() {
                                debug!(client = id, "queue full, message dropped");
                            }
                        }
                    }
                    Some(Sink::InProc(tx)) if tx.try_send(o.msg.clone()).is_err() => {
                        debug!(client = id, "queue full, message dropped");
                    }
                    _ => {}
                }
            }
        }
    }

    /// Carries out a verdict on `self.pkt`.
    fn emit(&mut self, net: Option<&Net>, v: Verdict) {
        // Set only with an outbound Raw/Udp verdict (batch crypto is on).
        let def = self.kernel.take_deferred();
        let r = match v {
            Verdict::Drop(_) => return,
            Verdict::Raw { packet, dst } => match net {
                Some(n) => {
                    self.queue(n, packet, crate::txbatch::TxTo::Raw(dst), def);
                    Ok(())
                }
                None => Err(std::io::ErrorKind::NotConnected.into()),
            },
            Verdict::ToTun(r) => match net {
                Some(n) if n.vnet => {
                    use crate::datapath::{Gro, GroPush};
                    let g = self.gro.get_or_insert_with(Gro::new);
                    let pkt = self.pkt.get(r);
                    let mut res = Ok(());
                    loop {
                        match g.push(pkt) {
                            GroPush::Held => break,
                            GroPush::FlushFirst => {
                                if let Some((frame, _)) = g.take() {
                                    res = res.and(tun_out(
                                        &mut self.tunw,
                                        &mut self.tunb,
                                        n,
                                        frame,
                                        false,
                                    ));
                                }
                            }
                            GroPush::Pass => {
                                if let Some((frame, _)) = g.take() {
                                    res = res.and(tun_out(
                                        &mut self.tunw,
                                        &mut self.tunb,
                                        n,
                                        frame,
                                        false,
                                    ));
                                }
                                res =
                                    res.and(tun_out(&mut self.tunw, &mut self.tunb, n, pkt, true));
                                break;
                            }
                        }
                    }
                    res
                }
                Some(n) => tun_out(&mut self.tunw, &mut self.tunb, n, self.pkt.get(r), true),
                None => Err(std::io::ErrorKind::NotConnected.into()),
            },
            Verdict::Udp {
                payload,
                local,
                remote,
            } => match (net, &self.encap) {
                (Some(n), _) if n.owns_udp() => {
                    self.queue(n, payload, crate::txbatch::TxTo::Udp(remote), def);
                    Ok(())
                }
                (_, Some(tx)) => {
                    if def.is_some_and(|d| !self.kernel.finish_deferred_buf(&mut self.pkt, &d)) {
                        Err(std::io::Error::other("deferred encryption failed"))
                    } else {
                        tx.send_to(self.pkt.get(payload), local, remote)
                    }
                }
                _ => Err(std::io::ErrorKind::NotConnected.into()),
            },
        };
        if let Err(e) = r {
            debug!("data plane I/O: {e}");
            self.kernel.count_drop(DropReason::Io);
        }
    }

    /// Queues `self.pkt[r]` for a batched send (flushing a full batch; a
    /// packet too big for the batch goes out on its own, in order).
    /// A packet whose encryption was deferred (`def`) is queued unsealed and
    /// finished with its batch in [`Core::flush_tx`].
    fn queue(
        &mut self,
        net: &Net,
        r: std::ops::Range<usize>,
        to: crate::txbatch::TxTo,
        def: Option<crate::datapath::DeferredOut>,
    ) {
        let sealed = def.is_none();
        let mut slot = self.tx.push(self.pkt.get(r.clone()), to, sealed);
        if slot.is_none() {
            self.flush_tx(Some(net));
            slot = self.tx.push(self.pkt.get(r.clone()), to, sealed);
        }
        if let Some(slot) = slot {
            if let Some(d) = def {
                match d.esp_start.checked_sub(r.start) {
                    Some(off) => {
                        let k = &self.kernel;
                        self.tx.defer(slot, off, d.d, d.key, || k.sealer(&d.key));
                    }
                    // Cannot happen (the ESP header is inside the packet);
                    // the unsealed packet is dropped by the flush.
                    None => debug!("deferred ESP header outside the packet"),
                }
            }
            return;
        }
        // Too big for a slot: finish and send it on its own.
        if let Some(d) = def {
            if !self.kernel.finish_deferred_buf(&mut self.pkt, &d) {
                self.kernel.count_drop(DropReason::Io);
                return;
            }
        }
        let res = match to {
            crate::txbatch::TxTo::Raw(dst) => net.send_raw(self.pkt.get(r), dst),
            crate::txbatch::TxTo::Udp(remote) => net.send_udp(self.pkt.get(r), remote),
        };
        if let Err(e) = res {
            debug!("data plane I/O: {e}");
            self.kernel.count_drop(DropReason::Io);
        }
    }

    /// Sends the queued outer packets (end of a batch).
    fn flush_tx(&mut self, net: Option<&Net>) {
        let Some(n) = net else { return };
        if self.tx.is_empty() {
            return;
        }
        // Deferred encryption happens in the flush, on the send thread: for
        // ESP-in-UDP (cheap GSO sends) that balances the two threads. Raw
        // packets cost the send thread ~5 us each in the kernel, so there the
        // core encrypts.
        if self.tx.has_raw() {
            self.tx.seal_deferred();
        }
        let failed = match &mut self.sender {
            Some(st) => {
                st.submit(&mut self.tx);
                st.take_failed()
            }
            None => self.tx.flush(&n.tx_sockets()).failed as u64,
        };
        for _ in 0..failed {
            self.kernel.count_drop(DropReason::Io);
        }
    }

    /// Writes the coalesced inbound frame, if any (end of a batch).
    fn flush_gro(&mut self, net: Option<&Net>) {
        let Some(n) = net else { return };
        if let Some(g) = self.gro.as_mut() {
            if let Some((frame, _)) = g.take() {
                if let Err(e) = tun_out(&mut self.tunw, &mut self.tunb, n, frame, false) {
                    debug!("data plane I/O: {e}");
                    self.kernel.count_drop(DropReason::Io);
                }
            }
        }
        if let Some(t) = &mut self.tunw {
            t.submit(&mut self.tunb);
            for _ in 0..t.take_failed() {
                self.kernel.count_drop(DropReason::Io);
            }
        }
    }

    fn flush_pending(&mut self) {
        if !self.pending.is_empty() {
            let out = std::mem::take(&mut self.pending);
            self.deliver(None, out);
        }
    }

    /// Reads and processes up to [`BATCH`] packets from reader `i`.
    fn drain(&mut self, net: &Net, i: usize) {
        let Some((fd, src)) = net.readers.get(i) else {
            return;
        };
        if *src == Source::Tun && net.vnet {
            self.drain_gso(net, fd);
            return;
        }
        if *src == Source::Udp {
            self.drain_udp(net, fd);
            return;
        }
        if *src == Source::Raw4 {
            self.drain_raw4(net, fd);
            return;
        }
        for _ in 0..BATCH {
            let space = self.pkt.read_space();
            match fd.try_io(tokio::io::Interest::READABLE, |inner| match src {
                Source::Raw6(proto) => crate::netio::recv6(inner, space, *proto),
                _ => crate::netio::recv(inner, space),
            }) {
                Ok(n) => {
                    self.pkt.set_len(n);
                    let now = now();
                    let v = match src {
                        Source::Tun => self.kernel.outbound(now, &mut self.pkt, &mut self.pending),
                        Source::Raw4 | Source::Raw6(_) | Source::Udp => {
                            self.kernel.inbound(now, &mut self.pkt, &mut self.pending)
                        }
                    };
                    self.emit(Some(net), v);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    debug!("data plane read: {e}");
                    break;
                }
            }
        }
        self.flush_gro(Some(net));
        self.flush_tx(Some(net));
        self.flush_pending();
    }

    /// Raw IPv4 ESP/AH/IPComp: up to [`RX_SLOTS`] packets per `recvmmsg`.
    fn drain_raw4(&mut self, net: &Net, fd: &tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>) {
        use std::os::fd::AsRawFd;
        if self.rx.is_empty() {
            self.rx = vec![0u8; RX_SLOTS * RX_SLOT];
        }
        let mut lens = [0usize; RX_SLOTS];
        for _ in 0..BATCH.div_ceil(RX_SLOTS) {
            let arena = &mut self.rx[..];
            let k = match fd.try_io(tokio::io::Interest::READABLE, |inner| {
                crate::netio::recv_many(inner.as_raw_fd(), arena, RX_SLOT, &mut lens)
            }) {
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    debug!("data plane read: {e}");
                    break;
                }
            };
            let now = now();
            for (i, &n) in lens.iter().enumerate().take(k) {
                self.pkt.load(&self.rx[i * RX_SLOT..i * RX_SLOT + n]);
                let v = self.kernel.inbound(now, &mut self.pkt, &mut self.pending);
                self.emit(Some(net), v);
            }
            if k < RX_SLOTS {
                break; // drained (the next read would block)
            }
        }
        self.flush_gro(Some(net));
        self.flush_tx(Some(net));
        self.flush_pending();
    }

    /// TUN reads with a `virtio_net_hdr`: each read may be a TCP super-packet,
    /// cut into wire-sized packets before the packet path sees them.
    fn drain_gso(&mut self, net: &Net, fd: &tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>) {
        use crate::datapath::{gso_segment, VNET_HDR_LEN};
        if self.gso.is_empty() {
            self.gso = vec![0u8; VNET_HDR_LEN + crate::datapath::MAX_PACKET];
        }
        for _ in 0..BATCH {
            let buf = &mut self.gso[..];
            let n = match fd.try_io(tokio::io::Interest::READABLE, |inner| {
                crate::netio::recv(inner, buf)
            }) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    debug!("data plane read: {e}");
                    break;
                }
            };
            if n < VNET_HDR_LEN {
                self.kernel.count_drop(DropReason::Malformed);
                continue;
            }
            let now = now();
            let mut i = 0;
            loop {
                let (hdr, pkt) = self.gso[..n].split_at(VNET_HDR_LEN);
                let Some(len) = gso_segment(hdr, pkt, i, self.pkt.read_space()) else {
                    if i == 0 {
                        self.kernel.count_drop(DropReason::Malformed);
                    }
                    break;
                };
                self.pkt.set_len(len);
                let v = self.kernel.outbound(now, &mut self.pkt, &mut self.pending);
                self.emit(Some(net), v);
                i += 1;
            }
        }
        self.flush_tx(Some(net));
        self.flush_pending();
    }

    /// ESP-in-UDP on the engine's own socket; with `UDP_GRO` one read may
    /// hold several datagrams of one sender (`seg` bytes each, the last one
    /// possibly shorter).
    fn drain_udp(&mut self, net: &Net, fd: &tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>) {
        use std::os::fd::AsRawFd;
        if self.udp_buf.is_empty() {
            self.udp_buf = vec![0u8; 65_536];
        }
        for _ in 0..BATCH {
            let buf = &mut self.udp_buf[..];
            let (n, remote, local, seg) = match fd.try_io(tokio::io::Interest::READABLE, |inner| {
                crate::netio::recv_udp(inner.as_raw_fd(), buf)
            }) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    debug!("data plane read: {e}");
                    break;
                }
            };
            let local = if net.udp_local.ip().is_unspecified() {
                std::net::SocketAddr::new(
                    local.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
                    net.udp_local.port(),
                )
            } else {
                net.udp_local
            };
            let seg = seg.unwrap_or(n).max(1);
            let now = now();
            let mut off = 0;
            while off < n {
                let end = (off + seg).min(n);
                match classify_udp4500(&self.udp_buf[off..end]) {
                    Udp4500::Esp => {
                        self.pkt.load(&self.udp_buf[off..end]);
                        let v = self.kernel.inbound_udp(
                            now,
                            &mut self.pkt,
                            local,
                            remote,
                            &mut self.pending,
                        );
                        self.emit(Some(net), v);
                    }
                    Udp4500::Keepalive => self.kernel.count_keepalive(),
                    // IKE (marker stripped) to the embedding daemon; on
                    // ipsecd's own socket nobody reads it (manual keying).
                    Udp4500::Ike => {
                        if let Some(sink) = &net.non_esp {
                            sink.non_esp_input(&self.udp_buf[off + 4..end], local, remote);
                        }
                    }
                    Udp4500::Invalid => {}
                }
                off = end;
            }
        }
        self.flush_gro(Some(net));
        self.flush_tx(Some(net));
        self.flush_pending();
    }

    /// Publishes the outbound routes when the SPD changed since last time.
    fn sync_routes(&mut self) {
        let Some(tx) = &self.routes else { return };
        let g = self.kernel.spd_generation();
        if self.routes_gen != Some(g) {
            self.routes_gen = Some(g);
            tx.send_replace((self.kernel.out_routes(), self.kernel.in_guards()));
        }
    }

    fn handle(&mut self, c: Cmd, net: Option<&Net>) {
        match c {
            Cmd::AttachEncap(tx) => self.encap = Some(tx),
            Cmd::EncapIn(data, local, remote) => {
                self.pkt.load(&data);
                let v =
                    self.kernel
                        .inbound_udp(now(), &mut self.pkt, local, remote, &mut self.pending);
                self.emit(net, v);
                self.flush_gro(net);
                self.flush_tx(net);
                self.flush_pending();
            }
            Cmd::Connect(id, sink) => {
                self.kernel.connect(id);
                self.sinks.insert(id, sink);
            }
            Cmd::Disconnect(id) => {
                self.kernel.disconnect(id);
                self.sinks.remove(&id);
            }
            Cmd::Packet(id, bytes) => {
                let out = self.kernel.handle_bytes(now(), id, &bytes, &mut self.rng);
                if let Some((h, _)) = pfkey::Header::peek(&bytes) {
                    debug!(client = id, msg = ?h.msg_type, satype = ?h.satype, seq = h.seq, replies = out.len(), "request");
                }
                self.deliver(Some(id), out);
            }
            Cmd::Msg(id, msg) => {
                let out = self.kernel.handle_message(now(), id, msg, &mut self.rng);
                self.deliver(Some(id), out);
            }
            Cmd::Call(f) => {
                let out = f(&mut self.kernel, now());
                self.deliver(None, out);
            }
        }
    }
}

/// Writes a decrypted packet (`packet`: a zero `virtio_net_hdr` goes in
/// front when the device has one) or a coalesced frame (already with its
/// header) to the TUN device: queued for the writer thread when there is one
/// (sent at the end of the batch), else at once.
fn tun_out(
    w: &mut Option<crate::tunout::TunThread>,
    b: &mut crate::tunout::TunBatch,
    net: &Net,
    data: &[u8],
    packet: bool,
) -> std::io::Result<()> {
    const ZERO: [u8; crate::datapath::VNET_HDR_LEN] = [0; crate::datapath::VNET_HDR_LEN];
    let head: &[u8] = if packet && net.vnet { &ZERO } else { &[] };
    if let Some(t) = w {
        if b.push(head, data) {
            return Ok(());
        }
        t.submit(b);
        if b.push(head, data) {
            return Ok(());
        }
        // Larger than a whole batch (cannot happen with 64 KB frames).
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    if packet {
        net.write_tun(data)
    } else {
        net.write_tun_frame(data)
    }
}

/// Waits until one of the data plane's descriptors is readable (round-robin
/// start so no descriptor starves the others).
async fn net_ready(net: &Net, rot: usize) -> usize {
    std::future::poll_fn(|cx| {
        let n = net.readers.len();
        for k in 0..n {
            let i = (rot + k) % n;
            if net.readers[i].0.poll_read_ready(cx).is_ready() {
                return std::task::Poll::Ready(i);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

async fn pending_forever() -> usize {
    std::future::pending().await
}

/// What the route task keeps in sync: routes into the TUN device and the
/// inbound guards (firewall).
type HostState = (
    std::collections::BTreeSet<(std::net::IpAddr, u8)>,
    std::collections::BTreeSet<crate::datapath::Guard>,
);

async fn route_task(
    dp: DataplaneConfig,
    mut want: watch::Receiver<HostState>,
    mut stop: watch::Receiver<bool>,
) {
    let mut have: HostState = Default::default();
    let mut nft_ok = true;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = want.changed() => {
                if r.is_err() {
                    break;
                }
                let w = want.borrow_and_update().clone();
                let (cfg, h, w2) = (dp.clone(), have.clone(), w.clone());
                let guards_changed = h.1 != w2.1;
                let res = tokio::task::spawn_blocking(move || {
                    crate::netio::sync_routes(&cfg, &h.0, &w2.0);
                    if guards_changed {
                        crate::netio::run_nft(&crate::netio::nft_script(&cfg.tun_name, &w2.1))
                    } else {
                        Ok(())
                    }
                })
                .await;
                match res {
                    Ok(Err(e)) if nft_ok => {
                        warn!("inbound `require` not enforced for cleartext: {e}");
                        nft_ok = false;
                    }
                    Ok(Ok(())) if guards_changed => nft_ok = true,
                    _ => {}
                }
                have = w;
            }
        }
    }
}

async fn core_task(
    kernel: Kernel,
    mut ctl: mpsc::UnboundedReceiver<Cmd>,
    mut data: mpsc::Receiver<Cmd>,
    mut stop: watch::Receiver<bool>,
    net: Option<Net>,
    routes: Option<watch::Sender<HostState>>,
) {
    let mut core = Core {
        kernel,
        sinks: HashMap::new(),
        rng: StdRng::from_entropy(),
        pkt: PacketBuf::new(),
        gso: Vec::new(),
        gro: None,
        pending: Vec::new(),
        encap: None,
        tx: crate::txbatch::TxBatch::new(),
        tunw: None,
        tunb: crate::tunout::TunBatch::new(),
        sender: None,
        udp_buf: Vec::new(),
        rx: Vec::new(),
        routes,
        routes_gen: None,
    };
    if let Some(n) = &net {
        // Outbound ESP is encrypted per send batch (multi-buffer AES-CBC).
        core.kernel.set_batch_crypto(true);
        // `core` (and with it the thread, joined on drop) goes before `net`.
        match crate::txbatch::SendThread::spawn(n.tx_sockets()) {
            Ok(st) => core.sender = Some(st),
            Err(e) => warn!("no send thread ({e}); sending inline"),
        }
        match crate::tunout::TunThread::spawn(n.tun_fd()) {
            Ok(t) => core.tunw = Some(t),
            Err(e) => warn!("no TUN writer thread ({e}); writing inline"),
        }
    }
    let mut rot = 0usize;
    // Timers are checked on a fixed tick (SA lifetimes come from a deadline
    // heap; the tick also publishes route changes and bounds the work done
    // per message burst).
    let mut tick = tokio::time::interval(TIMER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            c = ctl.recv() => match c {
                Some(c) => core.handle(c, net.as_ref()),
                None => break,
            },
            Some(c) = data.recv() => core.handle(c, net.as_ref()),
            i = async {
                match &net {
                    Some(n) => net_ready(n, rot).await,
                    None => pending_forever().await,
                }
            } => {
                rot = rot.wrapping_add(1);
                if let Some(n) = &net {
                    core.drain(n, i);
                }
            }
            _ = tick.tick() => {
                core.sync_routes();
                let out = core.kernel.handle_timeout(now());
                if !out.is_empty() {
                    debug!(messages = out.len(), "timers fired");
                }
                core.deliver(None, out);
            }
        }
    }
}
