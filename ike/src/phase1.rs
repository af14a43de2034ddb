//! Phase 1: Main Mode and Aggressive Mode, both roles, pre-shared keys. Key derivation,
//! HASH_I/HASH_R, IDs, vendor IDs and NAT-D are shared by both modes.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use conf::{Identifier, Tristate};
use isakmp::{
    ExchangeType, Flags, IdValue, Identification, Message, NotifyType, Payload, ProtocolId,
};

use crate::auth::is_sig;
use crate::crypto::{
    natd_hash, phase1_iv, DhPrivate, HashAlg, IkeCipher, Phase1Auth, Phase1Inputs, Phase1Keys,
    Secret,
};
use crate::endpoint::{
    hex, AggrI, AggrR, Dpd, Endpoint, Inbound, MainI, MainR, Natt, NattVer, P1State, Ph1,
    MAX_EARLY_QM, MAX_HALF_OPEN, MAX_NONCE, MAX_PH1,
};
use crate::error::{Error, Result};
use crate::proposal::{ph1_accept, ph1_candidates, ph1_sa, ph1_select};
use crate::rules::{check, MsgKind};
use crate::types::{Event, Level, RngRef, Role, Transmit};

/// DPD vendor ID (RFC 3706).
pub const VID_DPD: [u8; 16] = [
    0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00,
];

/// The NAT-T vendor IDs: MD5 of the version string.
pub fn natt_vid(name: &str) -> Vec<u8> {
    HashAlg::Md5.hash(&[name.as_bytes()])
}

const NATT_NAMES: [(&str, NattVer); 6] = [
    ("RFC 3947", NattVer::Rfc),
    ("draft-ietf-ipsec-nat-t-ike-03", NattVer::Draft02),
    ("draft-ietf-ipsec-nat-t-ike-02\n", NattVer::Draft02),
    ("draft-ietf-ipsec-nat-t-ike-02", NattVer::Draft02),
    ("draft-ietf-ipsec-nat-t-ike-01", NattVer::Draft00),
    ("draft-ietf-ipsec-nat-t-ike-00", NattVer::Draft00),
];

fn our_vids(r: &conf::Remote, exchange: ExchangeType) -> Vec<Payload> {
    let mut v = Vec::new();
    if r.ike_frag != Tristate::Off {
        let caps = if exchange == ExchangeType::AGGRESSIVE {
            isakmp::frag::CAPS_BASE | isakmp::frag::CAPS_AGGRESSIVE
        } else {
            isakmp::frag::CAPS_BASE
        };
        v.push(Payload::VendorId(isakmp::frag::vendor_id(caps).to_vec()));
    }
    if r.nat_traversal != Tristate::Off {
        for (n, _) in &NATT_NAMES[..4] {
            v.push(Payload::VendorId(natt_vid(n)));
        }
    }
    if r.dpd {
        v.push(Payload::VendorId(VID_DPD.to_vec()));
    }
    v
}

fn peer_vids(payloads: &[Payload], p: &mut Ph1, natt_on: bool) {
    for pl in payloads {
        if let Payload::VendorId(v) = pl {
            if v[..] == VID_DPD[..] {
                p.dpd.peer = true;
            }
            if isakmp::frag::parse_vendor_id(v).is_some() {
                p.frag_peer = true;
            }
            if natt_on {
                for (n, ver) in NATT_NAMES {
                    if natt_vid(n) == *v && p.natt.peer.map_or(true, |x| ver > x) {
                        p.natt.peer = Some(ver);
                    }
                }
            }
        }
    }
}

fn natd_draft(p: &Ph1) -> bool {
    p.natt.peer != Some(NattVer::Rfc)
}

/// NAT-D payloads: first the peer's address as we send to it, then ours.
fn natd_payloads(p: &Ph1, force: bool) -> Vec<Payload> {
    let h = p.hash();
    let draft = natd_draft(p);
    let unspec = |a: SocketAddr| {
        if a.is_ipv4() {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        }
    };
    let local_ip = if force { unspec(p.local) } else { p.local.ip() };
    vec![
        Payload::NatD {
            draft,
            hash: natd_hash(h, &p.icky, &p.rcky, p.remote.ip(), p.remote.port()),
        },
        Payload::NatD {
            draft,
            hash: natd_hash(h, &p.icky, &p.rcky, local_ip, p.local.port()),
        },
    ]
}

fn check_natd(p: &mut Ph1, payloads: &[Payload]) {
    let hashes: Vec<&Vec<u8>> = payloads
        .iter()
        .filter_map(|x| match x {
            Payload::NatD { hash, .. } => Some(hash),
            _ => None,
        })
        .collect();
    let Some((first, rest)) = hashes.split_first() else {
        return;
    };
    let h = p.hash();
    let me = natd_hash(h, &p.icky, &p.rcky, p.local.ip(), p.local.port());
    let them = natd_hash(h, &p.icky, &p.rcky, p.remote.ip(), p.remote.port());
    p.natt.local_nat = **first != me;
    p.natt.peer_nat = !rest.iter().any(|x| **x == them);
}

fn my_identification(
    p_local: SocketAddr,
    r: &conf::Remote,
    asn1dn: Option<&[u8]>,
) -> Identification {
    let v;
    let id = match &r.my_identifier {
        Identifier::Asn1Dn(_) if asn1dn.is_some() => IdValue::DerAsn1Dn(asn1dn.unwrap_or_default()),
        Identifier::Address(Some(a)) => IdValue::Addr(*a),
        Identifier::Fqdn(s) => {
            v = s.clone().into_bytes();
            IdValue::Fqdn(&v)
        }
        Identifier::UserFqdn(s) => {
            v = s.clone().into_bytes();
            IdValue::UserFqdn(&v)
        }
        Identifier::KeyIdTag(s) => {
            v = s.clone().into_bytes();
            IdValue::KeyId(&v)
        }
        _ => IdValue::Addr(p_local.ip()),
    };
    Identification::new(&id, 0, 0)
}

fn id_string(id: &Identification) -> Option<String> {
    match id.value() {
        IdValue::Addr(a) => Some(a.to_string()),
        IdValue::Fqdn(b) | IdValue::UserFqdn(b) | IdValue::KeyId(b) => {
            String::from_utf8(b.to_vec()).ok()
        }
        _ => None,
    }
}

fn ident_matches(want: &Identifier, got: &Identification, cert: Option<&pki::Certificate>) -> bool {
    match (want, got.value()) {
        (Identifier::Asn1Dn(Some(s)), IdValue::DerAsn1Dn(d)) => {
            if s.starts_with('~') {
                pki::asn1dn_from_config(s).is_ok_and(|w| pki::names_equal(&w, d))
            } else {
                pki::DnPattern::parse(s)
                    .is_ok_and(|pat| pki::check_peers_asn1dn(Some(&pat), d, cert).is_ok())
            }
        }
        // without a value: the certificate's subject (checked again once the certificate is known)
        (Identifier::Asn1Dn(None), IdValue::DerAsn1Dn(d)) => {
            cert.map_or(true, |c| pki::names_equal(d, c.subject_der()))
        }
        (Identifier::Address(Some(a)), IdValue::Addr(b)) => *a == b,
        (Identifier::Address(None), IdValue::Addr(_)) => true,
        (Identifier::Fqdn(s), IdValue::Fqdn(b)) => s.as_bytes() == b,
        (Identifier::UserFqdn(s), IdValue::UserFqdn(b)) => s.as_bytes() == b,
        (Identifier::KeyIdTag(s), IdValue::KeyId(b)) => s.as_bytes() == b,
        _ => false,
    }
}

/// Most g^xy computations queued for or running on the DH worker threads (more are done
/// inline on the caller's thread).
pub(crate) const MAX_GXY_JOBS: usize = 64;

static GXY_JOBS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

type DhJob = Box<dyn FnOnce() + Send>;

/// The DH worker threads (one per core, at most 4, started on first use) and their bounded
/// job queue. A fixed pool rather than a thread per job: a burst of MM3s queues up instead of
/// crowding the core's thread off the CPU. `None` when no thread could be started.
fn dh_pool() -> Option<&'static std::sync::mpsc::SyncSender<DhJob>> {
    use std::sync::{Arc, Mutex, OnceLock};
    static POOL: OnceLock<Option<std::sync::mpsc::SyncSender<DhJob>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<DhJob>(MAX_GXY_JOBS);
        let rx = Arc::new(Mutex::new(rx));
        let n = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
        let mut started = 0;
        for i in 0..n {
            let rx = Arc::clone(&rx);
            let worker = move || loop {
                // the lock is held only while waiting for the next job
                let job = match rx.lock() {
                    Ok(q) => q.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            };
            if std::thread::Builder::new()
                .name(format!("ike-dh-{i}"))
                .spawn(worker)
                .is_ok()
            {
                started += 1;
            }
        }
        (started > 0).then_some(tx)
    })
    .as_ref()
}

/// The receiving end of a g^xy computation on a helper thread: our DH key comes back with
/// the result.
pub(crate) struct PendingGxy(
    std::sync::mpsc::Receiver<(
        DhPrivate,
        std::result::Result<crate::crypto::Secret, crate::crypto::CryptoError>,
    )>,
);

impl Endpoint {
    fn lookup_psk(&self, p: &Ph1) -> Option<Secret> {
        let r = self.remote_cfg(p.remote_cfg);
        let mut keys: Vec<String> = Vec::new();
        if let Some(id) = p.peer_id.as_ref().and_then(id_string) {
            keys.push(id);
        }
        for pi in &r.peers_identifier {
            match pi {
                Identifier::Fqdn(s) | Identifier::UserFqdn(s) | Identifier::KeyIdTag(s) => {
                    keys.push(s.clone())
                }
                Identifier::Address(Some(a)) => keys.push(a.to_string()),
                _ => {}
            }
        }
        keys.push(p.remote.ip().to_string());
        keys.push("*".into());
        keys.iter()
            .find_map(|k| self.psk.lookup(k))
            .map(|k| Secret::new(k.expose().to_vec()))
    }

    fn fresh_ph1(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        remote_cfg: usize,
        role: Role,
        exchange: ExchangeType,
    ) -> Ph1 {
        let mut icky = [0u8; 8];
        let mut rcky = [0u8; 8];
        let mine = self.rand_bytes(8);
        match role {
            Role::Initiator => icky.copy_from_slice(&mine),
            Role::Responder => rcky.copy_from_slice(&mine),
        }
        let id = self.new_id();
        let asn1dn = match self.my_asn1dn(remote_cfg) {
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                self.out.log(
                    Level::Error,
                    Some(remote.ip()),
                    format!("{e}; sending the address as ID"),
                );
                None
            }
            None => None,
        };
        let r = self.remote_cfg(remote_cfg);
        Ph1 {
            id,
            role,
            exchange,
            state: P1State::Dead,
            icky,
            rcky,
            local,
            remote,
            remote_cfg,
            created: now,
            established: None,
            expires: None,
            cands: ph1_candidates(r),
            params: None,
            sai_b: Vec::new(),
            dh: None,
            ke_i: Vec::new(),
            ke_r: Vec::new(),
            ni: Vec::new(),
            nr: Vec::new(),
            keys: None,
            pending_gxy: None,
            cipher: None,
            iv: Vec::new(),
            my_id: my_identification(local, r, asn1dn.as_deref()),
            peer_id: None,
            psk: None,
            natt: Natt::default(),
            dpd: Dpd::default(),
            last_sent: None,
            last_recv: None,
            retx: None,
            ph2_count: 0,
            early_qm: Vec::new(),
            keepalive: None,
            rekey_at: None,
            frag_mode: r.ike_frag,
            frag_peer: false,
            frag_id: 0,
            last_frags: Vec::new(),
        }
    }

    fn retx_params(&self) -> Option<(u32, u64)> {
        Some((self.cfg.timer.counter, self.cfg.timer.interval))
    }

    /// Starts a phase 1 as initiator with the remote's first exchange mode.
    pub(crate) fn start_ph1(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        remote_cfg: usize,
    ) -> Result<u64> {
        if self.ph1s.len() >= MAX_PH1 || self.half_open() >= MAX_HALF_OPEN {
            return Err(Error::Limit("phase 1 SAs"));
        }
        let r = self.remote_cfg(remote_cfg).clone();
        let aggressive = r.exchange_mode.first() == Some(&conf::ExchangeMode::Aggressive);
        let exchange = if aggressive {
            ExchangeType::AGGRESSIVE
        } else {
            ExchangeType::MAIN
        };
        let mut p = self.fresh_ph1(now, local, remote, remote_cfg, Role::Initiator, exchange);
        if p.cands.is_empty() {
            return Err(Error::Config("no usable phase-1 proposal".into()));
        }
        self.out.log(
            Level::Info,
            Some(remote.ip()),
            format!("initiate new phase 1 negotiation: {local}<=>{remote}"),
        );
        let sa = ph1_sa(&p.cands);
        p.sai_b = sa.body_bytes().map_err(|_| Error::Limit("SA"))?;
        let mut payloads = vec![Payload::Sa(sa)];
        if aggressive {
            self.out
                .log(Level::Info, Some(remote.ip()), "begin Aggressive mode.");
            let group = p.cands[0].group;
            let dh = DhPrivate::generate(group, &mut RngRef(&mut *self.rng))?;
            p.ke_i = dh.public().to_vec();
            p.dh = Some(dh);
            p.ni = self.rand_bytes((r.nonce_size as usize).clamp(8, MAX_NONCE));
            payloads.push(Payload::Ke(p.ke_i.clone()));
            payloads.push(Payload::Nonce(p.ni.clone()));
            payloads.push(Payload::Id(p.my_id.clone()));
            payloads.extend(self.cr_payloads(remote_cfg, p.cands[0].auth));
            p.state = P1State::AggrI(AggrI::ExpectSecond);
        } else {
            self.out.log(
                Level::Info,
                Some(remote.ip()),
                "begin Identity Protection mode.",
            );
            p.state = P1State::MainI(MainI::ExpectSa);
        }
        payloads.extend(our_vids(&r, exchange));
        let bytes = Self::plain(&p, exchange, payloads)?;
        let retx = self.retx_params();
        Self::send_ph1_bytes(&mut self.out, &mut p, bytes, now, retx);
        let id = p.id;
        self.by_cookie.insert((p.icky, [0; 8]), id);
        self.ph1s.insert(id, p);
        Ok(id)
    }

    pub(crate) fn new_responder(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message,
        data: &[u8],
    ) -> Result<()> {
        if self.ph1s.len() >= MAX_PH1 || self.half_open() >= MAX_HALF_OPEN {
            return Err(Error::Limit("half-open phase 1 SAs"));
        }
        let ri = self
            .find_remote(remote.ip(), false)
            .ok_or_else(|| Error::Config(format!("couldn't find configuration for {remote}")))?;
        let r = self.remote_cfg(ri).clone();
        let exchange = msg.header.exchange;
        let allowed = r.exchange_mode.iter().any(|m| {
            (*m == conf::ExchangeMode::Main && exchange == ExchangeType::MAIN)
                || (*m == conf::ExchangeMode::Aggressive && exchange == ExchangeType::AGGRESSIVE)
        });
        if !allowed {
            return Err(Error::Config("exchange mode not allowed".into()));
        }
        let kind = if exchange == ExchangeType::MAIN {
            MsgKind::MainSa
        } else {
            MsgKind::AggrFirst
        };
        check(kind, msg.payloads(), false)?;
        let mut p = self.fresh_ph1(now, local, remote, ri, Role::Responder, exchange);
        p.icky = msg.header.initiator_cookie;
        let Some(Payload::Sa(sa)) = msg.payloads().iter().find(|x| matches!(x, Payload::Sa(_)))
        else {
            return Err(Error::PayloadCount(1));
        };
        p.sai_b = sa.raw.clone();
        peer_vids(msg.payloads(), &mut p, r.nat_traversal != Tristate::Off);
        let answer = match ph1_select(sa, &p.cands, r.proposal_check) {
            Ok((params, answer)) => {
                p.params = Some(params);
                answer
            }
            Err(e) => {
                self.out.log(
                    Level::Error,
                    Some(remote.ip()),
                    format!("no suitable proposal found. ({e})"),
                );
                self.out.event(Event::Phase1Failed {
                    remote,
                    reason: e.to_string(),
                });
                // tell the peer in the clear (no keys yet)
                let n = Payload::Notify(isakmp::Notify {
                    doi: isakmp::Doi::IPSEC,
                    protocol: ProtocolId::ISAKMP,
                    notify_type: NotifyType::NO_PROPOSAL_CHOSEN,
                    spi: [p.icky, p.rcky].concat(),
                    data: Vec::new(),
                });
                let bytes = Self::plain(&p, ExchangeType::INFORMATIONAL, vec![n])?;
                self.out.push_tx(Transmit {
                    local,
                    remote,
                    data: bytes,
                    non_esp_marker: false,
                });
                return Ok(());
            }
        };
        let mode = if exchange == ExchangeType::MAIN {
            "Identity Protection"
        } else {
            "Aggressive"
        };
        self.out.log(
            Level::Info,
            Some(remote.ip()),
            format!("respond new phase 1 negotiation: {local}<=>{remote}"),
        );
        self.out.log(
            Level::Info,
            Some(remote.ip()),
            format!("begin {mode} mode."),
        );
        let mut payloads = vec![Payload::Sa(answer)];
        if exchange == ExchangeType::AGGRESSIVE {
            let ke = msg.payloads().iter().find_map(|x| match x {
                Payload::Ke(k) => Some(k.clone()),
                _ => None,
            });
            let ni = msg.payloads().iter().find_map(|x| match x {
                Payload::Nonce(n) => Some(n.clone()),
                _ => None,
            });
            let id = msg.payloads().iter().find_map(|x| match x {
                Payload::Id(i) => Some(i.clone()),
                _ => None,
            });
            let (Some(ke), Some(ni), Some(idp)) = (ke, ni, id) else {
                return Err(Error::PayloadCount(4));
            };
            if ni.len() < 8 || ni.len() > MAX_NONCE {
                return Err(Error::PeerMisbehaved("nonce length"));
            }
            p.ke_i = ke;
            p.ni = ni;
            p.peer_id = Some(idp);
            self.verify_peer_id(&p)?;
            if !p.sig_auth() {
                p.psk = Some(
                    self.lookup_psk(&p)
                        .ok_or_else(|| Error::NoPsk(p.remote.ip().to_string()))?,
                );
            }
            let group = p
                .params
                .as_ref()
                .map(|x| x.group)
                .ok_or(Error::NoProposalChosen)?;
            let dh = DhPrivate::generate(group, &mut RngRef(&mut *self.rng))?;
            p.ke_r = dh.public().to_vec();
            p.dh = Some(dh);
            p.nr = self.rand_bytes((r.nonce_size as usize).clamp(8, MAX_NONCE));
            self.derive_keys(&mut p)?;
            let keys = p.keys.as_ref().ok_or(Error::UnexpectedState("keys"))?;
            let idr_b = p.my_id.body_bytes();
            let hash_r = keys.hash_r(&p.ke_i, &p.ke_r, &p.icky, &p.rcky, &p.sai_b, &idr_b);
            payloads.push(Payload::Ke(p.ke_r.clone()));
            payloads.push(Payload::Nonce(p.nr.clone()));
            payloads.push(Payload::Id(p.my_id.clone()));
            payloads.extend(self.auth_payloads(&p, hash_r)?);
            payloads
                .extend(self.cr_payloads(p.remote_cfg, p.params.as_ref().map_or(0, |x| x.auth)));
            payloads.extend(our_vids(&r, exchange));
            if p.natt.peer.is_some() {
                payloads.extend(natd_payloads(&p, r.nat_traversal == Tristate::Force));
                check_natd(&mut p, msg.payloads());
            }
            p.state = P1State::AggrR(AggrR::ExpectThird);
        } else {
            payloads.extend(our_vids(&r, exchange));
            p.state = P1State::MainR(MainR::ExpectKe);
        }
        let bytes = Self::plain(&p, exchange, payloads)?;
        p.last_recv = Some(crate::endpoint::fingerprint(data));
        let retx = self.retx_params();
        Self::send_ph1_bytes(&mut self.out, &mut p, bytes, now, retx);
        let id = p.id;
        self.by_cookie.insert((p.icky, p.rcky), id);
        self.ph1s.insert(id, p);
        self.note_peer_cr(id, msg.payloads());
        Ok(())
    }

    fn verify_peer_id(&self, p: &Ph1) -> Result<()> {
        self.verify_peer_id_with(p, p.peer_id.as_ref(), None)
    }

    /// `verify_identifier on`: the peer's ID must match one of `peers_identifier`; asn1dn
    /// entries without a value need the peer's certificate (`cert`).
    pub(crate) fn verify_peer_id_with(
        &self,
        p: &Ph1,
        got: Option<&Identification>,
        cert: Option<&pki::Certificate>,
    ) -> Result<()> {
        let r = self.remote_cfg(p.remote_cfg);
        if !r.verify_identifier || r.peers_identifier.is_empty() {
            return Ok(());
        }
        let got = got.ok_or(Error::InvalidId)?;
        if r.peers_identifier
            .iter()
            .any(|w| ident_matches(w, got, cert))
        {
            Ok(())
        } else {
            Err(Error::InvalidId)
        }
    }

    fn derive_keys(&self, p: &mut Ph1) -> Result<()> {
        let dh = p.dh.as_ref().ok_or(Error::UnexpectedState("dh"))?;
        let peer_ke = if p.role == Role::Initiator {
            &p.ke_r
        } else {
            &p.ke_i
        };
        let gxy = dh.shared_secret(peer_ke)?;
        self.derive_keys_with(p, gxy)
    }

    /// Main Mode responder with [`crate::Options::dh_offload`]: checks the initiator's KE
    /// now (a bad one is refused before MM4, as without offload) and queues g^xy for the DH
    /// worker threads; [`Endpoint::resolve_keys`] finishes. Falls back to [`Self::derive_keys`]
    /// for ECP groups and when [`MAX_GXY_JOBS`] computations are already running.
    fn derive_keys_offloaded(&self, p: &mut Ph1) -> Result<()> {
        use std::sync::atomic::Ordering;
        let dh_ok = p.dh.as_ref().is_some_and(|d| !d.group().is_ecp());
        if !self.opts.dh_offload || p.role != Role::Responder || !dh_ok {
            return self.derive_keys(p);
        }
        let Some(pool) = dh_pool() else {
            return self.derive_keys(p);
        };
        if GXY_JOBS.fetch_add(1, Ordering::AcqRel) >= MAX_GXY_JOBS {
            GXY_JOBS.fetch_sub(1, Ordering::AcqRel);
            return self.derive_keys(p);
        }
        let res = (|| {
            let dh = p.dh.take().ok_or(Error::UnexpectedState("dh"))?;
            if let Err(e) = dh.check_peer(&p.ke_i) {
                p.dh = Some(dh);
                return Err(e.into());
            }
            let peer = p.ke_i.clone();
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            let job: DhJob = Box::new(move || {
                let r = dh.shared_secret(&peer);
                let _ = tx.send((dh, r));
                GXY_JOBS.fetch_sub(1, Ordering::AcqRel);
            });
            // the counter keeps the queue below its capacity, so this only fails when the
            // workers are gone (the key is lost with the job: the negotiation fails)
            if pool.try_send(job).is_err() {
                return Err(Error::UnexpectedState("DH worker queue"));
            }
            p.pending_gxy = Some(PendingGxy(rx));
            Ok(())
        })();
        if res.is_err() && p.pending_gxy.is_none() {
            // no job was queued (a queued job decrements when it runs)
            GXY_JOBS.fetch_sub(1, Ordering::AcqRel);
        }
        res
    }

    /// Waits for g^xy computed on a helper thread (if any) and completes the key schedule.
    pub(crate) fn resolve_keys(&mut self, id: u64) -> Result<()> {
        let Some(p) = self.ph1s.get_mut(&id) else {
            return Ok(());
        };
        let Some(PendingGxy(rx)) = p.pending_gxy.take() else {
            return Ok(());
        };
        let (dh, gxy) = rx
            .recv()
            .map_err(|_| Error::UnexpectedState("DH thread gone"))?;
        p.dh = Some(dh);
        let mut p = self
            .ph1s
            .remove(&id)
            .ok_or(Error::UnexpectedState("gone"))?;
        let r = gxy
            .map_err(Error::from)
            .and_then(|g| self.derive_keys_with(&mut p, g));
        self.ph1s.insert(id, p);
        r
    }

    fn derive_keys_with(&self, p: &mut Ph1, gxy: crate::crypto::Secret) -> Result<()> {
        let params = p.params.clone().ok_or(Error::UnexpectedState("params"))?;
        let sig = is_sig(params.auth);
        if !sig && params.auth != 1 && params.auth != 65001 && params.auth != 65002 {
            return Err(Error::Config(format!(
                "authentication method {} is not supported (pre_shared_key and rsasig are)",
                params.auth
            )));
        }
        let psk = if sig {
            None
        } else {
            Some(
                p.psk
                    .clone()
                    .ok_or_else(|| Error::NoPsk(p.remote.ip().to_string()))?,
            )
        };
        let keys = Phase1Keys::derive(
            &Phase1Inputs {
                hash: params.hash,
                auth: match &psk {
                    Some(k) => Phase1Auth::PreSharedKey(k.as_ref()),
                    None => Phase1Auth::Signature,
                },
                ni: &p.ni,
                nr: &p.nr,
                g_xy: gxy.as_ref(),
                cky_i: &p.icky,
                cky_r: &p.rcky,
            },
            params.cipher.key_len(),
        );
        let cipher = IkeCipher::new(params.cipher, keys.ka.as_ref())?;
        p.iv = phase1_iv(params.hash, &p.ke_i, &p.ke_r, cipher.block_size());
        p.keys = Some(keys);
        p.cipher = Some(cipher);
        Ok(())
    }

    /// Dispatches a phase-1 message to its state handler.
    pub(crate) fn phase1_input(&mut self, id: u64, m: &Inbound<'_>) -> Result<()> {
        let state = self
            .ph1s
            .get(&id)
            .map(|p| p.state)
            .ok_or(Error::UnexpectedState("gone"))?;
        let r = match state {
            P1State::MainI(s) => self.main_i(id, s, m),
            P1State::MainR(s) => self.main_r(id, s, m),
            P1State::AggrI(_) => self.aggr_i(id, m),
            P1State::AggrR(_) => self.aggr_r(id, m),
            P1State::Established | P1State::Dead => {
                Err(Error::UnexpectedState("phase 1 already established"))
            }
        };
        match r {
            Ok(()) => {
                if let Some(p) = self.ph1s.get_mut(&id) {
                    p.last_recv = Some(m.fingerprint.clone());
                }
                self.note_peer_cr(id, m.payloads);
                Ok(())
            }
            // A certificate or signature that does not verify ends the negotiation: nothing of
            // the message was trusted (CVE-2004-0155). So does an ID that verify_identifier
            // rejects in MM5/MM6: those are checked after the message authenticated, and the
            // peer learns why (encrypted INVALID-ID-INFORMATION) instead of retransmitting
            // into an SA whose IV has moved on.
            Err(e @ (Error::InvalidCert(_) | Error::SigAuthFailed(_)))
            | Err(e @ Error::InvalidId)
                if !matches!(e, Error::InvalidId) || m.hdr.is_encrypted() =>
            {
                // the notify goes encrypted under the IV the peer now holds: the last block of
                // the message it sent (the SA ends here, nothing else uses this IV)
                if let (Some(iv), Some(p)) = (&m.staged_iv, self.ph1s.get_mut(&id)) {
                    p.iv = iv.clone();
                }
                self.fail_ph1(id, &e);
                Err(e)
            }
            // Errors on unauthenticated or undecryptable input never kill the SA: the peer
            // (or an attacker) may send garbage; retransmission or the phase-1 timer ends it.
            Err(e @ (Error::AuthenticationFailed | Error::NoProposalChosen | Error::NoPsk(_)))
                if !m.hdr.is_encrypted() || matches!(e, Error::AuthenticationFailed) =>
            {
                self.fail_ph1(id, &e);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    fn main_i(&mut self, id: u64, s: MainI, m: &Inbound<'_>) -> Result<()> {
        let natt_on;
        let force;
        let nonce_size;
        {
            let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("gone"))?;
            let r = self.remote_cfg(p.remote_cfg);
            natt_on = r.nat_traversal != Tristate::Off;
            force = r.nat_traversal == Tristate::Force;
            nonce_size = (r.nonce_size as usize).clamp(8, MAX_NONCE);
        }
        match s {
            MainI::ExpectSa => {
                check(MsgKind::MainSa, m.payloads, false)?;
                let sa = m.sa_payload().ok_or(Error::PayloadCount(1))?;
                let p = self
                    .ph1s
                    .get_mut(&id)
                    .ok_or(Error::UnexpectedState("gone"))?;
                let params = ph1_accept(sa, &p.cands)?;
                peer_vids(m.payloads, p, natt_on);
                let group = params.group;
                p.params = Some(params);
                let dh = DhPrivate::generate(group, &mut RngRef(&mut *self.rng))?;
                let mut ni = vec![0u8; nonce_size];
                self.rng.fill_bytes(&mut ni);
                let p = self
                    .ph1s
                    .get_mut(&id)
                    .ok_or(Error::UnexpectedState("gone"))?;
                p.ke_i = dh.public().to_vec();
                p.dh = Some(dh);
                p.ni = ni;
                let mut payloads = vec![Payload::Ke(p.ke_i.clone()), Payload::Nonce(p.ni.clone())];
                if p.natt.peer.is_some() {
                    payloads.extend(natd_payloads(p, force));
                }
                let (rc, auth) = (p.remote_cfg, p.params.as_ref().map_or(0, |x| x.auth));
                payloads.extend(self.cr_payloads(rc, auth));
                let p = self
                    .ph1s
                    .get_mut(&id)
                    .ok_or(Error::UnexpectedState("gone"))?;
                let bytes = Self::plain(p, ExchangeType::MAIN, payloads)?;
                p.state = P1State::MainI(MainI::ExpectKe);
                let retx = Some((self.cfg.timer.counter, self.cfg.timer.interval));
                Self::send_ph1_bytes(&mut self.out, p, bytes, m.now, retx);
                Ok(())
            }
            MainI::ExpectKe => {
                check(MsgKind::MainKe, m.payloads, false)?;
                let ke = m.ke();
                let nr = m.nonce();
                let (Some(ke), Some(nr)) = (ke, nr) else {
                    return Err(Error::PayloadCount(4));
                };
                if nr.len() < 8 || nr.len() > MAX_NONCE {
                    return Err(Error::PeerMisbehaved("nonce length"));
                }
                let psk = {
                    let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("gone"))?;
                    self.lookup_psk(p)
                };
                let mut p = self
                    .ph1s
                    .remove(&id)
                    .ok_or(Error::UnexpectedState("gone"))?;
                let res = (|| {
                    if !p.sig_auth() {
                        p.psk = Some(psk.ok_or_else(|| Error::NoPsk(p.remote.ip().to_string()))?);
                    }
                    p.ke_r = ke.clone();
                    p.nr = nr.clone();
                    self.derive_keys(&mut p)?;
                    if p.natt.peer.is_some() {
                        check_natd(&mut p, m.payloads);
                        if p.natt.detected() && p.natt.peer >= Some(NattVer::Draft02) {
                            // float to the NAT-T port from message 5 on
                            p.local.set_port(self.opts.natt_port);
                            p.remote.set_port(self.opts.natt_port);
                            p.natt.floated = true;
                        }
                    }
                    let keys = p.keys.as_ref().ok_or(Error::UnexpectedState("keys"))?;
                    let idb = p.my_id.body_bytes();
                    let hash_i = keys.hash_i(&p.ke_i, &p.ke_r, &p.icky, &p.rcky, &p.sai_b, &idb);
                    let mut payloads = vec![Payload::Id(p.my_id.clone())];
                    payloads.extend(self.auth_payloads(&p, hash_i)?);
                    let (bytes, next) = Self::seal(
                        &p,
                        ExchangeType::MAIN,
                        0,
                        Flags::default(),
                        &payloads,
                        &p.iv,
                    )?;
                    p.iv = next;
                    p.state = P1State::MainI(MainI::ExpectAuth);
                    Ok::<_, Error>(bytes)
                })();
                let retx = self.retx_params();
                let out = match res {
                    Ok(bytes) => {
                        Self::send_ph1_bytes(&mut self.out, &mut p, bytes, m.now, retx);
                        Ok(())
                    }
                    Err(e) => Err(e),
                };
                self.ph1s.insert(id, p);
                out
            }
            MainI::ExpectAuth => {
                check(MsgKind::MainAuth, m.payloads, m.hdr.is_encrypted())?;
                let idp = m.id_payload().ok_or(Error::PayloadCount(5))?;
                let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("gone"))?;
                let keys = p.keys.as_ref().ok_or(Error::UnexpectedState("keys"))?;
                let want = keys.hash_r(&p.ke_i, &p.ke_r, &p.icky, &p.rcky, &p.sai_b, &idp.raw);
                self.verify_peer_auth(p, m.payloads, idp, &want)?;
                let p = self
                    .ph1s
                    .get_mut(&id)
                    .ok_or(Error::UnexpectedState("gone"))?;
                p.peer_id = Some(idp.clone());
                if let Some(iv) = &m.staged_iv {
                    p.iv = iv.clone();
                }
                self.verify_peer_id(self.ph1s.get(&id).ok_or(Error::UnexpectedState("gone"))?)?;
                self.ph1_established(m.now, id);
                self.auth_notifies(id, m);
                Ok(())
            }
        }
    }

    fn main_r(&mut self, id: u64, s: MainR, m: &Inbound<'_>) -> Result<()> {
        let (force, nonce_size) = {
            let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("gone"))?;
            let r = self.remote_cfg(p.remote_cfg);
            (
                r.nat_traversal == Tristate::Force,
                (r.nonce_size as usize).clamp(8, MAX_NONCE),
            )
        };
        match s {
            MainR::ExpectKe => {
                check(MsgKind::MainKe, m.payloads, false)?;
                let ke = m.ke();
                let ni = m.nonce();
                let (Some(ke), Some(ni)) = (ke, ni) else {
                    return Err(Error::PayloadCount(4));
                };
                if ni.len() < 8 || ni.len() > MAX_NONCE {
                    return Err(Error::PeerMisbehaved("nonce length"));
                }
                let group = {
                    let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("gone"))?;
                    p.params
                        .as_ref()
                        .map(|x| x.group)
                        .ok_or(Error::NoProposalChosen)?
                };
                let dh = DhPrivate::generate(group, &mut RngRef(&mut *self.rng))?;
                let nr = self.rand_bytes(nonce_size);
                let psk = {
                    let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("gone"))?;
                    self.lookup_psk(p)
                };
                let mut p = self
                    .ph1s
                    .remove(&id)
                    .ok_or(Error::UnexpectedState("gone"))?;
                let res = (|| {
                    if !p.sig_auth() {
                        p.psk = Some(psk.ok_or_else(|| Error::NoPsk(p.remote.ip().to_string()))?);
                    }
                    p.ke_i = ke.clone();
                    p.ni = ni.clone();
                    p.ke_r = dh.public().to_vec();
                    p.dh = Some(dh);
                    p.nr = nr;
                    self.derive_keys_offloaded(&mut p)?;
                    let mut payloads =
                        vec![Payload::Ke(p.ke_r.clone()), Payload::Nonce(p.nr.clone())];
                    if p.natt.peer.is_some() {
                        payloads.extend(natd_payloads(&p, force));
                        check_natd(&mut p, m.payloads);
                    }
                    payloads.extend(
                        self.cr_payloads(p.remote_cfg, p.params.as_ref().map_or(0, |x| x.auth)),
                    );
                    p.state = P1State::MainR(MainR::ExpectAuth);
                    Self::plain(&p, ExchangeType::MAIN, payloads)
                })();
                let retx = self.retx_params();
                let out = match res {
                    Ok(bytes) => {
                        Self::send_ph1_bytes(&mut self.out, &mut p, bytes, m.now, retx);
                        Ok(())
                    }
                    Err(e) => Err(e),
                };
                self.ph1s.insert(id, p);
                out
            }
            MainR::ExpectAuth => {
                check(MsgKind::MainAuth, m.payloads, m.hdr.is_encrypted())?;
                let idp = m.id_payload().ok_or(Error::PayloadCount(5))?;
                let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("gone"))?;
                let keys = p.keys.as_ref().ok_or(Error::UnexpectedState("keys"))?;
                let want = keys.hash_i(&p.ke_i, &p.ke_r, &p.icky, &p.rcky, &p.sai_b, &idp.raw);
                self.verify_peer_auth(p, m.payloads, idp, &want)?;
                let p = self
                    .ph1s
                    .get_mut(&id)
                    .ok_or(Error::UnexpectedState("gone"))?;
                p.peer_id = Some(idp.clone());
                if let Some(iv) = &m.staged_iv {
                    p.iv = iv.clone();
                }
                // the initiator may have floated
                if m.remote != p.remote {
                    p.remote = m.remote;
                    p.local = m.local;
                    p.natt.floated = m.local.port() == self.opts.natt_port;
                }
                self.verify_peer_id(self.ph1s.get(&id).ok_or(Error::UnexpectedState("gone"))?)?;
                let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("gone"))?;
                let keys = p.keys.as_ref().ok_or(Error::UnexpectedState("keys"))?;
                let idb = p.my_id.body_bytes();
                let hash_r = keys.hash_r(&p.ke_i, &p.ke_r, &p.icky, &p.rcky, &p.sai_b, &idb);
                let mut payloads = vec![Payload::Id(p.my_id.clone())];
                payloads.extend(self.auth_payloads(p, hash_r)?);
                let p = self
                    .ph1s
                    .get_mut(&id)
                    .ok_or(Error::UnexpectedState("gone"))?;
                let (bytes, next) =
                    Self::seal(p, ExchangeType::MAIN, 0, Flags::default(), &payloads, &p.iv)?;
                p.iv = next;
                Self::send_ph1_bytes(&mut self.out, p, bytes, m.now, None);
                self.ph1_established(m.now, id);
                self.auth_notifies(id, m);
                Ok(())
            }
        }
    }

    fn aggr_i(&mut self, id: u64, m: &Inbound<'_>) -> Result<()> {
        check(MsgKind::AggrSecond, m.payloads, false)?;
        let (natt_on, force) = {
            let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("gone"))?;
            let r = self.remote_cfg(p.remote_cfg);
            (
                r.nat_traversal != Tristate::Off,
                r.nat_traversal == Tristate::Force,
            )
        };
        let sa = m.sa_payload().ok_or(Error::PayloadCount(1))?;
        let ke = m.ke();
        let nr = m.nonce();
        let idp = m.id_payload();
        let (Some(ke), Some(nr), Some(idp)) = (ke, nr, idp) else {
            return Err(Error::PayloadCount(4));
        };
        if nr.len() < 8 || nr.len() > MAX_NONCE {
            return Err(Error::PeerMisbehaved("nonce length"));
        }
        let mut p = self
            .ph1s
            .remove(&id)
            .ok_or(Error::UnexpectedState("gone"))?;
        let res = (|| {
            let params = ph1_accept(sa, &p.cands)?;
            if Some(params.group) != p.dh.as_ref().map(|d| d.group()) {
                return Err(Error::NoProposalChosen);
            }
            p.params = Some(params);
            peer_vids(m.payloads, &mut p, natt_on);
            p.peer_id = Some(idp.clone());
            self.verify_peer_id(&p)?;
            if !p.sig_auth() {
                p.psk = Some(
                    self.lookup_psk(&p)
                        .ok_or_else(|| Error::NoPsk(p.remote.ip().to_string()))?,
                );
            }
            p.ke_r = ke.clone();
            p.nr = nr.clone();
            self.derive_keys(&mut p)?;
            let keys = p.keys.as_ref().ok_or(Error::UnexpectedState("keys"))?;
            let want = keys.hash_r(&p.ke_i, &p.ke_r, &p.icky, &p.rcky, &p.sai_b, &idp.raw);
            self.verify_peer_auth(&p, m.payloads, idp, &want)?;
            let idb = p.my_id.body_bytes();
            let hash_i = keys.hash_i(&p.ke_i, &p.ke_r, &p.icky, &p.rcky, &p.sai_b, &idb);
            let mut payloads = self.auth_payloads(&p, hash_i)?;
            if p.natt.peer.is_some() {
                check_natd(&mut p, m.payloads);
                payloads.extend(natd_payloads(&p, force));
                if p.natt.detected() && p.natt.peer >= Some(NattVer::Draft02) {
                    p.local.set_port(self.opts.natt_port);
                    p.remote.set_port(self.opts.natt_port);
                    p.natt.floated = true;
                }
            }
            // AM3 goes encrypted with the phase-1 IV: strongSwan requires HASH_I in AM3 to
            // be encrypted; the last block then seeds the phase-2 IVs
            let (bytes, next) = Self::seal(
                &p,
                ExchangeType::AGGRESSIVE,
                0,
                Flags::default(),
                &payloads,
                &p.iv,
            )?;
            p.iv = next;
            Ok(bytes)
        })();
        let out = match res {
            Ok(bytes) => {
                Self::send_ph1_bytes(&mut self.out, &mut p, bytes, m.now, None);
                Ok(())
            }
            Err(e) => Err(e),
        };
        self.ph1s.insert(id, p);
        out?;
        self.ph1_established(m.now, id);
        Ok(())
    }

    fn aggr_r(&mut self, id: u64, m: &Inbound<'_>) -> Result<()> {
        check(MsgKind::AggrThird, m.payloads, true)?;
        let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("gone"))?;
        let keys = p.keys.as_ref().ok_or(Error::UnexpectedState("keys"))?;
        let peer_id = p.peer_id.clone().ok_or(Error::UnexpectedState("id"))?;
        let want = keys.hash_i(&p.ke_i, &p.ke_r, &p.icky, &p.rcky, &p.sai_b, &peer_id.raw);
        self.verify_peer_auth(p, m.payloads, &peer_id, &want)?;
        let p = self
            .ph1s
            .get_mut(&id)
            .ok_or(Error::UnexpectedState("gone"))?;
        if let Some(iv) = &m.staged_iv {
            p.iv = iv.clone();
        }
        if m.remote != p.remote {
            p.remote = m.remote;
            p.local = m.local;
            p.natt.floated = m.local.port() == self.opts.natt_port;
        }
        // Aggressive Mode carries the initiator's NAT-D in AM3 (RFC 3947 §3.2), hashed over
        // the addresses of this message (after the float)
        check_natd(p, m.payloads);
        self.ph1_established(m.now, id);
        self.auth_notifies(id, m);
        // Quick Mode messages that arrived before AM3 (strongSwan's race) run now.
        let early = self
            .ph1s
            .get_mut(&id)
            .map(|p| std::mem::take(&mut p.early_qm))
            .unwrap_or_default();
        for (l, r, d) in early {
            self.handle_datagram(m.now, l, r, &d);
        }
        Ok(())
    }

    /// Notifies carried in an authenticated phase-1 message (strongSwan puts
    /// INITIAL-CONTACT into MM5) are acted on once the message verified.
    fn auth_notifies(&mut self, id: u64, m: &Inbound<'_>) {
        let Some((icky, rcky)) = self.ph1s.get(&id).map(|p| (p.icky, p.rcky)) else {
            return;
        };
        for n in m.payloads.iter().filter_map(|x| match x {
            Payload::Notify(n) if n.notify_type == NotifyType::INITIAL_CONTACT => Some(n),
            _ => None,
        }) {
            let mut n = n.clone();
            n.spi = [icky, rcky].concat();
            self.on_notify(m.now, id, &n, icky, rcky);
        }
    }

    /// Queues a Quick Mode message that arrived before Aggressive Mode finished.
    pub(crate) fn queue_early_qm(
        &mut self,
        id: u64,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) -> bool {
        match self.ph1s.get_mut(&id) {
            Some(p) if p.state == P1State::AggrR(AggrR::ExpectThird) => {
                if p.early_qm.len() < MAX_EARLY_QM {
                    p.early_qm.push((local, remote, data.to_vec()));
                }
                self.out.log(
                    Level::Debug,
                    Some(remote.ip()),
                    "quick mode before aggressive mode message 3: queued",
                );
                true
            }
            _ => false,
        }
    }

    fn ph1_established(&mut self, now: Instant, id: u64) {
        let (remote_cfg, peer) = {
            let Some(p) = self.ph1s.get_mut(&id) else {
                return;
            };
            p.state = P1State::Established;
            p.established = Some(now);
            p.retx = None;
            let lifetime = p.params.as_ref().map_or(28800, |x| x.lifetime);
            p.expires = Some(now + Duration::from_secs(lifetime));
            (p.remote_cfg, p.remote)
        };
        let r = self.remote_cfg(remote_cfg).clone();
        let key_log = self.opts.key_log;
        let keepalive = self.cfg.timer.natt_keepalive;
        let Some(p) = self.ph1s.get_mut(&id) else {
            return;
        };
        if p.natt.floated && p.natt.local_nat && keepalive > 0 {
            p.keepalive = Some(now + Duration::from_secs(keepalive));
        }
        // racoon: rekeying is on with `rekey force`, or `rekey on` when DPD was negotiated
        let dpd_on = r.dpd && p.dpd.peer && r.dpd_delay > 0;
        if r.rekey == Tristate::Force || (r.rekey == Tristate::On && dpd_on) {
            let lifetime = p.params.as_ref().map_or(28800, |x| x.lifetime);
            p.rekey_at = Some(now + Duration::from_secs(lifetime * 8 / 10));
        }
        if r.dpd && p.dpd.peer && r.dpd_delay > 0 {
            p.dpd.seq = self.rng.next_u32() & 0x0fff;
            p.dpd.last_ack = p.dpd.seq;
            p.dpd.next = Some(now + Duration::from_secs(u64::from(r.dpd_delay)));
        }
        self.out.log(
            Level::Info,
            Some(peer.ip()),
            format!(
                "ISAKMP-SA established {}-{} spi:{}:{}",
                p.local,
                p.remote,
                hex(&p.icky),
                hex(&p.rcky)
            ),
        );
        self.out.event(Event::Phase1Established {
            local: p.local,
            remote: p.remote,
            icookie: p.icky,
            rcookie: p.rcky,
            role: p.role,
        });
        if key_log {
            if let Some(k) = &p.keys {
                self.out.event(Event::KeyLog(crate::types::KeyLog::Ike {
                    icookie: p.icky,
                    enc_key: zeroize::Zeroizing::new(k.ka.as_ref().to_vec()),
                }));
            }
        }
        // INITIAL-CONTACT to a peer not contacted yet
        if r.initial_contact && !self.contacted.contains(&peer.ip()) {
            self.contacted.insert(peer.ip());
            let (icky, rcky) = (p.icky, p.rcky);
            let n = Payload::Notify(isakmp::Notify {
                doi: isakmp::Doi::IPSEC,
                protocol: ProtocolId::ISAKMP,
                notify_type: NotifyType::INITIAL_CONTACT,
                spi: [icky, rcky].concat(),
                data: Vec::new(),
            });
            let _ = self.send_info(now, id, vec![n]);
        }
        // phase 2 exchanges waiting for this peer
        let waiting: Vec<u64> = self
            .ph2s
            .values()
            .filter(|q| {
                q.peer == peer.ip()
                    && q.state == crate::endpoint::P2State::I(crate::endpoint::QuickI::WaitPh1)
            })
            .map(|q| q.id)
            .collect();
        for q in waiting {
            self.start_quick(now, q, id);
        }
    }
}

/// Constant-time comparison of HASH values.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
