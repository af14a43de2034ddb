//! `ipsecd`: the standalone userspace IPsec engine serving the PF_KEY socket.
//!
//! ```text
//! ipsecd [-F] [-d]... [-p PIDFILE] [--pfkey-socket PATH] [--log stderr|syslog]
//!        [--tun NAME [--mtu N] [--route-table N] [--fwmark N] [--no-routes]]
//!        [--udp-encap-port PORT]
//! ```
//! With `--tun` the engine carries traffic: it creates the TUN device, a
//! routing rule (`not fwmark MARK lookup TABLE`) and one route per outbound
//! `ipsec` policy (see `engine::netio`). `--udp-encap-port 4500` makes ipsecd
//! own the ESP-in-UDP socket for manual keying; racoon then cannot bind 4500
//! itself (racoon-rs embeds the engine and owns the port instead).
//! SIGUSR1 logs the data-plane counters as one `stats:` line.
//! Without `-F` it detaches (double fork, new session, stdio on /dev/null)
//! and writes its pid file. SIGTERM and SIGINT stop it cleanly: the socket and
//! pid files are removed and it exits 0.

use std::ffi::CString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use engine::io::{Config, Engine};
use tracing::{error, info};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogTarget {
    Stderr,
    Syslog,
}

#[derive(Debug, Parser)]
#[command(
    name = "ipsecd",
    version,
    about = "Userspace IPsec engine (PF_KEY v2 server)"
)]
struct Args {
    /// Stay in the foreground (and log to stderr unless --log says otherwise).
    #[arg(short = 'F', long)]
    foreground: bool,
    /// More logging (-d debug, -dd trace).
    #[arg(short = 'd', action = clap::ArgAction::Count)]
    debug: u8,
    /// Pid file written after detaching.
    #[arg(short = 'p', long, default_value = "/run/racoon-rs/ipsecd.pid")]
    pid_file: PathBuf,
    /// PF_KEY socket path [env: PFKEY_SOCKET; default: /run/racoon-rs/pfkey.sock].
    #[arg(long, value_name = "PATH")]
    pfkey_socket: Option<PathBuf>,
    /// Where logs go (default: stderr with -F, syslog otherwise).
    #[arg(long, value_enum)]
    log: Option<LogTarget>,
    /// Carry traffic through this TUN device (created by ipsecd).
    #[arg(long, value_name = "NAME")]
    tun: Option<String>,
    /// MTU of the TUN device.
    #[arg(long, default_value_t = 1400, requires = "tun")]
    mtu: u16,
    /// Routing table for the per-policy routes (also the rule preference).
    #[arg(long, default_value_t = engine::netio::DEFAULT_TABLE, requires = "tun")]
    route_table: u32,
    /// Firewall mark of the engine's own sockets (they skip the table).
    #[arg(long, default_value_t = engine::netio::DEFAULT_FWMARK, value_parser = parse_u32, requires = "tun")]
    fwmark: u32,
    /// Do not install the routing rule and routes.
    #[arg(long, requires = "tun")]
    no_routes: bool,
    /// Own this UDP port for ESP-in-UDP (RFC 3948), e.g. 4500.
    #[arg(long, value_name = "PORT")]
    udp_encap_port: Option<u16>,
}

fn parse_u32(s: &str) -> Result<u32, String> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|e| e.to_string())
}

/// ESP-in-UDP sender over ipsecd's own socket.
struct UdpTx(std::net::UdpSocket);

impl engine::io::UdpEncapTx for UdpTx {
    fn send_to(
        &self,
        data: &[u8],
        _local: std::net::SocketAddr,
        remote: std::net::SocketAddr,
    ) -> std::io::Result<()> {
        self.0.send_to(data, remote).map(|_| ())
    }
}

/// Reads ESP-in-UDP datagrams and hands them to the engine.
async fn udp_encap_task(
    sock: std::net::UdpSocket,
    port: u16,
    handle: std::sync::Arc<engine::io::EngineHandle>,
) {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    let sock = match tokio::net::UdpSocket::from_std(sock) {
        Ok(s) => s,
        Err(e) => {
            error!("UDP {port}: {e}");
            return;
        }
    };
    let mut buf = vec![0u8; 65536];
    loop {
        let r = sock
            .async_io(tokio::io::Interest::READABLE, || {
                engine::netio::recv_pktinfo(fd, &mut buf)
            })
            .await;
        match r {
            Ok((n, remote, local)) => {
                let local = std::net::SocketAddr::new(
                    local.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
                    port,
                );
                handle.udp_encap_input(&buf[..n], local, remote);
            }
            Err(e) => {
                tracing::debug!("UDP {port}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// A tracing writer that hands each formatted event to syslog(3).
#[derive(Clone, Copy)]
struct Syslog;

struct SyslogLine {
    prio: libc::c_int,
    buf: Vec<u8>,
}

impl Write for SyslogLine {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        // bounded: one event's text
        if self.buf.len() < 8192 {
            self.buf
                .extend_from_slice(&b[..b.len().min(8192 - self.buf.len())]);
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        let text: Vec<u8> = self
            .buf
            .iter()
            .copied()
            .filter(|&c| c != 0 && c != b'\n')
            .collect();
        if let Ok(c) = CString::new(text) {
            // SAFETY: both pointers are valid NUL-terminated strings for the call.
            unsafe { libc::syslog(self.prio, c"%s".as_ptr(), c.as_ptr()) };
        }
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine;

    fn make_writer(&'a self) -> SyslogLine {
        SyslogLine {
            prio: libc::LOG_INFO,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> SyslogLine {
        let prio = match *meta.level() {
            tracing::Level::ERROR => libc::LOG_ERR,
            tracing::Level::WARN => libc::LOG_WARNING,
            tracing::Level::INFO => libc::LOG_INFO,
            _ => libc::LOG_DEBUG,
        };
        SyslogLine {
            prio,
            buf: Vec::new(),
        }
    }
}

fn init_logging(args: &Args) {
    let level = match args.debug {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("IPSECD_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let target = args.log.unwrap_or(if args.foreground {
        LogTarget::Stderr
    } else {
        LogTarget::Syslog
    });
    match target {
        LogTarget::Stderr => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init(),
        LogTarget::Syslog => {
            // SAFETY: the ident is a static NUL-terminated string.
            unsafe { libc::openlog(c"ipsecd".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(false)
                .without_time()
                .with_writer(Syslog)
                .init()
        }
    }
}

fn write_pid_file(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, format!("{}\n", std::process::id()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let socket = pfkey::socket_path(args.pfkey_socket.as_deref());
    // Relative paths would break after chdir("/").
    let socket = std::path::absolute(&socket).unwrap_or(socket);
    let pid_file = std::path::absolute(&args.pid_file).unwrap_or(args.pid_file.clone());
    if !args.foreground {
        // SAFETY: umask only sets the process's file mode mask.
        unsafe { libc::umask(0o077) };
        if let Err(e) = engine::process::daemonize() {
            eprintln!("ipsecd: cannot daemonize: {e}");
            return ExitCode::FAILURE;
        }
    }
    init_logging(&args);
    if !args.foreground {
        if let Err(e) = write_pid_file(&pid_file) {
            error!("cannot write pid file {}: {e}", pid_file.display());
            return ExitCode::FAILURE;
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(async {
        let mut config = Config::new(&socket);
        if let Some(name) = &args.tun {
            let mut dp = engine::netio::DataplaneConfig::new(name.clone());
            dp.mtu = args.mtu;
            dp.table = args.route_table;
            dp.rule_pref = args.route_table;
            dp.fwmark = args.fwmark;
            dp.manage_routes = !args.no_routes;
            // The data plane owns the socket: batched reads (UDP_GRO) and sends (UDP GSO).
            dp.udp_encap_port = args.udp_encap_port;
            config.dataplane = Some(dp);
        }
        let mark = config
            .dataplane
            .as_ref()
            .map_or(engine::netio::DEFAULT_FWMARK, |d| d.fwmark);
        let handle = match Engine::spawn(config) {
            Ok(h) => std::sync::Arc::new(h),
            Err(e) => {
                error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let mut udp_task = None;
        if let Some(port) = args.udp_encap_port.filter(|_| args.tun.is_none()) {
            match engine::netio::bind_udp_encap(port, mark).and_then(|s| Ok((s.try_clone()?, s))) {
                Ok((tx, rx)) => {
                    handle.attach_udp_encap(std::sync::Arc::new(UdpTx(tx)));
                    udp_task = Some(tokio::spawn(udp_encap_task(rx, port, handle.clone())));
                    info!("ESP-in-UDP on port {port}");
                }
                Err(e) => {
                    error!("cannot bind UDP port {port}: {e}");
                    if let Ok(h) = std::sync::Arc::try_unwrap(handle) {
                        h.shutdown().await;
                    }
                    return ExitCode::FAILURE;
                }
            }
        }
        info!(
            "ipsecd {} serving {}",
            env!("CARGO_PKG_VERSION"),
            socket.display()
        );
        use tokio::signal::unix::{signal, SignalKind};
        let (mut term, mut int, mut usr1) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::user_defined1()),
        ) {
            (Ok(t), Ok(i), Ok(u)) => (t, i, u),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                error!("cannot install signal handlers: {e}");
                if let Some(t) = udp_task.take() {
                    t.abort();
                }
                if let Ok(h) = std::sync::Arc::try_unwrap(handle) {
                    h.shutdown().await;
                }
                return ExitCode::FAILURE;
            }
        };
        loop {
            tokio::select! {
                _ = term.recv() => { info!("SIGTERM: shutting down"); break }
                _ = int.recv() => { info!("SIGINT: shutting down"); break }
                _ = usr1.recv() => match handle.stats().await {
                    Ok(s) => info!("stats: {s}"),
                    Err(e) => error!("stats: {e}"),
                },
            }
        }
        if let Some(t) = udp_task.take() {
            t.abort();
            let _ = t.await;
        }
        match std::sync::Arc::try_unwrap(handle) {
            Ok(h) => h.shutdown().await,
            Err(_) => error!("engine handle still in use at shutdown"),
        }
        ExitCode::SUCCESS
    });
    if !args.foreground {
        let _ = std::fs::remove_file(&pid_file);
    }
    code
}
