//! `ike-load`: an IKEv1 load generator. Runs `--count` complete Main Mode (pre-shared key) +
//! Quick Mode exchanges against a responder over real UDP sockets, `--concurrency` at a time,
//! and prints setups/s, latency percentiles and failures.
//!
//! Every exchange is a fresh `ike::Endpoint` (initiator) with its own fake kernel (the
//! `engine` PF_KEY core, which answers GETSPI/UPDATE/ADD and turns a packet into the ACQUIRE
//! that starts the negotiation), so no state is shared between exchanges and every exchange
//! has its own cookies. `initial_contact` is off (siblings from the same address must not be
//! torn down). After Quick Mode completes the phase 2 and phase 1 are DELETEd (unless
//! `--no-delete`) and the endpoint is dropped.
//!
//! Each thread binds two ephemeral UDP ports (IKE and NAT-T) and demultiplexes replies by
//! initiator cookie. The endpoint believes its ports are those ephemeral ports; datagrams go
//! to the responder's `--peer-port` / `--peer-natt-port` (after a NAT-T float, which
//! strongSwan with kernel-libipsec always forces).
//!
//! Bounded: at most `--count` exchanges, `--exchange-timeout` seconds each, `--timeout`
//! seconds of wall clock in all. Test tool: not part of the daemon.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use engine::datapath::PacketBuf;
use engine::handler::{Kernel, Limits};
use engine::Now;
use ike::{Endpoint, Event, Options, Transmit};
use pfkey::{
    Address, Dir, Endpoints, Extension, IpsecProto, IpsecRequest, Level, Message, Mode, MsgType,
    PolicyType, SaType,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

const SOCK: u64 = 1;
const SETKEY: u64 = 2;

#[derive(Parser, Debug, Clone)]
#[command(about = "IKEv1 Main Mode + Quick Mode load generator (PSK)")]
struct Args {
    /// Our first address (the sockets bind to it); see `--sources`.
    #[arg(long)]
    local: std::net::Ipv4Addr,
    /// Source addresses to use: `--local`, `--local`+1, ... (each must be configured on an
    /// interface). Exchanges are spread over them, fewest in flight first; a responder may
    /// limit half-open negotiations per address (racoon-rs: 8, strongSwan: block_threshold).
    #[arg(long, default_value_t = 1)]
    sources: u32,
    /// The responder's address.
    #[arg(long)]
    peer: IpAddr,
    /// The responder's IKE port.
    #[arg(long, default_value_t = 500)]
    peer_port: u16,
    /// The responder's NAT-T port.
    #[arg(long, default_value_t = 4500)]
    peer_natt_port: u16,
    /// The pre-shared key.
    #[arg(long)]
    psk: String,
    /// Our protected subnet (Quick Mode ID).
    #[arg(long, default_value = "198.51.100.0/25")]
    local_net: String,
    /// The responder's protected subnet.
    #[arg(long, default_value = "198.51.100.128/25")]
    remote_net: String,
    /// Complete exchanges to run.
    #[arg(short = 'n', long, default_value_t = 200)]
    count: usize,
    /// Exchanges in flight at once (over all threads).
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: usize,
    /// Threads (each with its own ports and a share of count and concurrency).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Wall-clock limit of the whole run, seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Limit per exchange, seconds (counted as a failure).
    #[arg(long, default_value_t = 10)]
    exchange_timeout: u64,
    /// Phase-1 DH group (racoon.conf name).
    #[arg(long, default_value = "modp2048")]
    dh_group: String,
    /// Send NAT-T vendor IDs (needed against strongSwan with kernel-libipsec).
    #[arg(long)]
    nat_traversal: bool,
    /// Do not DELETE the SAs after each exchange.
    #[arg(long)]
    no_delete: bool,
    /// Print the endpoints' log lines (warnings and errors always go to stderr).
    #[arg(short, long)]
    verbose: bool,
}

struct Slot {
    src: usize,
    ep: Endpoint,
    k: Kernel,
    krng: StdRng,
    start: Instant,
    cookie: Option<[u8; 8]>,
    remote_ike: Option<SocketAddr>,
    remote_natt: Option<SocketAddr>,
}

#[derive(Default)]
struct Stats {
    ok: usize,
    failed: usize,
    timed_out: usize,
    lat: Vec<Duration>,
    first_start: Option<Instant>,
    last_done: Option<Instant>,
}

fn now_of(mono: Instant) -> Now {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Now::new(mono, wall)
}

fn net(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, p) = s
        .split_once('/')
        .ok_or(format!("{s}: not address/prefix"))?;
    Ok((
        a.parse().map_err(|e| format!("{s}: {e}"))?,
        p.parse().map_err(|e| format!("{s}: {e}"))?,
    ))
}

fn spdadd(src: (IpAddr, u8), dst: (IpAddr, u8), dir: Dir, tun: (IpAddr, IpAddr)) -> Message {
    let mut pol = pfkey::Policy::new(PolicyType::IPSEC, dir);
    pol.requests.push(IpsecRequest {
        proto: IpsecProto::ESP,
        mode: Mode::TUNNEL,
        level: Level::REQUIRE,
        reqid: 0,
        tunnel: Some(Endpoints {
            src: SocketAddr::new(tun.0, 0),
            dst: SocketAddr::new(tun.1, 0),
        }),
    });
    Message::new(MsgType::X_SPDADD, SaType::UNSPEC)
        .with_seq(1)
        .with_pid(1)
        .with(Extension::AddressSrc(Address::new(
            SocketAddr::new(src.0, 0),
            src.1,
            255,
        )))
        .with(Extension::AddressDst(Address::new(
            SocketAddr::new(dst.0, 0),
            dst.1,
            255,
        )))
        .with(Extension::Policy(pol))
}

/// An IPv4/UDP packet from the first host of `src` to the first host of `dst` (it only has
/// to match the outbound policy and trigger the ACQUIRE).
fn trigger_packet(src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
        return Vec::new();
    };
    let s = std::net::Ipv4Addr::from(u32::from(s) + 1);
    let d = std::net::Ipv4Addr::from(u32::from(d) + 1);
    let mut p = vec![0x45, 0, 0, 29, 0, 1, 0, 0, 64, 17, 0, 0];
    p.extend_from_slice(&s.octets());
    p.extend_from_slice(&d.octets());
    let mut sum: u32 = p
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    p[10..12].copy_from_slice(&ck.to_be_bytes());
    p.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 9, 0, 0, b'x']);
    p
}

/// One source address with its IKE and NAT-T sockets (ephemeral ports).
struct Src {
    ip: IpAddr,
    ike: UdpSocket,
    natt: UdpSocket,
    ike_port: u16,
    natt_port: u16,
    active: usize,
}

impl Src {
    fn new(ip: IpAddr) -> Result<Src, String> {
        let ike = UdpSocket::bind((ip, 0)).map_err(|e| format!("bind {ip}: {e}"))?;
        let natt = UdpSocket::bind((ip, 0)).map_err(|e| format!("bind {ip}: {e}"))?;
        ike.set_nonblocking(true).map_err(|e| e.to_string())?;
        natt.set_nonblocking(true).map_err(|e| e.to_string())?;
        let ike_port = ike.local_addr().map_err(|e| e.to_string())?.port();
        let natt_port = natt.local_addr().map_err(|e| e.to_string())?.port();
        Ok(Src {
            ip,
            ike,
            natt,
            ike_port,
            natt_port,
            active: 0,
        })
    }
}

struct Worker {
    args: Args,
    cfg: conf::Config,
    psk: conf::PskFile,
    srcs: Vec<Src>,
    lnet: (IpAddr, u8),
    rnet: (IpAddr, u8),
}

impl Worker {
    fn new(args: &Args, ips: &[IpAddr]) -> Result<Worker, String> {
        let srcs = ips
            .iter()
            .map(|&ip| Src::new(ip))
            .collect::<Result<_, _>>()?;
        let text = format!(
            "timer {{ counter 3; interval 2 sec; phase1 {t} sec; phase2 {t} sec; }}\n\
             remote {peer} {{ exchange_mode main; initial_contact off; \
             nat_traversal {natt}; proposal_check obey; \
             lifetime time 8 hour; proposal {{ encryption_algorithm aes 128; \
             hash_algorithm sha1; authentication_method pre_shared_key; dh_group {grp}; }} }}\n\
             sainfo address {ln} any address {rn} any {{ lifetime time 1 hour; \
             encryption_algorithm aes 128; authentication_algorithm hmac_sha1; \
             compression_algorithm deflate; }}\n",
            t = args.exchange_timeout.max(1),
            peer = args.peer,
            natt = if args.nat_traversal { "on" } else { "off" },
            grp = args.dh_group,
            ln = args.local_net,
            rn = args.remote_net,
        );
        let cfg = conf::parse(&text, "ike-load.conf")
            .map_err(|d| format!("generated config: {d:?}"))?
            .config;
        let psk = conf::parse_psk(&format!("{} {}\n", args.peer, args.psk))
            .map_err(|e| format!("psk: {e:?}"))?;
        Ok(Worker {
            args: args.clone(),
            cfg,
            psk,
            srcs,
            lnet: net(&args.local_net)?,
            rnet: net(&args.remote_net)?,
        })
    }

    fn start(&mut self, now: Instant) -> Slot {
        let src = (0..self.srcs.len())
            .min_by_key(|&i| self.srcs[i].active)
            .unwrap_or(0);
        self.srcs[src].active += 1;
        let (ip, ike_port, natt_port) = {
            let x = &self.srcs[src];
            (x.ip, x.ike_port, x.natt_port)
        };
        let n = now_of(now);
        let mut k = Kernel::new(Limits::default());
        k.connect(SOCK);
        k.connect(SETKEY);
        let opts = Options {
            pid: std::process::id(),
            ike_port,
            natt_port,
            key_log: false,
            // initiator: MM5 needs the keys at once
            dh_offload: false,
        };
        let ep = Endpoint::new(
            self.cfg.clone(),
            self.psk.clone(),
            opts,
            Box::new(StdRng::from_entropy()),
        );
        let mut s = Slot {
            src,
            ep,
            k,
            krng: StdRng::from_entropy(),
            start: now,
            cookie: None,
            remote_ike: None,
            remote_natt: None,
        };
        pump_kernel(&mut s, n);
        let (l, r) = (ip, self.args.peer);
        for m in [
            spdadd(self.lnet, self.rnet, Dir::OUT, (l, r)),
            spdadd(self.rnet, self.lnet, Dir::IN, (r, l)),
        ] {
            let outs = s.k.handle_message(n, SETKEY, m, &mut s.krng);
            deliver(&mut s, n, outs, Some(SETKEY));
        }
        let mut buf = PacketBuf::new();
        buf.load(&trigger_packet(self.lnet.0, self.rnet.0));
        let mut out = Vec::new();
        let _ = s.k.outbound(n, &mut buf, &mut out);
        deliver(&mut s, n, out, None);
        pump_kernel(&mut s, n);
        s
    }

    fn send(&self, s: &mut Slot, t: Transmit) {
        let src = &self.srcs[s.src];
        if s.cookie.is_none() && t.data.len() >= 8 {
            let mut c = [0u8; 8];
            c.copy_from_slice(&t.data[..8]);
            s.cookie = Some(c);
        }
        if t.local.port() == src.natt_port {
            s.remote_natt = Some(t.remote);
            let mut d = Vec::with_capacity(t.data.len() + 4);
            if t.non_esp_marker {
                d.extend_from_slice(&[0; 4]);
            }
            d.extend_from_slice(&t.data);
            let _ = src
                .natt
                .send_to(&d, SocketAddr::new(t.remote.ip(), self.args.peer_natt_port));
        } else {
            s.remote_ike = Some(t.remote);
            let _ = src
                .ike
                .send_to(&t.data, SocketAddr::new(t.remote.ip(), self.args.peer_port));
        }
    }

    /// Moves kernel messages and datagrams; returns Some(true) when phase 2 is up, Some(false)
    /// when the exchange failed.
    fn pump(&self, s: &mut Slot, now: Instant) -> Option<bool> {
        pump_kernel(s, now_of(now));
        while let Some(t) = s.ep.poll_transmit() {
            self.send(s, t);
        }
        let mut result = None;
        while let Some(e) = s.ep.poll_event() {
            match e {
                Event::Phase2Established { .. } => result = Some(true),
                Event::Phase1Failed { .. } | Event::Phase2Failed { .. } => {
                    if self.args.verbose {
                        eprintln!("ike-load: {e:?}");
                    }
                    result = result.or(Some(false));
                }
                Event::Log { level, text, .. }
                    if self.args.verbose || level <= ike::Level::Warning =>
                {
                    eprintln!("ike-load: {level:?} {text}");
                }
                _ => {}
            }
        }
        result
    }

    fn finish(&mut self, mut s: Slot, now: Instant) {
        self.srcs[s.src].active -= 1;
        if !self.args.no_delete {
            s.ep.delete_sa(now, self.args.peer);
            while let Some(t) = s.ep.poll_transmit() {
                self.send(&mut s, t);
            }
        }
    }

    fn run(mut self, quota: usize, conc: usize, deadline: Instant) -> Stats {
        let mut st = Stats::default();
        let mut slots: Vec<Option<Slot>> = Vec::new();
        let mut by_cookie: HashMap<[u8; 8], usize> = HashMap::new();
        let mut started = 0usize;
        let mut active = 0usize;
        let mut buf = vec![0u8; 65536];
        let ex_timeout = Duration::from_secs(self.args.exchange_timeout.max(1));
        loop {
            let now = Instant::now();
            if now >= deadline || (started >= quota && active == 0) {
                break;
            }
            // start new exchanges up to the concurrency
            while active < conc && started < quota {
                let now = Instant::now();
                st.first_start.get_or_insert(now);
                let mut s = self.start(now);
                started += 1;
                let r = self.pump(&mut s, now);
                let idx = slots.iter().position(Option::is_none).unwrap_or_else(|| {
                    slots.push(None);
                    slots.len() - 1
                });
                if r == Some(false) || s.cookie.is_none() {
                    st.failed += 1;
                    self.finish(s, now);
                    continue;
                }
                if let Some(c) = s.cookie {
                    by_cookie.insert(c, idx);
                }
                slots[idx] = Some(s);
                active += 1;
            }
            // wait for a datagram or the next timer (at most 5 ms)
            let mut fds: Vec<libc::pollfd> = self
                .srcs
                .iter()
                .flat_map(|x| [x.ike.as_raw_fd(), x.natt.as_raw_fd()])
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            let _ = poll(&mut fds, 5);
            // receive everything that is queued
            for k in 0..self.srcs.len() * 2 {
                let (si, natt) = (k / 2, k % 2 == 1);
                for _ in 0..4096 {
                    let src = &self.srcs[si];
                    let sock = if natt { &src.natt } else { &src.ike };
                    let Ok((len, from)) = sock.recv_from(&mut buf) else {
                        break;
                    };
                    let mut d = &buf[..len];
                    if natt {
                        if d.len() < 4 + 28 || d[..4] != [0; 4] {
                            continue; // keepalive or ESP
                        }
                        d = &d[4..];
                    }
                    if d.len() < 28 {
                        continue;
                    }
                    let mut c = [0u8; 8];
                    c.copy_from_slice(&d[..8]);
                    let Some(&idx) = by_cookie.get(&c) else {
                        continue;
                    };
                    let Some(s) = slots[idx].as_mut() else {
                        continue;
                    };
                    let now = Instant::now();
                    let (local, remote) = if natt {
                        (
                            SocketAddr::new(src.ip, src.natt_port),
                            s.remote_natt
                                .unwrap_or(SocketAddr::new(from.ip(), src.natt_port)),
                        )
                    } else {
                        (
                            SocketAddr::new(src.ip, src.ike_port),
                            s.remote_ike.unwrap_or(from),
                        )
                    };
                    s.ep.handle_datagram(now, local, remote, d);
                    let r = self.pump(s, now);
                    if let Some(ok) = r {
                        let s = slots[idx].take().expect("slot is active");
                        by_cookie.remove(&c);
                        active -= 1;
                        if ok {
                            st.ok += 1;
                            st.lat.push(now - s.start);
                            st.last_done = Some(now);
                        } else {
                            st.failed += 1;
                        }
                        self.finish(s, now);
                    }
                }
            }
            // timers and per-exchange limits
            let now = Instant::now();
            for slot in slots.iter_mut() {
                let Some(s) = slot.as_mut() else {
                    continue;
                };
                let mut r = None;
                if now - s.start > ex_timeout {
                    st.timed_out += 1;
                    r = Some(false);
                } else if s.ep.poll_timeout().is_some_and(|t| t <= now) {
                    s.ep.handle_timeout(now);
                    r = self.pump(s, now);
                    if r == Some(true) {
                        st.ok += 1;
                        st.lat.push(now - s.start);
                        st.last_done = Some(now);
                    } else if r == Some(false) {
                        st.failed += 1;
                    }
                }
                if r.is_some() {
                    let s = slot.take().expect("slot is active");
                    if let Some(c) = s.cookie {
                        by_cookie.remove(&c);
                    }
                    active -= 1;
                    self.finish(s, now);
                }
            }
        }
        st.timed_out += active;
        st
    }
}

fn poll(fds: &mut [libc::pollfd], ms: i32) -> i32 {
    // libc::poll only reads/writes the given array
    #[allow(unsafe_code)]
    unsafe {
        libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms)
    }
}

fn pump_kernel(s: &mut Slot, n: Now) {
    for _ in 0..1000 {
        let Some(m) = s.ep.poll_kernel() else {
            break;
        };
        let outs = s.k.handle_message(n, SOCK, m, &mut s.krng);
        deliver(s, n, outs, Some(SOCK));
    }
}

fn deliver(s: &mut Slot, n: Now, outs: Vec<engine::handler::Output>, sender: Option<u64>) {
    for o in outs {
        if s.k.recipients(o.dest, sender).contains(&SOCK) {
            s.ep.handle_kernel(n.mono, o.msg);
        }
    }
}

fn main() {
    let args = Args::parse();
    let threads = args.threads.clamp(1, 64);
    let deadline = Instant::now() + Duration::from_secs(args.timeout.max(1));
    let ips: Vec<IpAddr> = (0..args.sources.max(1))
        .map(|i| {
            IpAddr::V4(std::net::Ipv4Addr::from(
                u32::from(args.local).wrapping_add(i),
            ))
        })
        .collect();
    let threads = threads.min(ips.len());
    let mut workers = Vec::new();
    for t in 0..threads {
        let mine: Vec<IpAddr> = ips.iter().copied().skip(t).step_by(threads).collect();
        match Worker::new(&args, &mine) {
            Ok(w) => workers.push(w),
            Err(e) => {
                eprintln!("ike-load: {e}");
                std::process::exit(2);
            }
        }
    }
    let t0 = Instant::now();
    let handles: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let quota = args.count / threads + usize::from(i < args.count % threads);
            let conc =
                (args.concurrency / threads + usize::from(i < args.concurrency % threads)).max(1);
            std::thread::spawn(move || w.run(quota, conc, deadline))
        })
        .collect();
    let mut all = Stats::default();
    for h in handles {
        let s = h.join().unwrap_or_default();
        all.ok += s.ok;
        all.failed += s.failed;
        all.timed_out += s.timed_out;
        all.lat.extend(s.lat);
        all.first_start = match (all.first_start, s.first_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        all.last_done = all.last_done.max(s.last_done);
    }
    let span = match (all.first_start, all.last_done) {
        (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
        _ => t0.elapsed().as_secs_f64(),
    };
    all.lat.sort();
    let pct = |p: f64| -> f64 {
        if all.lat.is_empty() {
            return 0.0;
        }
        let i = ((all.lat.len() as f64 - 1.0) * p).round() as usize;
        all.lat[i].as_secs_f64() * 1000.0
    };
    println!(
        "ike-load: requested={} ok={} failed={} timed_out={} secs={:.3} rate={:.1}/s p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        args.count,
        all.ok,
        all.failed,
        all.timed_out,
        span,
        all.ok as f64 / span.max(1e-9),
        pct(0.5),
        pct(0.99),
        pct(1.0),
    );
    if all.ok < args.count {
        std::process::exit(1);
    }
}
