//! The sans-I/O endpoint: phase-1 SAs by cookie pair, their phase-2 exchanges, timers, and
//! the inbound pipeline (header → SA by cookies → retransmission → staged decryption →
//! payload chain → rule table → typed state handler → IV commit).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use conf::{Config, PskFile, Remote};
use isakmp::{
    decode_payloads, encode_payloads, ExchangeType, Flags, Header, Identification, Message,
    Payload, PayloadIter, PayloadType, ProtocolId, Trailing, HEADER_LEN,
};
use rand_core::CryptoRngCore;

use crate::crypto::{phase2_iv, DhPrivate, HashAlg, IkeCipher, Phase1Keys, Secret};
use crate::error::{Error, Result};
use crate::proposal::{Ph1Params, Ph2Proto, Ph2Want};
use crate::spd::{Sel, SpdImage};
use crate::types::{Event, Level, Phase1Info, Role, Transmit};

/// Most phase-1 SAs held at once.
pub const MAX_PH1: usize = 4096;
/// Most phase-1 SAs that are not yet established (half-open; new responders are refused).
pub const MAX_HALF_OPEN: usize = 256;
/// Most phase-2 exchanges held at once.
pub const MAX_PH2: usize = 16384;
/// Most queued outputs of each kind before the oldest are dropped.
pub const MAX_QUEUE: usize = 4096;
/// Most early Quick Mode messages queued per phase 1 (Aggressive Mode responder).
pub const MAX_EARLY_QM: usize = 4;
/// Most nonce bytes accepted (RFC 2409: 8-256).
pub const MAX_NONCE: usize = 256;

/// Options the driver sets.
#[derive(Debug, Clone)]
pub struct Options {
    /// `sadb_msg_pid` of our PF_KEY messages.
    pub pid: u32,
    /// IKE port (500).
    pub ike_port: u16,
    /// NAT-T port (4500).
    pub natt_port: u16,
    /// Emit [`Event::KeyLog`] lines.
    pub key_log: bool,
    /// Main Mode responder: compute g^xy (MODP groups) on a helper thread while MM4 goes
    /// out and the initiator computes its own; the phase 1 waits for it when the next message
    /// (MM5) arrives. Spreads the dominant cost of a responder over the cores; the result is
    /// the same. Off by default (tests and fuzzing stay single-threaded); the daemon turns it on.
    pub dh_offload: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pid: std::process::id(),
            ike_port: 500,
            natt_port: 4500,
            key_log: false,
            dh_offload: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum MainI {
    ExpectSa,
    ExpectKe,
    ExpectAuth,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum MainR {
    ExpectKe,
    ExpectAuth,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggrI {
    ExpectSecond,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggrR {
    ExpectThird,
}

/// Phase-1 state, typed per role and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum P1State {
    MainI(MainI),
    MainR(MainR),
    AggrI(AggrI),
    AggrR(AggrR),
    Established,
    Dead,
}

impl P1State {
    fn name(self) -> &'static str {
        match self {
            P1State::MainI(MainI::ExpectSa) => "MM-I sent SA",
            P1State::MainI(MainI::ExpectKe) => "MM-I sent KE",
            P1State::MainI(MainI::ExpectAuth) => "MM-I sent AUTH",
            P1State::MainR(MainR::ExpectKe) => "MM-R sent SA",
            P1State::MainR(MainR::ExpectAuth) => "MM-R sent KE",
            P1State::AggrI(_) => "AM-I sent 1",
            P1State::AggrR(_) => "AM-R sent 2",
            P1State::Established => "established",
            P1State::Dead => "dead",
        }
    }
}

/// NAT-T version agreed through vendor IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum NattVer {
    Draft00,
    Draft02,
    Rfc,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Natt {
    pub peer: Option<NattVer>,
    pub local_nat: bool,
    pub peer_nat: bool,
    pub floated: bool,
}

impl Natt {
    pub fn detected(&self) -> bool {
        self.local_nat || self.peer_nat
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Dpd {
    pub peer: bool,
    pub seq: u32,
    pub last_ack: u32,
    pub fails: u32,
    pub next: Option<Instant>,
    pub waiting: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Retx {
    pub at: Instant,
    pub left: u32,
    pub interval: Duration,
}

/// A phase-1 SA.
pub(crate) struct Ph1 {
    pub id: u64,
    pub role: Role,
    pub exchange: ExchangeType,
    pub state: P1State,
    pub icky: [u8; 8],
    pub rcky: [u8; 8],
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub remote_cfg: usize,
    pub created: Instant,
    pub established: Option<Instant>,
    pub expires: Option<Instant>,
    pub cands: Vec<Ph1Params>,
    pub params: Option<Ph1Params>,
    pub sai_b: Vec<u8>,
    pub dh: Option<DhPrivate>,
    pub ke_i: Vec<u8>,
    pub ke_r: Vec<u8>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub keys: Option<Phase1Keys>,
    pub cipher: Option<IkeCipher>,
    pub iv: Vec<u8>,
    pub my_id: Identification,
    pub peer_id: Option<Identification>,
    pub psk: Option<Secret>,
    pub natt: Natt,
    pub dpd: Dpd,
    pub last_sent: Option<Vec<u8>>,
    pub last_recv: Option<Vec<u8>>,
    pub retx: Option<Retx>,
    pub ph2_count: u32,
    pub early_qm: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    pub keepalive: Option<Instant>,
    /// When the SA goes "dying" (80 % of its lifetime) and an initiator starts a new one.
    pub rekey_at: Option<Instant>,
    /// `ike_frag` of the remote block.
    pub frag_mode: conf::Tristate,
    /// The peer announced the IKE fragmentation vendor ID.
    pub frag_peer: bool,
    /// Fragment ID of the last message we fragmented.
    pub frag_id: u16,
    /// `last_sent` as fragment datagrams when it was sent fragmented.
    pub last_frags: Vec<Vec<u8>>,
    /// g^xy being computed on a helper thread ([`Options::dh_offload`]): the thread sends
    /// back our DH key and the result; [`Endpoint::resolve_keys`] completes the key schedule.
    pub pending_gxy: Option<crate::phase1::PendingGxy>,
}

impl Ph1 {
    pub fn hash(&self) -> HashAlg {
        self.params.as_ref().map_or(HashAlg::Sha1, |p| p.hash)
    }
    pub fn is_established(&self) -> bool {
        self.state == P1State::Established
    }
    /// Whether our messages larger than the path allows go out fragmented: `ike_frag force`,
    /// or `ike_frag on` and the peer announced fragmentation.
    pub fn frag_send(&self) -> bool {
        self.frag_mode == conf::Tristate::Force
            || (self.frag_mode == conf::Tristate::On && self.frag_peer)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuickI {
    WaitPh1,
    AwaitSpi,
    ExpectHash2,
    /// QM3 sent under the responder's commit bit: waiting for its CONNECTED (QM4).
    ExpectConnected,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuickR {
    AwaitSpi,
    ExpectHash3,
}

/// Phase-2 state, typed per role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum P2State {
    I(QuickI),
    R(QuickR),
    Established,
}

/// A phase-2 exchange and the SAs it produced.
pub(crate) struct Ph2 {
    pub id: u64,
    pub ph1: Option<u64>,
    pub role: Role,
    pub state: P2State,
    pub msgid: u32,
    pub iv: Vec<u8>,
    pub peer: IpAddr,
    pub local_ip: IpAddr,
    /// Our side and the peer's side of the traffic, and the upper-layer protocol.
    pub sel_local: Sel,
    pub sel_remote: Sel,
    pub ulproto: u8,
    pub send_ids: bool,
    pub sainfo: usize,
    pub wants: Vec<Ph2Want>,
    pub mode: pfkey::Mode,
    pub reqids: Vec<u32>,
    pub spis_in: Vec<Option<u32>>,
    pub getspi_seq: Vec<u32>,
    pub chosen: Vec<Ph2Proto>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub dh: Option<DhPrivate>,
    pub peer_ke: Vec<u8>,
    pub acquire_seq: u32,
    pub last_sent: Option<Vec<u8>>,
    pub last_recv: Option<Vec<u8>>,
    pub retx: Option<Retx>,
    pub deadline: Option<Instant>,
    pub generate: bool,
    pub claim: bool,
    pub id_ci: Option<Identification>,
    pub id_cr: Option<Identification>,
    pub installed: Vec<(pfkey::SaType, u32, u32)>,
    pub expires: Option<Instant>,
    pub rekeyed: bool,
    pub peer_proposal_number: u8,
    /// Commit bit and NAT-OA (see [`crate::phase2::QmExtras`]).
    pub qm: crate::phase2::QmExtras,
}

#[derive(Debug, Default)]
pub(crate) struct Out {
    pub tx: VecDeque<Transmit>,
    pub kq: VecDeque<pfkey::Message>,
    pub ev: VecDeque<Event>,
}

impl Out {
    pub fn push_tx(&mut self, t: Transmit) {
        if self.tx.len() >= MAX_QUEUE {
            self.tx.pop_front();
        }
        self.tx.push_back(t);
    }
    pub fn kernel(&mut self, m: pfkey::Message) {
        if self.kq.len() >= MAX_QUEUE {
            self.kq.pop_front();
        }
        self.kq.push_back(m);
    }
    pub fn event(&mut self, e: Event) {
        if self.ev.len() >= MAX_QUEUE {
            self.ev.pop_front();
        }
        self.ev.push_back(e);
    }
    pub fn log(&mut self, level: Level, peer: Option<IpAddr>, text: impl Into<String>) {
        self.event(Event::Log {
            level,
            peer,
            text: text.into(),
        });
    }
}

/// The IKEv1 endpoint.
pub struct Endpoint {
    pub(crate) cfg: Config,
    pub(crate) psk: PskFile,
    pub(crate) opts: Options,
    pub(crate) rng: Box<dyn CryptoRngCore + Send>,
    pub(crate) out: Out,
    pub(crate) ph1s: BTreeMap<u64, Ph1>,
    pub(crate) by_cookie: HashMap<([u8; 8], [u8; 8]), u64>,
    pub(crate) ph2s: BTreeMap<u64, Ph2>,
    pub(crate) ph2_by_msgid: HashMap<(u64, u32), u64>,
    pub(crate) ph2_by_seq: HashMap<u32, u64>,
    pub(crate) spd: SpdImage,
    pub(crate) next_id: u64,
    pub(crate) seq: u32,
    pub(crate) contacted: HashSet<IpAddr>,
    pub(crate) purges: Vec<(IpAddr, IpAddr, Vec<u32>)>,
    pub(crate) unique_reqid: u32,
    /// Certificates and keys for `rsasig` (see [`crate::creds`]).
    pub(crate) creds: crate::creds::Credentials,
    /// Inbound IKE fragments (bounded per message, in count and in total; 30 s timeout).
    pub(crate) reasm: isakmp::frag::Reassembler,
    /// Time base of the reassembler's seconds.
    pub(crate) t0: Option<Instant>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("ph1", &self.ph1s.len())
            .field("ph2", &self.ph2s.len())
            .finish_non_exhaustive()
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A fingerprint of a datagram for retransmission detection.
pub(crate) fn fingerprint(data: &[u8]) -> Vec<u8> {
    HashAlg::Sha256.hash(&[data])
}

/// Offsets of the bytes after the first payload (HASH) up to the end of the chain, in a
/// decrypted body.
pub(crate) fn after_first(first: PayloadType, body: &[u8]) -> Result<std::ops::Range<usize>> {
    let mut start = None;
    let mut end = 0;
    for item in PayloadIter::new(first, body, 0, Trailing::Padding) {
        let (_, r) = item?;
        let e = r.offset() + r.left();
        if start.is_none() {
            start = Some(e);
        }
        end = e;
    }
    let s = start.ok_or(Error::PayloadCount(PayloadType::HASH.0))?;
    Ok(s..end.max(s))
}

impl Endpoint {
    /// A new endpoint. Queues REGISTER for AH, ESP and IPCOMP and an X_SPDDUMP, as racoon
    /// does at start-up.
    pub fn new(
        cfg: Config,
        psk: PskFile,
        opts: Options,
        rng: Box<dyn CryptoRngCore + Send>,
    ) -> Self {
        let mut ep = Endpoint {
            cfg,
            psk,
            opts,
            rng,
            out: Out::default(),
            ph1s: BTreeMap::new(),
            by_cookie: HashMap::new(),
            ph2s: BTreeMap::new(),
            ph2_by_msgid: HashMap::new(),
            ph2_by_seq: HashMap::new(),
            spd: SpdImage::default(),
            next_id: 1,
            seq: 1,
            contacted: HashSet::new(),
            purges: Vec::new(),
            unique_reqid: 0,
            creds: crate::creds::Credentials::default(),
            reasm: isakmp::frag::Reassembler::new(isakmp::frag::Limits::default()),
            t0: None,
        };
        for t in [pfkey::SaType::AH, pfkey::SaType::ESP, pfkey::SaType::IPCOMP] {
            let s = ep.next_seq();
            ep.out.kernel(
                pfkey::Message::new(pfkey::MsgType::REGISTER, t)
                    .with_seq(s)
                    .with_pid(ep.opts.pid),
            );
        }
        let s = ep.next_seq();
        ep.out.kernel(
            pfkey::Message::new(pfkey::MsgType::X_SPDDUMP, pfkey::SaType::UNSPEC)
                .with_seq(s)
                .with_pid(ep.opts.pid),
        );
        ep
    }

    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    pub(crate) fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.tx.pop_front()
    }

    /// The next PF_KEY message to send.
    pub fn poll_kernel(&mut self) -> Option<pfkey::Message> {
        self.out.kq.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.ev.pop_front()
    }

    /// Messages being reassembled from IKE fragments (for tests and diagnostics).
    #[doc(hidden)]
    pub fn ike_fragments_pending(&self) -> usize {
        self.reasm.pending()
    }

    /// The SPD image (read-only).
    pub fn spd(&self) -> &SpdImage {
        &self.spd
    }

    /// Sets the certificate credentials (`rsasig`), one entry per `remote` block of the
    /// configuration. Call again after [`Endpoint::reload`] with the new configuration's.
    pub fn set_credentials(&mut self, creds: crate::creds::Credentials) {
        self.creds = creds;
    }

    /// Replaces the configuration (SIGHUP). Existing SAs keep their negotiated values; the
    /// SPD is dumped again.
    pub fn reload(&mut self, cfg: Config, psk: PskFile) {
        self.cfg = cfg;
        self.psk = psk;
        // phase 1 SAs whose remote block is gone follow the first one; with no remote block
        // left at all they are dropped (nothing could be negotiated under them)
        if self.cfg.remotes.is_empty() {
            let ids: Vec<u64> = self.ph1s.keys().copied().collect();
            for id in ids {
                self.remove_ph1(id, true);
            }
        }
        for p in self.ph1s.values_mut() {
            if p.remote_cfg >= self.cfg.remotes.len() {
                p.remote_cfg = 0;
            }
        }
        let s = self.next_seq();
        self.out.kernel(
            pfkey::Message::new(pfkey::MsgType::X_SPDDUMP, pfkey::SaType::UNSPEC)
                .with_seq(s)
                .with_pid(self.opts.pid),
        );
    }

    /// Phase-1 SAs for the admin socket.
    pub fn list_phase1(&self) -> Vec<Phase1Info> {
        self.ph1s
            .values()
            .map(|p| Phase1Info {
                local: p.local,
                remote: p.remote,
                icookie: p.icky,
                rcookie: p.rcky,
                state: p.state.name(),
                role: p.role,
                created: p.created,
                ph2_count: p.ph2_count,
                aggressive: p.exchange == ExchangeType::AGGRESSIVE,
            })
            .collect()
    }

    /// The earliest time [`Endpoint::handle_timeout`] wants to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t1 = self.ph1s.values().flat_map(|p| {
            [
                p.retx.as_ref().map(|r| r.at),
                p.expires,
                p.dpd.next,
                p.keepalive,
                p.rekey_at,
                (!p.is_established())
                    .then(|| p.created + Duration::from_secs(self.cfg.timer.phase1.max(1))),
            ]
        });
        let t2 = self
            .ph2s
            .values()
            .flat_map(|p| [p.retx.as_ref().map(|r| r.at), p.deadline, p.expires]);
        t1.chain(t2).flatten().min()
    }

    pub(crate) fn remote_cfg(&self, i: usize) -> &Remote {
        &self.cfg.remotes[i.min(self.cfg.remotes.len().saturating_sub(1))]
    }

    /// racoon's remote selection: the unique best match by address (specific beats
    /// anonymous); `initiate` excludes passive remotes.
    pub(crate) fn find_remote(&self, peer: IpAddr, initiate: bool) -> Option<usize> {
        let mut best: Option<(u8, usize)> = None;
        for (i, r) in self.cfg.remotes.iter().enumerate() {
            if initiate && r.passive {
                continue;
            }
            let score = match r.peer() {
                Some(a) if a.addr.ip == peer => 2,
                Some(_) => continue,
                None => 1,
            };
            if best.map_or(true, |(s, _)| score > s) {
                best = Some((score, i));
            }
        }
        best.map(|(_, i)| i)
    }

    pub(crate) fn send_ph1_bytes(
        out: &mut Out,
        p: &mut Ph1,
        data: Vec<u8>,
        now: Instant,
        retx: Option<(u32, u64)>,
    ) {
        let natt = p.natt.floated;
        let max =
            isakmp::frag::max_datagram_len(isakmp::frag::DEFAULT_MTU, p.remote.is_ipv6(), natt);
        p.last_frags = Vec::new();
        if p.frag_send() && data.len() > max {
            p.frag_id = p.frag_id.wrapping_add(1);
            // a message that cannot be split goes out whole
            if let Ok(f) = isakmp::frag::split(&data, max, p.frag_id, p.exchange) {
                p.last_frags = f;
            }
        }
        p.last_sent = Some(data);
        Self::resend_ph1(out, p);
        p.retx = retx.map(|(counter, interval)| Retx {
            at: now + Duration::from_secs(interval.max(1)),
            left: counter,
            interval: Duration::from_secs(interval.max(1)),
        });
    }

    /// Queues the last phase-1 message again (as fragments when it was fragmented).
    pub(crate) fn resend_ph1(out: &mut Out, p: &Ph1) {
        let one = |data: Vec<u8>| Transmit {
            local: p.local,
            remote: p.remote,
            data,
            non_esp_marker: p.natt.floated,
        };
        if !p.last_frags.is_empty() {
            for f in &p.last_frags {
                out.push_tx(one(f.clone()));
            }
        } else if let Some(d) = &p.last_sent {
            out.push_tx(one(d.clone()));
        }
    }

    /// Encodes and encrypts a message under phase 1 `p` with `iv`; returns the bytes and the
    /// next IV.
    pub(crate) fn seal(
        p: &Ph1,
        exchange: ExchangeType,
        msgid: u32,
        flags: Flags,
        payloads: &[Payload],
        iv: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let cipher = p.cipher.as_ref().ok_or(Error::UnexpectedState("no keys"))?;
        let mut body = Vec::new();
        let np = encode_payloads(payloads, &mut body).map_err(|_| Error::Limit("message size"))?;
        cipher.pad(&mut body);
        let next = cipher.encrypt(iv, &mut body).map_err(|_| Error::Decrypt)?;
        let hdr = Header {
            initiator_cookie: p.icky,
            responder_cookie: p.rcky,
            next_payload: np,
            version: isakmp::VERSION_1_0,
            exchange,
            flags: flags | Flags::ENCRYPTION,
            message_id: msgid,
            length: 0,
        };
        let m = Message {
            header: hdr,
            body: isakmp::Body::Encrypted(body),
        };
        let bytes = m.encode().map_err(|_| Error::Limit("message size"))?;
        Ok((bytes, next))
    }

    /// Encodes a cleartext message.
    pub(crate) fn plain(
        p: &Ph1,
        exchange: ExchangeType,
        payloads: Vec<Payload>,
    ) -> Result<Vec<u8>> {
        let m = Message {
            header: Header {
                initiator_cookie: p.icky,
                responder_cookie: p.rcky,
                next_payload: PayloadType::NONE,
                version: isakmp::VERSION_1_0,
                exchange,
                flags: Flags::default(),
                message_id: 0,
                length: 0,
            },
            body: isakmp::Body::Plain(payloads),
        };
        m.encode().map_err(|_| Error::Limit("message size"))
    }

    /// Inbound datagram (`data` without the non-ESP marker) from `remote` to `local`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) {
        if let Err(e) = self.datagram(now, local, remote, data) {
            self.out.log(
                Level::Debug,
                Some(remote.ip()),
                format!("dropped message from {remote}: {e}"),
            );
        }
    }

    fn datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) -> Result<()> {
        // 1. header
        let hdr = Header::decode(data)?;
        if hdr.version >> 4 != 1 {
            return Err(Error::PeerMisbehaved("major version"));
        }
        if (hdr.length as usize) > data.len() || (hdr.length as usize) < HEADER_LEN {
            return Err(Error::PeerMisbehaved("length"));
        }
        let data = &data[..hdr.length as usize];
        // 1b. IKE fragments: reassembled (bounded) before anything else, for known cookies
        if hdr.next_payload == PayloadType::FRAGMENT {
            return self.fragment(now, local, remote, &hdr, data);
        }
        // 2. SA by cookies
        let key = (hdr.initiator_cookie, hdr.responder_cookie);
        let id = match self.by_cookie.get(&key) {
            Some(id) => *id,
            None => {
                let zero = (hdr.initiator_cookie, [0u8; 8]);
                match self.by_cookie.get(&zero).copied() {
                    Some(id)
                        if hdr.responder_cookie != [0; 8]
                            && self.ph1s.get(&id).is_some_and(|p| {
                                p.role == Role::Initiator
                                    && p.rcky == [0; 8]
                                    && p.remote.ip() == remote.ip()
                            }) =>
                    {
                        // first answer: learn the responder cookie
                        let p = self
                            .ph1s
                            .get_mut(&id)
                            .ok_or(Error::UnexpectedState("gone"))?;
                        p.rcky = hdr.responder_cookie;
                        self.by_cookie.remove(&zero);
                        self.by_cookie.insert(key, id);
                        id
                    }
                    _ if hdr.responder_cookie == [0; 8]
                        && !hdr.is_encrypted()
                        && hdr.message_id == 0
                        && (hdr.exchange == ExchangeType::MAIN
                            || hdr.exchange == ExchangeType::AGGRESSIVE) =>
                    {
                        // a retransmitted first message goes to the responder SA it created
                        let existing = self.ph1s.values().find(|p| {
                            p.role == Role::Responder
                                && p.icky == hdr.initiator_cookie
                                && p.remote == remote
                        });
                        if let Some(id) = existing.map(|p| p.id) {
                            id
                        } else {
                            let msg = Message::decode(data)?;
                            return self.new_responder(now, local, remote, &msg, data);
                        }
                    }
                    _ => return Err(Error::PeerMisbehaved("unknown cookies")),
                }
            }
        };
        self.on_ph1_message(now, id, local, remote, &hdr, data)
    }

    fn fragment(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &Header,
        data: &[u8],
    ) -> Result<()> {
        let known = self
            .by_cookie
            .get(&(hdr.initiator_cookie, hdr.responder_cookie))
            .or_else(|| self.by_cookie.get(&(hdr.initiator_cookie, [0; 8])))
            .and_then(|id| self.ph1s.get(id))
            .is_some_and(|p| p.frag_mode != conf::Tristate::Off && p.remote.ip() == remote.ip());
        if !known {
            return Err(Error::PeerMisbehaved(
                "IKE fragment for no fragmenting phase 1",
            ));
        }
        let t0 = *self.t0.get_or_insert(now);
        let secs = i64::try_from(now.saturating_duration_since(t0).as_secs()).unwrap_or(i64::MAX);
        match self.reasm.insert(data, secs) {
            Ok(Some(full)) => {
                self.out.log(
                    Level::Debug,
                    Some(remote.ip()),
                    format!(
                        "reassembled a {}-byte message from IKE fragments",
                        full.len()
                    ),
                );
                // never a fragment again: the reassembler refuses nested fragments
                self.datagram(now, local, remote, &full)
            }
            Ok(None) => Ok(()),
            Err(e) => {
                self.out
                    .log(Level::Debug, Some(remote.ip()), format!("dropped: {e}"));
                Err(Error::PeerMisbehaved("bad IKE fragment"))
            }
        }
    }

    fn on_ph1_message(
        &mut self,
        now: Instant,
        id: u64,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &Header,
        data: &[u8],
    ) -> Result<()> {
        // keys computed on a helper thread are needed from here on (MM5 decryption)
        self.resolve_keys(id)?;
        let fp = fingerprint(data);
        // 3. retransmitted request: resend the stored reply
        if hdr.message_id == 0 {
            let p = self
                .ph1s
                .get_mut(&id)
                .ok_or(Error::UnexpectedState("gone"))?;
            if p.last_recv.as_deref() == Some(&fp[..]) {
                if p.role == Role::Responder || p.is_established() {
                    Self::resend_ph1(&mut self.out, p);
                }
                return Ok(());
            }
        } else if let Some(p2) = self.ph2_by_msgid.get(&(id, hdr.message_id)).copied() {
            if let Some(q) = self.ph2s.get(&p2) {
                if q.last_recv.as_deref() == Some(&fp[..]) {
                    if let (Some(d), Some(p)) = (q.last_sent.clone(), self.ph1s.get(&id)) {
                        if q.role == Role::Responder || q.state == P2State::Established {
                            self.out.push_tx(Transmit {
                                local: p.local,
                                remote: p.remote,
                                data: d,
                                non_esp_marker: p.natt.floated,
                            });
                        }
                    }
                    return Ok(());
                }
            }
        }
        // A Quick Mode that overtook Aggressive Mode message 3 cannot even be decrypted yet
        // (its IV follows from AM3): queue the datagram as it is.
        if hdr.exchange == ExchangeType::QUICK && self.queue_early_qm(id, local, remote, data) {
            return Ok(());
        }
        // 4. staged decryption
        let (payloads, staged_iv, plain_body) = {
            let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("gone"))?;
            if hdr.is_encrypted() {
                let cipher = p.cipher.as_ref().ok_or(Error::Decrypt)?;
                let iv = if hdr.message_id == 0 {
                    p.iv.clone()
                } else if let Some(q) = self
                    .ph2_by_msgid
                    .get(&(id, hdr.message_id))
                    .and_then(|i| self.ph2s.get(i))
                {
                    q.iv.clone()
                } else {
                    phase2_iv(p.hash(), &p.iv, hdr.message_id, cipher.block_size())
                };
                let mut body = data[HEADER_LEN..].to_vec();
                let next = cipher.decrypt(&iv, &mut body).map_err(|_| Error::Decrypt)?;
                // 5. payload chain
                let pl = match decode_payloads(hdr.next_payload, &body, 0, Trailing::Padding) {
                    Ok(pl) => pl,
                    Err(e) => {
                        if !p.is_established() {
                            // the usual sign of a wrong pre-shared key (strongSwan answers a
                            // bad MM5 with an encrypted informational we cannot read): keep
                            // the SA (garbage
                            // from anyone must not end it), say what is likely wrong, and
                            // answer a phase-1 message where it came from
                            self.out.log(
                                Level::Error,
                                Some(remote.ip()),
                                format!(
                                    "phase 1 message from {remote} does not decrypt: \
                                     authentication failed (bad pre-shared key?)"
                                ),
                            );
                            if hdr.message_id == 0 {
                                self.notify_undecryptable(id, local, remote);
                            }
                        }
                        return Err(e.into());
                    }
                };
                (pl, Some(next), body)
            } else {
                let m = Message::decode(data)?;
                (m.payloads().to_vec(), None, Vec::new())
            }
        };
        let ctx = Inbound {
            now,
            local,
            remote,
            hdr: *hdr,
            payloads: &payloads,
            body: &plain_body,
            staged_iv,
            fingerprint: fp,
        };
        // 6-8: rule table, state handler, IV commit (inside the handlers)
        match hdr.exchange {
            ExchangeType::MAIN | ExchangeType::AGGRESSIVE if hdr.message_id == 0 => {
                self.phase1_input(id, &ctx)
            }
            ExchangeType::QUICK if hdr.message_id != 0 => self.quick_input(id, &ctx, data),
            ExchangeType::INFORMATIONAL => self.info_input(id, &ctx),
            _ => Err(Error::PeerMisbehaved("unexpected exchange")),
        }
    }

    /// Tells the peer why (HASH(1)-protected once keys exist, else in the clear), logs, drops.
    pub(crate) fn fail_ph1(&mut self, id: u64, err: &Error) {
        // racoon's isakmp_info_send_common: once SKEYID_a exists the notify goes with HASH(1),
        // encrypted (the peer can verify it and give up at once: strongSwan does the same, and
        // our info_input acts on such an error notify before phase 1 completes); before that
        // it goes in the clear
        let keys = self.ph1s.get(&id).is_some_and(|p| p.keys.is_some());
        if let (true, Some(n), Some(p)) = (keys, err.notify(), self.ph1s.get(&id)) {
            let nt = Payload::Notify(isakmp::Notify {
                doi: isakmp::Doi::IPSEC,
                protocol: ProtocolId::ISAKMP,
                notify_type: n,
                spi: [p.icky, p.rcky].concat(),
                data: Vec::new(),
            });
            let now = p.created;
            let _ = self.send_info(now, id, vec![nt]);
        }
        let Some(p) = self.ph1s.get_mut(&id) else {
            return;
        };
        let remote = p.remote;
        let msg = match err {
            Error::AuthenticationFailed => {
                "phase1 negotiation failed: authentication failed (bad pre-shared key?)".to_string()
            }
            Error::NoProposalChosen => "no suitable proposal found.".to_string(),
            e => format!("phase1 negotiation failed: {e}"),
        };
        self.out.log(Level::Error, Some(remote.ip()), msg.clone());
        self.out.event(Event::Phase1Failed {
            remote,
            reason: msg,
        });
        if let (Some(n), false) = (err.notify(), keys) {
            // notify in the clear, as racoon does before keys exist
            let nt = Payload::Notify(isakmp::Notify {
                doi: isakmp::Doi::IPSEC,
                protocol: ProtocolId::ISAKMP,
                notify_type: n,
                spi: [p.icky, p.rcky].concat(),
                data: Vec::new(),
            });
            if let Ok(bytes) = Self::plain(p, ExchangeType::INFORMATIONAL, vec![nt]) {
                let marker = p.natt.floated;
                self.out.push_tx(Transmit {
                    local: p.local,
                    remote: p.remote,
                    data: bytes,
                    non_esp_marker: marker,
                });
            }
        }
        self.remove_ph1(id, false);
    }

    pub(crate) fn remove_ph1(&mut self, id: u64, announce: bool) {
        let Some(p) = self.ph1s.remove(&id) else {
            return;
        };
        self.by_cookie.retain(|_, v| *v != id);
        if announce {
            self.out.log(
                Level::Info,
                Some(p.remote.ip()),
                format!(
                    "ISAKMP-SA deleted {}-{} spi:{}:{}",
                    p.local,
                    p.remote,
                    hex(&p.icky),
                    hex(&p.rcky)
                ),
            );
            self.out.event(Event::Phase1Deleted {
                remote: p.remote,
                icookie: p.icky,
                rcookie: p.rcky,
            });
        }
        // phase 2 exchanges that were still negotiating under it fail
        let pending: Vec<u64> = self
            .ph2s
            .values()
            .filter(|q| q.ph1 == Some(id) && q.state != P2State::Established)
            .filter(|q| q.state != P2State::I(QuickI::WaitPh1))
            .map(|q| q.id)
            .collect();
        for q in pending {
            self.fail_ph2(q, "phase 1 went away");
        }
        for q in self.ph2s.values_mut() {
            if q.ph1 == Some(id) {
                q.ph1 = None;
            }
        }
        self.ph2_by_msgid.retain(|(p1, _), _| *p1 != id);
    }

    /// Drives every timer that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        // incomplete IKE fragment sets are dropped after their timeout even if no other
        // fragment arrives
        if let Some(t0) = self.t0 {
            let secs =
                i64::try_from(now.saturating_duration_since(t0).as_secs()).unwrap_or(i64::MAX);
            self.reasm.expire(secs);
        }
        let ids: Vec<u64> = self.ph1s.keys().copied().collect();
        for id in ids {
            self.ph1_timers(now, id);
        }
        let ids: Vec<u64> = self.ph2s.keys().copied().collect();
        for id in ids {
            self.ph2_timers(now, id);
        }
    }

    fn ph1_timers(&mut self, now: Instant, id: u64) {
        let counter = self.cfg.timer.counter;
        let Some(p) = self.ph1s.get_mut(&id) else {
            return;
        };
        if !p.is_established()
            && now >= p.created + Duration::from_secs(self.cfg.timer.phase1.max(1))
        {
            let remote = p.remote;
            self.out.log(
                Level::Error,
                Some(remote.ip()),
                "phase1 negotiation failed due to time up.",
            );
            self.out.event(Event::Phase1Failed {
                remote,
                reason: "time up".into(),
            });
            let waiting: Vec<u64> = self
                .ph2s
                .values()
                .filter(|q| {
                    q.ph1 == Some(id)
                        || (q.ph1.is_none()
                            && q.peer == remote.ip()
                            && q.state == P2State::I(QuickI::WaitPh1))
                })
                .map(|q| q.id)
                .collect();
            self.remove_ph1(id, false);
            for q in waiting {
                self.fail_ph2(q, "phase 1 negotiation failed");
            }
            return;
        }
        let Some(p) = self.ph1s.get_mut(&id) else {
            return;
        };
        if let Some(r) = p.retx.as_mut() {
            if now >= r.at {
                if r.left == 0 {
                    p.retx = None;
                    let remote = p.remote;
                    self.out.log(
                        Level::Error,
                        Some(remote.ip()),
                        format!(
                            "phase1 negotiation failed due to time up. (no response from {remote})"
                        ),
                    );
                    if !p.is_established() {
                        self.out.event(Event::Phase1Failed {
                            remote,
                            reason: "no response".into(),
                        });
                        self.remove_ph1(id, false);
                        return;
                    }
                } else {
                    r.left -= 1;
                    // backoff: the interval doubles on every retransmission, capped
                    r.interval = (r.interval * 2).min(Duration::from_secs(60));
                    r.at = now + r.interval;
                    Self::resend_ph1(&mut self.out, p);
                }
            }
        }
        let _ = counter;
        if let Some(at) = p.keepalive {
            if now >= at {
                p.keepalive = Some(now + Duration::from_secs(self.cfg.timer.natt_keepalive.max(1)));
                self.out.push_tx(Transmit {
                    local: p.local,
                    remote: p.remote,
                    data: vec![0xff],
                    non_esp_marker: false,
                });
            }
        }
        if p.expires.is_some_and(|t| now >= t) {
            self.expire_ph1(now, id);
            return;
        }
        if p.rekey_at.is_some_and(|t| now >= t) {
            p.rekey_at = None;
            let (role, local, remote, rc) = (p.role, p.local, p.remote, p.remote_cfg);
            let has_ph2 = self
                .ph2s
                .values()
                .any(|q| q.peer == remote.ip() && q.state == P2State::Established);
            let newer = self
                .ph1s
                .values()
                .any(|x| x.id != id && x.remote.ip() == remote.ip());
            if role == Role::Initiator && has_ph2 && !newer {
                self.out.log(
                    Level::Info,
                    Some(remote.ip()),
                    "ISAKMP-SA is dying: starting a new phase 1",
                );
                let mut l = local;
                let mut r = remote;
                l.set_port(self.opts.ike_port);
                r.set_port(
                    self.remote_cfg(rc)
                        .peer()
                        .map_or(self.opts.ike_port, |a| a.port),
                );
                let _ = self.start_ph1(now, l, r, rc);
            }
            return;
        }
        if p.dpd.next.is_some_and(|t| now >= t) {
            self.dpd_tick(now, id);
        }
    }

    fn expire_ph1(&mut self, now: Instant, id: u64) {
        let Some(p) = self.ph1s.get(&id) else {
            return;
        };
        let remote = p.remote;
        let local = p.local;
        let role = p.role;
        self.send_delete_ph1(now, id);
        self.remove_ph1(id, true);
        // phase-1 rekey: an initiator with established phase 2s starts a new phase 1
        let has_ph2 = self
            .ph2s
            .values()
            .any(|q| q.peer == remote.ip() && q.state == P2State::Established);
        let r = self.find_remote(remote.ip(), true);
        let newer = self.ph1s.values().any(|x| x.remote.ip() == remote.ip());
        if role == Role::Initiator && has_ph2 && !newer {
            if let Some(r) = r {
                if self.cfg.remotes[r].rekey != conf::Tristate::Off {
                    let _ = self.start_ph1(now, local, remote, r);
                }
            }
        }
    }

    /// Starts a phase 1 to `remote` (`establish-sa` from the admin socket). Returns false
    /// when no remote block fits.
    pub fn establish_sa(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) -> bool {
        match self.find_remote(remote.ip(), true) {
            Some(r) => self.start_ph1(now, local, remote, r).is_ok(),
            None => false,
        }
    }

    /// Deletes every SA with `peer` (phase 1 and phase 2), telling the peer (`delete-sa`).
    pub fn delete_sa(&mut self, now: Instant, peer: IpAddr) {
        let ph2: Vec<u64> = self
            .ph2s
            .values()
            .filter(|q| q.peer == peer)
            .map(|q| q.id)
            .collect();
        for q in ph2 {
            self.delete_ph2(now, q, true);
        }
        let ph1: Vec<u64> = self
            .ph1s
            .values()
            .filter(|p| p.remote.ip() == peer)
            .map(|p| p.id)
            .collect();
        for id in ph1 {
            self.send_delete_ph1(now, id);
            self.remove_ph1(id, true);
        }
        self.contacted.remove(&peer);
    }

    /// Forgets one phase 1 that is not established (the driver's half-open
    /// eviction): `icookie` and `remote` name it. Nothing is sent; phase 2s
    /// waiting for it fail as on any phase-1 removal. Returns whether it existed.
    pub fn drop_half_open(&mut self, icookie: [u8; 8], remote: SocketAddr) -> bool {
        let id = self
            .ph1s
            .values()
            .find(|p| p.icky == icookie && p.remote == remote && !p.is_established())
            .map(|p| p.id);
        match id {
            Some(id) => {
                self.remove_ph1(id, false);
                true
            }
            None => false,
        }
    }

    /// Deletes every phase-1 SA (`flush-sa isakmp`). Phase 2s still waiting for a phase 1
    /// with one of those peers fail now (ACQUIRE answered, larval SAs deleted) instead of
    /// waiting for their timer; established phase 2s are left to their lifetimes, as racoon.
    pub fn flush_phase1(&mut self, now: Instant) {
        let ids: Vec<u64> = self.ph1s.keys().copied().collect();
        let peers: Vec<IpAddr> = self.ph1s.values().map(|p| p.remote.ip()).collect();
        for id in ids {
            self.send_delete_ph1(now, id);
            self.remove_ph1(id, true);
        }
        let waiting: Vec<u64> = self
            .ph2s
            .values()
            .filter(|q| q.state == P2State::I(QuickI::WaitPh1) && peers.contains(&q.peer))
            .map(|q| q.id)
            .collect();
        for q in waiting {
            self.fail_ph2(q, "phase 1 flushed");
        }
    }

    pub(crate) fn established_ph1(&self, peer: IpAddr) -> Option<u64> {
        self.ph1s
            .values()
            .filter(|p| p.remote.ip() == peer && p.is_established())
            .max_by_key(|p| p.established)
            .map(|p| p.id)
    }

    pub(crate) fn half_open(&self) -> usize {
        self.ph1s.values().filter(|p| !p.is_established()).count()
    }

    pub(crate) fn rand_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill_bytes(&mut v);
        v
    }

    pub(crate) fn rand_msgid(&mut self) -> u32 {
        loop {
            let v = self.rng.next_u32();
            if v != 0 {
                return v;
            }
        }
    }
}

/// One decoded inbound message.
pub(crate) struct Inbound<'a> {
    pub now: Instant,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub hdr: Header,
    pub payloads: &'a [Payload],
    /// Decrypted body (empty for cleartext).
    pub body: &'a [u8],
    pub staged_iv: Option<Vec<u8>>,
    pub fingerprint: Vec<u8>,
}

impl Inbound<'_> {
    pub fn find<T>(&self, f: impl Fn(&Payload) -> Option<&T>) -> Option<&T> {
        self.payloads.iter().find_map(f)
    }

    /// The first SA payload.
    pub fn sa_payload(&self) -> Option<&isakmp::Sa> {
        self.find(|x| match x {
            Payload::Sa(v) => Some(v),
            _ => None,
        })
    }

    /// The first KE payload's data.
    pub fn ke(&self) -> Option<&Vec<u8>> {
        self.find(|x| match x {
            Payload::Ke(v) => Some(v),
            _ => None,
        })
    }

    /// The first ID payload.
    pub fn id_payload(&self) -> Option<&isakmp::Identification> {
        self.find(|x| match x {
            Payload::Id(v) => Some(v),
            _ => None,
        })
    }

    /// The first NONCE payload's data.
    pub fn nonce(&self) -> Option<&Vec<u8>> {
        self.find(|x| match x {
            Payload::Nonce(v) => Some(v),
            _ => None,
        })
    }
}
