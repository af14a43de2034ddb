//! The `Pair` harness: two `Endpoint`s, each with an `engine::handler::Kernel` as its fake
//! kernel, a fake clock that jumps to the next wakeup, and loss / duplication / reordering
//! knobs. Everything is seeded, so every run is identical.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use engine::datapath::{PacketBuf, Verdict};
use engine::handler::{Kernel, Limits};
use engine::Now;
use ike::{Endpoint, Event, Options, Transmit};
use pfkey::{
    Address, Dir, Endpoints, Extension, IpsecProto, IpsecRequest, Level, Message, Mode, MsgType,
    PolicyType, SaType,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

pub const SOCK: u64 = 1;
pub const SETKEY: u64 = 2;

pub struct Peer {
    pub ep: Endpoint,
    pub k: Kernel,
    pub ip: IpAddr,
    pub krng: StdRng,
    pub events: Vec<Event>,
    pub sent: Vec<pfkey::Message>,
}

/// A datagram in flight.
#[derive(Clone, Debug)]
pub struct Dgram {
    /// true: from a to b.
    pub a_to_b: bool,
    pub t: Transmit,
}

/// A per-datagram decision (index of the datagram, the datagram).
pub type Knob = Box<dyn FnMut(usize, &Dgram) -> bool>;

/// A per-datagram rewrite (index of the datagram, the datagram).
pub type Rewrite = Box<dyn FnMut(usize, &mut Dgram)>;

pub struct Pair {
    pub a: Peer,
    pub b: Peer,
    pub t0: Instant,
    pub now: Instant,
    pub wall0: u64,
    pub net: VecDeque<Dgram>,
    /// Every datagram sent (after the NAT rewrite), in order.
    pub captured: Vec<Dgram>,
    /// Drop the n-th datagram (0-based, counting all sent) when it returns true.
    pub drop_if: Knob,
    /// Duplicate the n-th datagram.
    pub dup_if: Knob,
    /// Rewrites the n-th datagram in flight (after the capture), e.g. a header flag.
    pub mutate: Rewrite,
    /// Deliver queued datagrams in reverse order.
    pub reorder: bool,
    /// NAT in front of a: a's packets appear to come from this address, ports + 10000.
    pub nat: Option<IpAddr>,
    pub count: usize,
}

pub fn parse_conf(text: &str) -> conf::Config {
    match conf::parse(text, "racoon.conf") {
        Ok(p) => p.config,
        Err(d) => panic!("config does not parse: {d:?}"),
    }
}

impl Peer {
    pub fn new(ip: IpAddr, conf_text: &str, psk_text: &str, seed: u64, now: Instant) -> Peer {
        let mut k = Kernel::new(Limits::default());
        k.connect(SOCK);
        k.connect(SETKEY);
        let cfg = parse_conf(conf_text);
        let psk = conf::parse_psk(psk_text).expect("psk parses");
        let opts = Options {
            pid: 4242,
            key_log: true,
            ..Options::default()
        };
        let ep = Endpoint::new(cfg, psk, opts, Box::new(StdRng::seed_from_u64(seed)));
        let _ = now;
        Peer {
            ep,
            k,
            ip,
            krng: StdRng::seed_from_u64(seed ^ 0x5555),
            events: Vec::new(),
            sent: Vec::new(),
        }
    }

    /// `spdadd` from a separate socket (as setkey would).
    pub fn spdadd(
        &mut self,
        now: Now,
        src: &str,
        dst: &str,
        dir: Dir,
        tunnel: Option<(IpAddr, IpAddr)>,
        proto: IpsecProto,
    ) {
        let parse = |s: &str| {
            let (a, p) = s.split_once('/').unwrap();
            (a.parse::<IpAddr>().unwrap(), p.parse::<u8>().unwrap())
        };
        let (sa, sp) = parse(src);
        let (da, dp) = parse(dst);
        let mut pol = pfkey::Policy::new(PolicyType::IPSEC, dir);
        pol.requests.push(IpsecRequest {
            proto,
            mode: if tunnel.is_some() {
                Mode::TUNNEL
            } else {
                Mode::TRANSPORT
            },
            level: Level::REQUIRE,
            reqid: 0,
            tunnel: tunnel.map(|(s, d)| Endpoints {
                src: SocketAddr::new(s, 0),
                dst: SocketAddr::new(d, 0),
            }),
        });
        let m = Message::new(MsgType::X_SPDADD, SaType::UNSPEC)
            .with_seq(1)
            .with_pid(1)
            .with(Extension::AddressSrc(Address::new(
                SocketAddr::new(sa, 0),
                sp,
                255,
            )))
            .with(Extension::AddressDst(Address::new(
                SocketAddr::new(da, 0),
                dp,
                255,
            )))
            .with(Extension::Policy(pol));
        let outs = self.k.handle_message(now, SETKEY, m, &mut self.krng);
        self.deliver_kernel(now, outs, Some(SETKEY));
    }

    pub fn deliver_kernel(
        &mut self,
        now: Now,
        outs: Vec<engine::handler::Output>,
        sender: Option<u64>,
    ) {
        for o in outs {
            assert_eq!(o.msg.header.errno, 0, "kernel refused: {:?}", o.msg);
            if self.k.recipients(o.dest, sender).contains(&SOCK) {
                self.ep.handle_kernel(now.mono, o.msg);
            }
        }
    }

    /// Moves PF_KEY messages between the endpoint and its kernel until both are quiet.
    pub fn pump_kernel(&mut self, now: Now) -> bool {
        let mut any = false;
        for _ in 0..10_000 {
            let Some(m) = self.ep.poll_kernel() else {
                break;
            };
            any = true;
            self.sent.push(m.clone());
            let outs = self.k.handle_message(now, SOCK, m, &mut self.krng);
            for o in outs {
                if self.k.recipients(o.dest, Some(SOCK)).contains(&SOCK) {
                    self.ep.handle_kernel(now.mono, o.msg);
                }
            }
        }
        while let Some(e) = self.ep.poll_event() {
            self.events.push(e);
        }
        any
    }

    /// Number of mature/dying ESP SAs in the fake kernel.
    pub fn sa_count(&self) -> usize {
        self.k
            .sad()
            .iter()
            .filter(|s| s.state != engine::sad::SaState::Larval)
            .count()
    }

    pub fn established_ph2(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Phase2Established { .. }))
            .count()
    }

    pub fn established_ph1(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Phase1Established { .. }))
            .count()
    }

    pub fn logs(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Log { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }
}

/// An IPv4/UDP packet `src -> dst` with `payload`.
pub fn ipv4_udp(src: IpAddr, dst: IpAddr, payload: &[u8]) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
        panic!("v4 only")
    };
    let total = 20 + 8 + payload.len();
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0,
        0,
        64,
        17,
        0,
        0,
    ];
    p.extend_from_slice(&s.octets());
    p.extend_from_slice(&d.octets());
    let mut sum: u32 = 0;
    for c in p.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    p[10] = (ck >> 8) as u8;
    p[11] = ck as u8;
    let ul = 8 + payload.len();
    p.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, (ul >> 8) as u8, ul as u8, 0, 0]);
    p.extend_from_slice(payload);
    p
}

impl Pair {
    pub fn new(a: Peer, b: Peer) -> Pair {
        let t0 = Instant::now();
        Pair {
            a,
            b,
            t0,
            now: t0,
            wall0: 1_800_000_000,
            net: VecDeque::new(),
            captured: Vec::new(),
            drop_if: Box::new(|_, _| false),
            dup_if: Box::new(|_, _| false),
            mutate: Box::new(|_, _| {}),
            reorder: false,
            nat: None,
            count: 0,
        }
    }

    pub fn know(&self) -> Now {
        Now::new(
            self.now,
            self.wall0 + self.now.duration_since(self.t0).as_secs(),
        )
    }

    fn nat_out(&self, mut t: Transmit) -> Transmit {
        if let Some(n) = self.nat {
            t.local = SocketAddr::new(n, t.local.port() + 10000);
        }
        t
    }

    fn nat_in(&self, mut t: Transmit) -> Transmit {
        if let Some(n) = self.nat {
            if t.remote.ip() == n {
                t.remote = SocketAddr::new(self.a.ip, t.remote.port() - 10000);
            }
        }
        t
    }

    /// Collects transmits from both endpoints into the network (applying the knobs).
    fn collect(&mut self) -> bool {
        let mut any = false;
        for a_to_b in [true, false] {
            loop {
                let t = if a_to_b {
                    self.a.ep.poll_transmit()
                } else {
                    self.b.ep.poll_transmit()
                };
                let Some(t) = t else { break };
                any = true;
                let t = if a_to_b { self.nat_out(t) } else { t };
                let mut d = Dgram { a_to_b, t };
                let n = self.count;
                self.count += 1;
                self.captured.push(d.clone());
                (self.mutate)(n, &mut d);
                if (self.drop_if)(n, &d) {
                    continue;
                }
                if (self.dup_if)(n, &d) {
                    self.net.push_back(d.clone());
                }
                self.net.push_back(d);
            }
        }
        any
    }

    fn deliver_all(&mut self) -> bool {
        let mut v: Vec<Dgram> = self.net.drain(..).collect();
        if self.reorder {
            v.reverse();
        }
        let any = !v.is_empty();
        for d in v {
            if d.t.data == [0xff] {
                continue; // keepalive
            }
            let now = self.now;
            if d.a_to_b {
                // b receives on its address; the sender is whatever the NAT made of a
                let local = SocketAddr::new(self.b.ip, d.t.remote.port());
                self.b.ep.handle_datagram(now, local, d.t.local, &d.t.data);
            } else {
                let t = self.nat_in(d.t.clone());
                let local = SocketAddr::new(self.a.ip, t.remote.port());
                self.a.ep.handle_datagram(now, local, t.local, &t.data);
            }
        }
        any
    }

    /// Runs until both sides are idle, jumping the clock to the next wakeup, but not past
    /// `limit` from now.
    pub fn drive_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        for _ in 0..100_000 {
            let n = self.know();
            let mut busy = self.a.pump_kernel(n);
            busy |= self.b.pump_kernel(n);
            busy |= self.collect();
            busy |= self.deliver_all();
            if busy {
                continue;
            }
            let next = [
                self.a.ep.poll_timeout(),
                self.b.ep.poll_timeout(),
                self.a.k.poll_timeout(),
                self.b.k.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => {
                    if t > self.now {
                        self.now = t;
                    }
                    let n = self.know();
                    self.a.ep.handle_timeout(self.now);
                    self.b.ep.handle_timeout(self.now);
                    let oa = self.a.k.handle_timeout(n);
                    self.a.deliver_kernel(n, oa, None);
                    let ob = self.b.k.handle_timeout(n);
                    self.b.deliver_kernel(n, ob, None);
                    // guard against a timer that does not move
                    if self.a.ep.poll_timeout().is_some_and(|x| x <= self.now)
                        || self.b.ep.poll_timeout().is_some_and(|x| x <= self.now)
                    {
                        self.now += Duration::from_millis(1);
                    }
                }
                _ => {
                    // idle until past `end`: the clock still reaches it
                    self.now = self.now.max(end);
                    return;
                }
            }
        }
        panic!("drive did not settle");
    }

    pub fn drive(&mut self) {
        self.drive_for(Duration::from_secs(5))
    }

    /// Puts the first packet `src -> dst` into a's data path (the one that raises the ACQUIRE
    /// when there is no SA yet) and hands a's kernel output to its endpoint. Returns whether the
    /// packet was dropped and an ACQUIRE raised.
    pub fn first_packet(&mut self, src: IpAddr, dst: IpAddr) -> bool {
        let n = self.know();
        let pkt = ipv4_udp(src, dst, b"first");
        let mut buf = PacketBuf::new();
        buf.load(&pkt);
        let mut out = Vec::new();
        let v = self.a.k.outbound(n, &mut buf, &mut out);
        let acquired = out
            .iter()
            .any(|o| o.msg.header.msg_type == pfkey::MsgType::ACQUIRE);
        self.a.deliver_kernel(n, out, None);
        matches!(v, Verdict::Drop(_)) && acquired
    }

    /// A packet each way through the installed SAs (a `a_ip -> b_ip`, b back); panics if either
    /// side has no outbound SA or the other does not decrypt it.
    pub fn assert_loop(&mut self, a_ip: IpAddr, b_ip: IpAddr) {
        let got = self
            .send_packet(true, a_ip, b_ip, b"ping a->b")
            .expect("a has an outbound SA");
        assert!(got.ends_with(b"ping a->b"), "b decrypted what a encrypted");
        let got = self
            .send_packet(false, b_ip, a_ip, b"pong b->a")
            .expect("b has an outbound SA");
        assert!(got.ends_with(b"pong b->a"), "a decrypted what b encrypted");
    }

    /// Sends an IP packet `src -> dst` into a's (or b's) data path. Returns the verdict kind.
    pub fn send_packet(
        &mut self,
        from_a: bool,
        src: IpAddr,
        dst: IpAddr,
        payload: &[u8],
    ) -> Option<Vec<u8>> {
        let n = self.know();
        let pkt = ipv4_udp(src, dst, payload);
        let a_ip = self.a.ip;
        let (snd, rcv, nat) = if from_a {
            (&mut self.a, &mut self.b, self.nat)
        } else {
            (&mut self.b, &mut self.a, None)
        };
        let mut buf = PacketBuf::new();
        buf.load(&pkt);
        let mut out = Vec::new();
        let v = snd.k.outbound(n, &mut buf, &mut out);
        snd.deliver_kernel(n, out, None);
        let mut rbuf = PacketBuf::new();
        let mut out = Vec::new();
        let v2 = match v {
            Verdict::Raw { packet, .. } => {
                rbuf.load(buf.get(packet));
                rcv.k.inbound(n, &mut rbuf, &mut out)
            }
            Verdict::Udp {
                payload,
                local,
                remote,
            } => {
                rbuf.load(buf.get(payload));
                let src = match nat {
                    Some(ip) => SocketAddr::new(ip, local.port() + 10000),
                    None => local,
                };
                // towards a through the NAT: the NAT maps the public port back
                let dst = if !from_a && self.nat == Some(remote.ip()) {
                    SocketAddr::new(a_ip, remote.port() - 10000)
                } else {
                    remote
                };
                rcv.k.inbound_udp(n, &mut rbuf, dst, src, &mut out)
            }
            _ => return None,
        };
        match v2 {
            Verdict::ToTun(r) => Some(rbuf.get(r).to_vec()),
            other => panic!("receiver dropped the packet: {other:?}"),
        }
    }
}
