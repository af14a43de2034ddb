//! The tokio driver: sockets, signals, PF_KEY, admin socket, and the IKE
//! core behind [`core::IkeCore`]. tokio lives only here.
//!
//! Start-up order (racoon's, with the config parsed first so a bad config
//! exits 1 even without `-F`): root check, umask 077, parse config, detach
//! (unless `-F`), kernel backend (embedded engine or `ipsecd` socket),
//! REGISTER ESP/AH/IPCOMP (all failing = fatal), X_SPDDUMP, admin socket,
//! UDP listeners, pid file, main loop.

pub mod admin;
pub mod core;
pub mod creds;
pub mod hooks;
pub mod ike_core;
pub mod kernel;
pub mod limits;
pub mod log;
pub mod udp;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pfkey::{Message, MsgType, SaType};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, error, info, warn};

use self::core::{
    AdminError, CoreConfig, Establish, EstablishProto, Event, EventCode, Hook, IkeCore, KeyLog,
    LogLevel, NoIke, SpdImage,
};
use self::kernel::{KernelError, Link};
use crate::admin::EvtRecord;
use crate::cli::Args;

/// Environment variable (test-only!) that skips the root check so the test
/// suite can run the daemon unprivileged on high ports of 127.0.0.1.
pub const TEST_UNPRIVILEGED_ENV: &str = "RACOON_TEST_UNPRIVILEGED";

/// Seconds since the epoch.
pub fn wall_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Fatal start-up errors.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("must be root to invoke this program.")]
    NotRoot,
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("no PF_KEY REGISTER succeeded (ESP, AH and IPCOMP all failed)")]
    Register,
    #[error("admin socket {path}: {source}")]
    AdminSock {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no address to listen on")]
    NoListen,
    #[error("cannot write pid file {path}: {source}")]
    PidFile {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot detach: {0}")]
    Daemonize(std::io::Error),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot open log file: {0}")]
    Log(std::io::Error),
}

/// The pid file path as racoon derives it (relative → under /var/run).
pub fn pid_file_path(config: &conf::Config) -> PathBuf {
    let p = &config.paths.pidfile;
    if p.starts_with('/') {
        PathBuf::from(p)
    } else {
        Path::new("/var/run").join(p)
    }
}

fn abs(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Load the psk file a config names (missing/bad file: logged, `None`).
fn load_psk(config: &conf::Config) -> Option<Arc<conf::PskFile>> {
    let p = config.paths.pre_shared_key.as_ref()?;
    match conf::load_psk(Path::new(p)) {
        Ok(f) => Some(Arc::new(f)),
        Err(e) => {
            warn!("pre-shared key file: {e}");
            None
        }
    }
}

/// racoon's root check (skipped with `RACOON_TEST_UNPRIVILEGED=1`, for tests only).
pub fn check_root() -> Result<(), StartError> {
    let unprivileged = std::env::var_os(TEST_UNPRIVILEGED_ENV).is_some_and(|v| v == "1");
    // SAFETY: getuid has no preconditions.
    if !unprivileged && unsafe { libc::getuid() } != 0 {
        return Err(StartError::NotRoot);
    }
    Ok(())
}

/// Start the daemon (everything but `--check`/`-C`/`-V`); the caller has
/// done [`check_root`]. Returns the exit status.
pub fn run(args: &Args, config: conf::Config) -> i32 {
    // SAFETY: umask has no preconditions.
    unsafe { libc::umask(0o077) };
    let config_path = abs(&args.config);
    let logfile = args.logfile.as_deref().map(abs);
    if args.foreground {
        println!("Foreground mode.");
    } else if let Err(e) = engine::process::daemonize() {
        eprintln!("racoon: {}", StartError::Daemonize(e));
        return 1;
    }
    let level = log::effective_level(config.log, args.debug);
    if let Err(e) = log::init(level, logfile.as_deref(), args.foreground) {
        eprintln!("racoon: {}", StartError::Log(e));
        return 1;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("{}", StartError::Runtime(e));
            return 1;
        }
    };
    let opts = Opts {
        config_path,
        port: args.port,
        natt_port: args.natt_port,
        pfkey_socket: pfkey::socket_path(args.pfkey_socket.as_deref()),
        embedded: !args.no_embedded_engine,
        log_keys: args.log_keys_insecure,
        tun: (!args.no_dataplane).then(|| args.tun.clone()),
    };
    let code = rt.block_on(async move {
        match Daemon::start(opts, config).await {
            Ok(d) => d.run().await,
            Err(e) => {
                error!("{e}");
                1
            }
        }
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    code
}

struct Opts {
    config_path: PathBuf,
    port: Option<u16>,
    natt_port: Option<u16>,
    pfkey_socket: PathBuf,
    embedded: bool,
    log_keys: bool,
    /// TUN device of the embedded data plane (`None`: PF_KEY only).
    tun: Option<String>,
}

struct Daemon {
    opts: Opts,
    core: Box<dyn IkeCore>,
    link: Link,
    engine: Option<Arc<engine::io::EngineHandle>>,
    socks: Vec<udp::Sock>,
    spd: SpdImage,
    events: broadcast::Sender<EvtRecord>,
    ike_rx: mpsc::Receiver<udp::Datagram>,
    calls_rx: mpsc::Receiver<admin::Call>,
    admin_path: Option<PathBuf>,
    pid_path: PathBuf,
    pid: u32,
    stats: Arc<udp::Stats>,
    esp_drop: Arc<udp::CountAndDrop>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    scripts: Arc<std::sync::atomic::AtomicUsize>,
    listen: Vec<SocketAddr>,
    /// Half-open limits for new phase-1 negotiations.
    admission: limits::Admission,
    /// The current configuration (script hooks).
    config: Arc<conf::Config>,
    hooks: hooks::Hooks,
    /// Sequence numbers of the ACQUIREs made for `establish-sa esp|ah`.
    acquire_seq: u32,
    /// With a standalone engine: `Some(when to try)` while the PF_KEY
    /// connection is down (the engine restarted or died).
    reconnect_at: Option<tokio::time::Instant>,
    reconnect_tries: u32,
    /// SAs found in the SAD at start-up (a standalone engine that outlived a
    /// previous racoon): deleted once a new phase 1 with their peer is up,
    /// since that phase 1 announced INITIAL-CONTACT (see [`orphan_sas`]).
    orphans: Vec<Message>,
    /// PF_KEY requests of the driver itself, sent by `drain`.
    kernel_out: Vec<Message>,
    loglim: limits::LogLimiter,
}

/// Most hook scripts running at once.
const MAX_SCRIPTS: usize = 16;
/// A hook script is killed after this long.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

impl Daemon {
    async fn start(opts: Opts, config: conf::Config) -> Result<Daemon, StartError> {
        let pid = std::process::id();
        info!(
            "racoon-rs {} (IKEv1, racoon.conf compatible) starting",
            env!("CARGO_PKG_VERSION")
        );
        if opts.log_keys {
            warn!(
                "--log-keys-INSECURE: IKE and ESP keys WILL BE WRITTEN TO THE LOG; debugging only"
            );
        }
        // UDP sockets first: the embedded data plane reads the NAT-T one.
        let socks = bind_listeners(&config, &opts)?;
        let (ike_tx, ike_rx) = mpsc::channel(1024);
        let stats = Arc::new(udp::Stats::default());
        // With a single IPv4 NAT-T socket the data plane reads it (UDP_GRO,
        // batches) and sends ESP-in-UDP from it (UDP GSO); IKE comes back to
        // us through `IkeFromEngine`. Otherwise ESP-in-UDP is relayed.
        let shared_natt = match socks.iter().filter(|s| s.natt).collect::<Vec<_>>()[..] {
            [s] if s.local.is_ipv4() => Some(s.clone()),
            _ => None,
        };
        // Kernel backend.
        let mut fwmark = None;
        let (engine, mut link) = if opts.embedded {
            let mut ec = engine::io::Config::new(&opts.pfkey_socket);
            if let Some(tun) = &opts.tun {
                let mut dp = engine::netio::DataplaneConfig::new(tun.clone());
                dp.udp_encap_shared = shared_natt.as_ref().map(|s| engine::netio::SharedUdpEncap {
                    socket: s.tx.clone(),
                    non_esp: Arc::new(udp::IkeFromEngine {
                        ike: ike_tx.clone(),
                        stats: stats.clone(),
                    }),
                });
                fwmark = Some(dp.fwmark);
                ec.dataplane = Some(dp);
            }
            let h = match engine::io::Engine::spawn(ec.clone()) {
                Ok(h) => h,
                Err(e @ engine::io::Error::Dataplane(_)) => {
                    error!("{e}; continuing WITHOUT a data plane (PF_KEY only, no traffic is protected)");
                    fwmark = None;
                    ec.dataplane = None;
                    engine::io::Engine::spawn(ec).map_err(KernelError::from)?
                }
                Err(e) => return Err(KernelError::from(e).into()),
            };
            info!(
                "embedded IPsec engine; PF_KEY socket {}{}",
                opts.pfkey_socket.display(),
                match (&opts.tun, fwmark) {
                    (Some(t), Some(_)) => format!("; data plane on TUN {t}"),
                    _ => "; no data plane".to_string(),
                }
            );
            let link = Link::in_process(&h)?;
            (Some(Arc::new(h)), link)
        } else {
            let link = Link::socket(&opts.pfkey_socket).await?;
            info!("using the IPsec engine at {}", opts.pfkey_socket.display());
            (None, link)
        };
        // REGISTER; then the SPD.
        let mut pending = Vec::new();
        let ok = register(&mut link, pid, &mut pending).await;
        if ok == 0 {
            return Err(StartError::Register);
        }
        let mut spd = SpdImage::default();
        let dump = spd_dump(&mut link, pid, &mut pending).await;
        for m in &dump {
            spd.apply(m);
        }
        info!("{} policies in the SPD", spd.len());
        let orphans = orphan_sas(&mut link, pid, &mut pending).await;
        if !orphans.is_empty() {
            info!(
                "{} SA(s) in the SAD from before this start; each is deleted when a new phase 1 with its peer is up",
                orphans.len()
            );
        }

        // Admin socket.
        let (calls_tx, calls_rx) = mpsc::channel(64);
        let (events, _) = broadcast::channel(256);
        let mut tasks = Vec::new();
        let admin_path = match &config.listen.adminsock {
            conf::AdminSock::Disabled => None,
            conf::AdminSock::Path {
                path,
                owner,
                group,
                mode,
                ..
            } => {
                let p = PathBuf::from(path);
                let l = admin::bind(&p, *mode).map_err(|source| StartError::AdminSock {
                    path: path.clone(),
                    source,
                })?;
                chown_admin(&p, owner, group);
                tasks.push(tokio::spawn(admin::accept_task(
                    l,
                    admin::Shared {
                        calls: calls_tx.clone(),
                        events: events.clone(),
                        pfkey_path: opts.pfkey_socket.clone(),
                        pid,
                    },
                )));
                info!("admin socket {path}");
                Some(p)
            }
        };

        // UDP.
        // The data plane is up (fwmark set) and reads the shared socket.
        let engine_reads = match (&engine, fwmark, &shared_natt) {
            (Some(_), Some(_), Some(s)) => Some(s.local),
            _ => None,
        };
        let esp_drop = Arc::new(udp::CountAndDrop::default());
        // ESP-in-UDP goes to the embedded engine; with an external ipsecd
        // (which cannot share our port 4500) it is counted and dropped.
        let esp: Arc<dyn udp::EspInput> = match &engine {
            Some(h) => {
                let natt: Vec<udp::Sock> = socks.iter().filter(|s| s.natt).cloned().collect();
                h.attach_udp_encap(Arc::new(udp::EncapSender { socks: natt }));
                Arc::new(udp::EngineEsp(h.clone()))
            }
            None => esp_drop.clone(),
        };
        if let Some(mark) = fwmark {
            for s in &socks {
                if let Err(e) = udp::set_mark(s, mark) {
                    warn!("cannot set SO_MARK on {}: {e}", s.local);
                }
            }
        }
        for s in &socks {
            info!(
                "{} used as {} port",
                s.local,
                if s.natt { "NAT-T" } else { "isakmp" }
            );
            if engine_reads == Some(s.local) {
                info!("{} is read by the data plane (batched ESP-in-UDP)", s.local);
                continue;
            }
            tasks.push(tokio::spawn(udp::recv_task(
                s.clone(),
                ike_tx.clone(),
                esp.clone(),
                stats.clone(),
            )));
        }
        let listen: Vec<SocketAddr> = socks.iter().map(|s| s.local).collect();

        // The IKE core: ports from -p/-P, else from the sockets just bound.
        let psk = load_psk(&config);
        let ike_port = opts
            .port
            .or_else(|| socks.iter().find(|s| !s.natt).map(|s| s.local.port()))
            .unwrap_or(500);
        let natt_port = opts
            .natt_port
            .or_else(|| socks.iter().find(|s| s.natt).map(|s| s.local.port()))
            .unwrap_or(4500);
        let mut core: Box<dyn IkeCore> = if std::env::var_os("RACOON_NO_IKE").is_some() {
            // Test hook: the daemon without a protocol core.
            Box::new(NoIke::new(pid))
        } else {
            Box::new(ike_core::IkeEndpointCore::new(
                config.clone(),
                psk.as_deref(),
                pid,
                ike_port,
                natt_port,
                opts.log_keys,
            ))
        };
        let now = Instant::now();
        for m in dump.into_iter().chain(pending) {
            spd.apply(&m);
            core.handle_kernel(now, m);
        }

        // Pid file (a stale one is simply replaced).
        let pid_path = pid_file_path(&config);
        write_pid_file(&pid_path).map_err(|source| StartError::PidFile {
            path: pid_path.display().to_string(),
            source,
        })?;

        let admission = limits::Admission::new(&config);
        let config = Arc::new(config);
        let cc = CoreConfig {
            psk,
            config: config.clone(),
            listen: listen.clone(),
        };
        core.reload(now, cc);

        Ok(Daemon {
            opts,
            core,
            link,
            engine,
            socks,
            spd,
            events,
            ike_rx,
            calls_rx,
            admin_path,
            pid_path,
            pid,
            stats,
            esp_drop,
            tasks,
            scripts: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            listen,
            admission,
            config,
            hooks: hooks::Hooks::default(),
            acquire_seq: 0,
            reconnect_at: None,
            reconnect_tries: 0,
            orphans,
            kernel_out: Vec::new(),
            loglim: limits::LogLimiter::default(),
        })
    }

    async fn run(mut self) -> i32 {
        use tokio::signal::unix::{signal, SignalKind};
        let sigs = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
            signal(SignalKind::user_defined1()),
            signal(SignalKind::user_defined2()),
        );
        let (Ok(mut term), Ok(mut int), Ok(mut hup), Ok(mut usr1), Ok(mut usr2)) = sigs else {
            error!("cannot install signal handlers");
            self.cleanup().await;
            return 1;
        };
        info!("racoon-rs started (pid {})", self.pid);
        self.drain().await;
        loop {
            let deadline = self.core.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = term.recv() => { info!("caught signal 15"); break; }
                _ = int.recv() => { info!("caught signal 2"); break; }
                _ = hup.recv() => { self.reload().await; }
                _ = usr1.recv() => info!("caught signal 10 (ignored)"),
                _ = usr2.recv() => info!("caught signal 12 (ignored)"),
                d = self.ike_rx.recv() => if let Some(d) = d {
                    self.datagram(d);
                },
                m = self.link.rx.recv(), if self.reconnect_at.is_none() => match m {
                    Some(m) => {
                        self.spd.apply(&m);
                        self.core.handle_kernel(Instant::now(), m);
                    }
                    None if self.engine.is_some() => { error!("the PF_KEY connection closed"); break; }
                    None => {
                        error!("the PF_KEY connection to the engine at {} closed; reconnecting", self.opts.pfkey_socket.display());
                        self.reconnect_at = Some(tokio::time::Instant::now() + Duration::from_millis(200));
                        self.reconnect_tries = 0;
                    }
                },
                _ = sleep_until_opt(self.reconnect_at) => self.reconnect().await,
                c = self.calls_rx.recv() => match c {
                    Some(admin::Call::Core(f)) => f(self.core.as_mut(), Instant::now()),
                    Some(admin::Call::EstablishPh2(req, tx)) => { let r = self.establish_ph2(&req); let _ = tx.send(r); }
                    Some(admin::Call::Reload(tx)) => { let ok = self.reload().await; let _ = tx.send(ok); }
                    None => {}
                },
                _ = sleep => self.core.handle_timeout(Instant::now()),
            }
            self.drain().await;
        }
        self.shutdown().await;
        0
    }

    /// The standalone engine went away: connect again, REGISTER, re-read the
    /// SPD, and drop every phase 1 and 2 (DELETEs to the peers: their SAs
    /// with us are gone with the engine's SAD), so traffic renegotiates.
    async fn reconnect(&mut self) {
        let mut link = match Link::socket(&self.opts.pfkey_socket).await {
            Ok(l) => l,
            Err(e) => {
                self.reconnect_tries = self.reconnect_tries.saturating_add(1);
                if self.reconnect_tries.is_power_of_two() {
                    warn!("engine not back yet ({} tries): {e}", self.reconnect_tries);
                }
                let wait = Duration::from_millis(500 * u64::from(self.reconnect_tries.min(10)));
                self.reconnect_at = Some(tokio::time::Instant::now() + wait);
                return;
            }
        };
        let mut pending = Vec::new();
        if register(&mut link, self.pid, &mut pending).await == 0 {
            warn!("engine reconnected but REGISTER failed; retrying");
            self.reconnect_at = Some(tokio::time::Instant::now() + Duration::from_secs(1));
            return;
        }
        self.link = link;
        self.reconnect_at = None;
        let now = Instant::now();
        let peers: std::collections::BTreeSet<std::net::IpAddr> = self
            .core
            .phase1_sas()
            .iter()
            .map(|p| p.remote.ip())
            .collect();
        for peer in &peers {
            let _ = self.core.delete_peer(now, None, *peer);
        }
        let dump = spd_dump(&mut self.link, self.pid, &mut pending).await;
        self.spd = SpdImage::default();
        for m in dump.into_iter().chain(pending) {
            self.spd.apply(&m);
            self.core.handle_kernel(now, m);
        }
        info!(
            "reconnected to the engine after {} tries: {} policies; SAs with {} peer(s) dropped, renegotiated on demand",
            self.reconnect_tries + 1,
            self.spd.len(),
            peers.len()
        );
    }

    /// A phase 1 with `peer` is up: DELETE the SAs with it that were in the
    /// SAD before we started (their keys died with the previous racoon; the
    /// peer drops its side on our INITIAL-CONTACT).
    fn purge_orphans(&mut self, peer: std::net::IpAddr) {
        if self.orphans.is_empty() {
            return;
        }
        let (gone, keep): (Vec<Message>, Vec<Message>) = std::mem::take(&mut self.orphans)
            .into_iter()
            .partition(|m| {
                m.addr_src().is_some_and(|a| a.addr.ip() == peer)
                    || m.addr_dst().is_some_and(|a| a.addr.ip() == peer)
            });
        self.orphans = keep;
        for m in &gone {
            let (Some(sa), Some(src), Some(dst)) = (m.sa(), m.addr_src(), m.addr_dst()) else {
                continue;
            };
            info!(
                peer = %peer,
                "deleting SA spi=0x{:08x} {} -> {} left from before this start",
                sa.spi,
                src.addr.ip(),
                dst.addr.ip()
            );
            self.kernel_out.push(
                Message::new(MsgType::DELETE, m.header.satype)
                    .with_pid(self.pid)
                    .with(pfkey::Extension::Sa(pfkey::Sa {
                        spi: sa.spi,
                        ..pfkey::Sa::default()
                    }))
                    .with(pfkey::Extension::AddressSrc(*src))
                    .with(pfkey::Extension::AddressDst(*dst)),
            );
        }
    }

    /// `racoonctl establish-sa esp|ah SRC DST [ULPROTO]`: find the outbound
    /// ipsec policy with exactly these selectors (else one whose selectors
    /// contain both addresses) and hand the core an ACQUIRE for it, as the
    /// kernel would on the first packet.
    fn establish_ph2(&mut self, req: &Establish) -> Result<(), AdminError> {
        let any = |p: u8| p == 0 || p == pfkey::IPSEC_ULPROTO_ANY;
        let proto_ok = |a: &pfkey::Address| any(req.ul_proto) || a.proto == req.ul_proto;
        let exact = |m: &&Message| {
            let (Some(s), Some(d)) = (m.addr_src(), m.addr_dst()) else {
                return false;
            };
            s.addr.ip() == req.src.ip()
                && d.addr.ip() == req.dst.ip()
                && s.prefixlen == req.prefs
                && d.prefixlen == req.prefd
                && proto_ok(s)
        };
        let contains = |m: &&Message| {
            let (Some(s), Some(d)) = (m.addr_src(), m.addr_dst()) else {
                return false;
            };
            in_prefix(req.src.ip(), s.addr.ip(), s.prefixlen)
                && in_prefix(req.dst.ip(), d.addr.ip(), d.prefixlen)
                && proto_ok(s)
        };
        let pol = self
            .spd
            .ipsec_policies(pfkey::Dir::OUT)
            .find(exact)
            .or_else(|| self.spd.ipsec_policies(pfkey::Dir::OUT).find(contains))
            .cloned()
            .ok_or(AdminError::NotFound)?;
        let (Some(p), Some(s), Some(d)) = (pol.policy(), pol.addr_src(), pol.addr_dst()) else {
            return Err(AdminError::NotFound);
        };
        let mut xp = pfkey::Policy::new(pfkey::PolicyType::IPSEC, pfkey::Dir::OUT);
        xp.id = p.id;
        let satype = if req.proto == EstablishProto::Ah {
            SaType::AH
        } else {
            SaType::ESP
        };
        self.acquire_seq = self.acquire_seq.wrapping_add(1);
        let acq = Message::new(MsgType::ACQUIRE, satype)
            .with_seq(0x4000_0000 | (self.acquire_seq & 0x3fff_ffff))
            .with(pfkey::Extension::AddressSrc(*s))
            .with(pfkey::Extension::AddressDst(*d))
            .with(pfkey::Extension::Policy(xp));
        info!(
            "establish-sa {}: policy id {} {} -> {}",
            satype, p.id, req.src, req.dst
        );
        self.core.handle_kernel(Instant::now(), acq);
        Ok(())
    }

    /// An IKE datagram: new phase-1 initiations pass the half-open limits first.
    fn datagram(&mut self, d: udp::Datagram) {
        let now = Instant::now();
        if let Some(icookie) = limits::new_initiation(&d.data) {
            let waited = now.saturating_duration_since(d.received);
            if self.admission.shed(d.remote.ip(), waited) {
                let n = self.admission.shed;
                if n.is_power_of_two() {
                    warn!(
                        "overloaded: new phase 1 negotiations from unconfigured peers waited {} ms > {} ms; dropped ({n} so far)",
                        waited.as_millis(),
                        limits::MAX_QUEUE_DELAY.as_millis()
                    );
                }
                return;
            }
            let sas = self.core.phase1_sas();
            match self.admission.decide(d.remote.ip(), icookie, &sas) {
                limits::Verdict::Pass => {}
                limits::Verdict::Drop => {
                    let n = self.admission.dropped;
                    if n.is_power_of_two() {
                        warn!(
                            peer = %d.remote.ip(),
                            "too many half-open phase 1 negotiations from this peer (limit {}); new ones dropped ({n} so far)",
                            limits::MAX_HALF_OPEN_PER_PEER
                        );
                    }
                    return;
                }
                limits::Verdict::Evict(icookie, victim) => {
                    let n = self.admission.evicted;
                    if n.is_power_of_two() {
                        warn!(
                            "half-open phase 1 limits: evicting the oldest negotiation ({victim}) ({n} evictions so far)"
                        );
                    }
                    self.core.drop_half_open(icookie, victim);
                }
            }
        }
        self.core.handle_datagram(now, d.local, d.remote, &d.data);
    }

    /// Empty the core's queues: datagrams, PF_KEY requests, events.
    async fn drain(&mut self) {
        // Bounded per round so a misbehaving core cannot starve the loop.
        for _ in 0..100_000 {
            let mut progress = false;
            while let Some(t) = self.core.poll_transmit() {
                udp::send_ike(&self.socks, t.local, t.remote, &t.data);
                progress = true;
            }
            while let Some(mut m) = self.core.poll_kernel() {
                if m.header.pid == 0 {
                    m.header.pid = self.pid;
                }
                if self.link.send(m).await.is_err() {
                    warn!("PF_KEY link closed; request dropped");
                }
                progress = true;
            }
            while let Some(e) = self.core.poll_event() {
                self.event(e);
                progress = true;
            }
            for m in std::mem::take(&mut self.kernel_out) {
                if self.link.send(m).await.is_err() {
                    warn!("PF_KEY link closed; request dropped");
                }
                progress = true;
            }
            if !progress {
                break;
            }
        }
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::Log { level, peer, text } => {
                if level < LogLevel::Debug && !self.log_admit() {
                    return;
                }
                let peer = peer.map(|p| p.to_string());
                let peer = peer.as_deref();
                match log::to_tracing(level) {
                    tracing::Level::ERROR => error!(peer, "{text}"),
                    tracing::Level::WARN => warn!(peer, "{text}"),
                    tracing::Level::INFO => info!(peer, "{text}"),
                    tracing::Level::DEBUG => debug!(peer, "{text}"),
                    _ => tracing::trace!(peer, "{text}"),
                }
            }
            Event::Status {
                code,
                local,
                remote,
                ph2_msgid,
            } => {
                if code == EventCode::PHASE1_DOWN && remote.is_some_and(|r| !self.hooks.was_up(r)) {
                    // A half-open negotiation went away (timed out, evicted
                    // by the half-open limits): no phase 1 was down.
                    return;
                }
                if let Some(t) = code.text().filter(|_| self.log_admit()) {
                    let peer = remote.map(|r| r.ip().to_string());
                    info!(peer = peer.as_deref(), "{t}");
                }
                let hook = match code {
                    EventCode::PHASE1_UP => Some(Hook::Phase1Up),
                    EventCode::PHASE1_DOWN => Some(Hook::Phase1Down),
                    EventCode::PHASE1_DPD_TIMEOUT => Some(Hook::Phase1Dead),
                    _ => None,
                };
                if let (EventCode::PHASE1_UP, Some(r)) = (code, remote) {
                    self.purge_orphans(r.ip());
                }
                if let (Some(hook), Some(r)) = (hook, remote) {
                    let config = self.config.clone();
                    for (h, path, env) in self.hooks.runs(&config, hook, local, r) {
                        self.run_script(h, path, env);
                    }
                }
                let _ = self.events.send(EvtRecord {
                    code: code.0,
                    timestamp: wall_secs(),
                    src: local,
                    dst: remote,
                    ph2_msgid,
                });
            }
            Event::KeyLog(k) => {
                if self.opts.log_keys {
                    warn!("{}", keylog_line(&k));
                }
            }
            Event::Script { hook, path, env } => self.run_script(hook, path, env),
        }
    }

    /// The core's log rate limit; reports suppressed lines once per second.
    fn log_admit(&mut self) -> bool {
        let (ok, suppressed) = self.loglim.admit(Instant::now());
        if suppressed > 0 {
            warn!(
                "{suppressed} log lines suppressed (more than {} a second)",
                limits::LOG_LINES_PER_SEC
            );
        }
        ok
    }

    fn run_script(&self, hook: Hook, path: String, env: Vec<(String, String)>) {
        use std::sync::atomic::Ordering;
        if self.scripts.load(Ordering::Relaxed) >= MAX_SCRIPTS {
            warn!("too many hook scripts running; not running {path}");
            return;
        }
        let name = hooks::name(hook);
        info!("running script {path} {name}");
        let mut cmd = tokio::process::Command::new(&path);
        // racoon: argv[1] = the event, only its own variables in the environment
        cmd.arg(name)
            .env_clear()
            .envs(env)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        match cmd.spawn() {
            Ok(mut child) => {
                let n = self.scripts.clone();
                n.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    match tokio::time::timeout(SCRIPT_TIMEOUT, child.wait()).await {
                        Ok(Ok(st)) if !st.success() => warn!("script {path} {name}: {st}"),
                        Ok(_) => {}
                        Err(_) => {
                            warn!("script {path} {name} timed out; killed");
                            let _ = child.kill().await;
                        }
                    }
                    n.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Err(e) => error!("script {path} {name}: {e}"),
        }
    }

    /// SIGHUP / reload-config. Returns whether the new config parsed.
    async fn reload(&mut self) -> bool {
        info!(
            "reloading configuration {}",
            self.opts.config_path.display()
        );
        let parsed = match conf::load(&self.opts.config_path) {
            Ok(p) => p,
            Err(d) => {
                for line in d.render().lines() {
                    error!("{line}");
                }
                error!("failed to parse configuration file.");
                return false;
            }
        };
        for line in parsed.warnings.render().lines() {
            warn!("{line}");
        }
        let config = parsed.config;
        let mut pending = Vec::new();
        let dump = spd_dump(&mut self.link, self.pid, &mut pending).await;
        let now = Instant::now();
        self.spd = SpdImage::default();
        for m in dump.into_iter().chain(pending) {
            self.spd.apply(&m);
            self.core.handle_kernel(now, m);
        }
        self.admission.reload(&config);
        self.config = Arc::new(config);
        let cc = CoreConfig {
            psk: load_psk(&self.config),
            config: self.config.clone(),
            listen: self.listen.clone(),
        };
        self.core.reload(now, cc);
        info!("configuration reloaded");
        true
    }

    async fn shutdown(mut self) {
        let now = Instant::now();
        self.core.shutdown(now);
        self.drain().await;
        let _ = self.events.send(EvtRecord {
            code: EventCode::RACOON_QUIT.0,
            timestamp: wall_secs(),
            src: None,
            dst: None,
            ph2_msgid: 0,
        });
        // FLUSH every SA (manual ones too), as racoon does.
        let flush = Message::new(MsgType::FLUSH, SaType::UNSPEC)
            .with_seq(0x7fff_fff0)
            .with_pid(self.pid);
        let mut ignore = Vec::new();
        match self
            .link
            .request(flush, Duration::from_secs(2), &mut ignore)
            .await
        {
            Ok(_) => debug!("SAs flushed"),
            Err(e) => warn!("pfkey FLUSH failed: {e}"),
        }
        use std::sync::atomic::Ordering::Relaxed;
        info!(
            "IKE datagrams {} ({} dropped on a full queue), NAT-T keepalives {}, junk {}, half-open limit: {} dropped, {} evicted, {} shed, log lines suppressed {}{}",
            self.stats.ike.load(Relaxed),
            self.stats.ike_dropped.load(Relaxed),
            self.stats.keepalives.load(Relaxed),
            self.stats.junk.load(Relaxed),
            self.admission.dropped,
            self.admission.evicted,
            self.admission.shed,
            self.loglim.total_suppressed,
            if self.engine.is_none() {
                format!(
                    ", ESP-in-UDP dropped (external engine) {}",
                    self.esp_drop.0.load(Relaxed)
                )
            } else {
                String::new()
            }
        );
        self.cleanup().await;
        info!("racoon-rs shutdown");
    }

    async fn cleanup(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.socks.clear();
        if let Some(p) = &self.admin_path {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_file(&self.pid_path);
        if let Some(mut e) = self.engine.take() {
            // The receive tasks hold references; they are aborted above and
            // release them as soon as the runtime drops their futures.
            for _ in 0..100 {
                match Arc::try_unwrap(e) {
                    Ok(h) => {
                        h.shutdown().await;
                        return;
                    }
                    Err(again) => e = again,
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            warn!("engine still referenced; removing its socket");
            drop(e);
            let _ = std::fs::remove_file(&self.opts.pfkey_socket);
        }
    }
}

/// The SAs already in the SAD at start-up (DUMP; bounded by what the engine
/// sends). With the embedded engine there are none; a standalone `ipsecd`
/// may hold SAs of a previous racoon that was killed.
async fn orphan_sas(link: &mut Link, pid: u32, pending: &mut Vec<Message>) -> Vec<Message> {
    let m = Message::new(MsgType::DUMP, SaType::UNSPEC)
        .with_seq(0)
        .with_pid(pid);
    match link.request(m, Duration::from_secs(5), pending).await {
        Ok(r) => r
            .into_iter()
            .filter(|m| {
                m.header.errno == 0
                    && m.header.msg_type == MsgType::DUMP
                    && m.sa().is_some()
                    && m.addr_src().is_some()
                    && m.addr_dst().is_some()
            })
            .take(1 << 16)
            .collect(),
        Err(e) => {
            warn!("pfkey DUMP failed: {e}");
            Vec::new()
        }
    }
}

/// REGISTER ESP, AH and IPCOMP; returns how many succeeded.
async fn register(link: &mut Link, pid: u32, pending: &mut Vec<Message>) -> usize {
    let mut ok = 0;
    for (i, t) in [SaType::ESP, SaType::AH, SaType::IPCOMP]
        .into_iter()
        .enumerate()
    {
        let m = Message::new(MsgType::REGISTER, t)
            .with_seq(i as u32 + 1)
            .with_pid(pid);
        match link.request(m, Duration::from_secs(5), pending).await {
            Ok(r) if r.first().is_some_and(|m| m.header.errno == 0) => ok += 1,
            Ok(r) => warn!(
                "pfkey REGISTER {} failed: {}",
                t,
                r.first().map_or(0, |m| m.header.errno)
            ),
            Err(e) => warn!("pfkey REGISTER {t} failed: {e}"),
        }
    }
    ok
}

/// X_SPDDUMP; an empty SPD (ENOENT) is logged at debug.
async fn spd_dump(link: &mut Link, pid: u32, pending: &mut Vec<Message>) -> Vec<Message> {
    let m = Message::new(MsgType::X_SPDDUMP, SaType::UNSPEC)
        .with_seq(0)
        .with_pid(pid);
    match link.request(m, Duration::from_secs(5), pending).await {
        Ok(r) => match r.first().map(|m| m.header.errno) {
            Some(0) => r,
            Some(2) => {
                debug!("pfkey X_SPDDUMP: empty SPD");
                Vec::new()
            }
            Some(e) => {
                warn!("pfkey X_SPDDUMP failed: {}", setkey_rs::run::strerror(e));
                Vec::new()
            }
            None => Vec::new(),
        },
        Err(e) => {
            warn!("pfkey X_SPDDUMP failed: {e}");
            Vec::new()
        }
    }
}

fn write_pid_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension("pid.tmp");
    std::fs::write(&tmp, format!("{}\n", std::process::id()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&tmp, path)
}

fn resolve_id(n: &conf::NameOrId, user: bool) -> Option<u32> {
    match n {
        conf::NameOrId::Id(i) => Some(*i),
        conf::NameOrId::Name(s) => {
            let c = std::ffi::CString::new(s.as_str()).ok()?;
            // SAFETY: called at start-up; the returned record is read at once.
            unsafe {
                if user {
                    let p = libc::getpwnam(c.as_ptr());
                    (!p.is_null()).then(|| (*p).pw_uid)
                } else {
                    let g = libc::getgrnam(c.as_ptr());
                    (!g.is_null()).then(|| (*g).gr_gid)
                }
            }
        }
    }
}

fn chown_admin(path: &Path, owner: &conf::NameOrId, group: &conf::NameOrId) {
    let (Some(u), Some(g)) = (resolve_id(owner, true), resolve_id(group, false)) else {
        warn!("admin socket: unknown owner or group");
        return;
    };
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return; // test mode: cannot chown, keep our own ids
    }
    if let Err(e) = std::os::unix::fs::chown(path, Some(u), Some(g)) {
        warn!("admin socket chown: {e}");
    }
}

/// What to bind: the `listen` block's addresses (with `-p`/`-P` replacing
/// the ports), or every interface address on 500 and 4500.
fn bind_listeners(config: &conf::Config, opts: &Opts) -> Result<Vec<udp::Sock>, StartError> {
    let port = opts.port.unwrap_or(500);
    let natt_port = opts.natt_port.unwrap_or(4500);
    let mut want: Vec<(SocketAddr, bool)> = Vec::new();
    if config.listen.addrs.is_empty() {
        for a in udp::interface_addrs() {
            want.push((SocketAddr::new(a.ip(), port), false));
            want.push((SocketAddr::new(a.ip(), natt_port), true));
            if let SocketAddr::V6(v6) = a {
                if v6.scope_id() != 0 {
                    want.truncate(want.len() - 2);
                    let mk = |p| {
                        SocketAddr::V6(std::net::SocketAddrV6::new(*v6.ip(), p, 0, v6.scope_id()))
                    };
                    want.push((mk(port), false));
                    want.push((mk(natt_port), true));
                }
            }
        }
    } else {
        for l in &config.listen.addrs {
            let p = match (l.natt, opts.port, opts.natt_port) {
                (false, Some(p), _) | (true, _, Some(p)) => p,
                _ => l.addr.port,
            };
            let ip = l.addr.addr.ip;
            let sa = match (ip, &l.addr.addr.scope) {
                (std::net::IpAddr::V6(v6), Some(s)) => {
                    let idx = std::ffi::CString::new(s.as_str())
                        // SAFETY: valid NUL-terminated name.
                        .map(|c| unsafe { libc::if_nametoindex(c.as_ptr()) })
                        .unwrap_or(0);
                    SocketAddr::V6(std::net::SocketAddrV6::new(v6, p, 0, idx))
                }
                _ => SocketAddr::new(ip, p),
            };
            want.push((sa, l.natt));
        }
    }
    let mut socks = Vec::new();
    for (a, natt) in want {
        match udp::bind(a, natt) {
            Ok(s) => socks.push(s),
            Err(source) if config.listen.strict_address => {
                return Err(StartError::Bind { addr: a, source })
            }
            Err(e) => warn!("cannot bind {a}: {e} (skipped)"),
        }
    }
    if socks.is_empty() {
        return Err(StartError::NoListen);
    }
    Ok(socks)
}

/// Sleep until `at`, or forever.
async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Whether `ip` lies in `net/len`.
fn in_prefix(ip: std::net::IpAddr, net: std::net::IpAddr, len: u8) -> bool {
    use std::net::IpAddr::{V4, V6};
    match (ip, net) {
        (V4(a), V4(n)) => {
            let l = u32::from(len.min(32));
            let mask = if l == 0 { 0 } else { u32::MAX << (32 - l) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (V6(a), V6(n)) => {
            let l = u32::from(len.min(128));
            let mask = if l == 0 { 0 } else { u128::MAX << (128 - l) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Wireshark's names for the esp_sa table.
fn ws_enc(name: &str) -> &str {
    match name {
        "aes-cbc" | "rijndael-cbc" => "AES-CBC [RFC3602]",
        "3des-cbc" => "TripleDES-CBC [RFC2451]",
        "des-cbc" => "DES-CBC [RFC2405]",
        "aes-ctr" => "AES-CTR [RFC3686]",
        "aes-gcm-8" => "AES-GCM with 8 octet ICV [RFC4106]",
        "aes-gcm-12" => "AES-GCM with 12 octet ICV [RFC4106]",
        "aes-gcm-16" => "AES-GCM with 16 octet ICV [RFC4106]",
        "null" => "NULL",
        other => other,
    }
}

fn ws_auth(name: &str) -> &str {
    match name {
        "hmac-sha1" => "HMAC-SHA-1-96 [RFC2404]",
        "hmac-md5" => "HMAC-MD5-96 [RFC2403]",
        "hmac-sha256" => "HMAC-SHA-256-128 [RFC4868]",
        "hmac-sha384" => "HMAC-SHA-384-192 [RFC4868]",
        "hmac-sha512" => "HMAC-SHA-512-256 [RFC4868]",
        "none" | "null" => "NULL",
        other => other,
    }
}

/// The `--log-keys-INSECURE` line: Wireshark UAT rows
/// (`ikev1_decryption_table`, `esp_sa`).
pub fn keylog_line(k: &KeyLog) -> String {
    match k {
        // byte fields are unquoted hex in Wireshark's UAT syntax (quoted, tshark refuses the
        // row: "Length of Initiator's COOKIE must be 8 octets")
        KeyLog::Ike { icookie, enc_key } => format!(
            "KEYLOG-INSECURE ikev1_decryption_table: {},{}",
            hex(icookie),
            hex(enc_key)
        ),
        KeyLog::Esp {
            spi,
            src,
            dst,
            enc_alg,
            enc_key,
            auth_alg,
            auth_key,
        } => format!(
            "KEYLOG-INSECURE esp_sa: \"{}\",\"{src}\",\"{dst}\",\"0x{spi:08x}\",\"{}\",\"0x{}\",\"{}\",\"0x{}\"",
            if src.is_ipv4() { "IPv4" } else { "IPv6" },
            ws_enc(enc_alg),
            hex(enc_key),
            ws_auth(auth_alg),
            hex(auth_key)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    #[test]
    fn keylog_lines_are_wireshark_rows() {
        let l = keylog_line(&KeyLog::Ike {
            icookie: [1, 2, 3, 4, 5, 6, 7, 8],
            enc_key: Zeroizing::new(vec![0xab; 4]),
        });
        assert_eq!(
            l,
            "KEYLOG-INSECURE ikev1_decryption_table: 0102030405060708,abababab"
        );
        let l = keylog_line(&KeyLog::Esp {
            spi: 0x1234,
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            enc_alg: "aes-cbc".into(),
            enc_key: Zeroizing::new(vec![0x11; 2]),
            auth_alg: "hmac-sha256".into(),
            auth_key: Zeroizing::new(vec![0x22; 2]),
        });
        assert_eq!(
            l,
            "KEYLOG-INSECURE esp_sa: \"IPv4\",\"192.0.2.1\",\"192.0.2.2\",\"0x00001234\",\"AES-CBC [RFC3602]\",\"0x1111\",\"HMAC-SHA-256-128 [RFC4868]\",\"0x2222\""
        );
        // AES-GCM-16 (racoon.conf aes_gcm_16): key + salt, no authentication
        let l = keylog_line(&KeyLog::Esp {
            spi: 0x1234,
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            enc_alg: "aes-gcm-16".into(),
            enc_key: Zeroizing::new(vec![0x11; 2]),
            auth_alg: "none".into(),
            auth_key: Zeroizing::new(vec![]),
        });
        assert!(
            l.ends_with("\"AES-GCM with 16 octet ICV [RFC4106]\",\"0x1111\",\"NULL\",\"0x\""),
            "{l}"
        );
        // Debug never shows keys.
        let d = format!(
            "{:?}",
            KeyLog::Ike {
                icookie: [0; 8],
                enc_key: Zeroizing::new(vec![0x5a; 4])
            }
        );
        assert!(!d.contains("5a5a") && !d.contains("90"), "{d}");
    }

    #[test]
    fn prefixes() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(in_prefix(ip("198.51.100.1"), ip("198.51.100.0"), 26));
        assert!(!in_prefix(ip("198.51.100.65"), ip("198.51.100.0"), 26));
        assert!(in_prefix(ip("203.0.113.7"), ip("0.0.0.0"), 0));
        assert!(in_prefix(ip("2001:db8::1"), ip("2001:db8::"), 64));
        assert!(!in_prefix(ip("2001:db9::1"), ip("2001:db8::"), 32));
        assert!(!in_prefix(ip("2001:db8::1"), ip("198.51.100.0"), 0));
    }

    #[test]
    fn pid_file_paths() {
        let mut c = conf::Config::default();
        assert_eq!(pid_file_path(&c), PathBuf::from("/var/run/racoon.pid"));
        c.paths.pidfile = "x.pid".into();
        assert_eq!(pid_file_path(&c), PathBuf::from("/var/run/x.pid"));
    }
}
