//! Quick Mode, both roles: ACQUIRE → GETSPI → QM1 → QM2 → UPDATE+ADD → QM3 (initiator);
//! QM1 → GETSPI → QM2 → QM3 → UPDATE+ADD (+ generated policies) (responder).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use conf::{GeneratePolicy, SaId, SaSelector};
use isakmp::{
    encode_payloads, EncapsulationMode, ExchangeType, Flags, Header, Identification, NotifyType,
    Payload, ProtocolId,
};
use pfkey::{Dir, Extension, Level as PLevel, Message, Mode, MsgType, NatTType, SaType};

use crate::crypto::{phase2_iv, DhGroup, DhPrivate};
use crate::endpoint::{
    after_first, Endpoint, Inbound, NattVer, P1State, P2State, Ph2, QuickI, QuickR, MAX_NONCE,
    MAX_PH2,
};
use crate::error::{Error, Result};
use crate::kernel::{self, sa_algs, Install, NattSa};
use crate::phase1::ct_eq;
use crate::proposal::{ph2_accept, ph2_answer, ph2_sa, ph2_select, Ph2Want};
use crate::rules::{check, MsgKind};
use crate::spd::Sel;
use crate::types::{Event, Level, RngRef, Role};

/// What a Quick Mode exchange carries beyond SA, nonces, KE and IDs.
#[derive(Debug, Clone, Default)]
pub(crate) struct QmExtras {
    /// The commit bit (RFC 2408 §3.1, §4.8): set in QM1 by the initiator (we echo it in QM2
    /// as responder) or in QM2 by the responder. Every later message of the exchange carries
    /// it; the responder installs after QM3 and then sends CONNECTED (QM4: HASH(4), N), and
    /// the initiator installs only when that CONNECTED verifies (racoon: quick_r3send,
    /// quick_i3recv).
    pub commit: bool,
    /// The peer's NAT-OA payloads of a transport-mode exchange under NAT-T.
    pub natoa: Option<NatOa>,
}

/// Original addresses from NAT-OA (RFC 3947 §5.2), put into the SAs as `X_NAT_T_OA` (racoon:
/// natoa_src in the UPDATE, natoa_dst in the ADD) for transport-mode checksum fix-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NatOa {
    /// The peer's own address as the peer knows it (the inbound SA's original source).
    pub peer: IpAddr,
    /// Our address as the peer sees it (the outbound SA's original destination).
    pub ours_seen: IpAddr,
}

/// The peer's NAT-OA payloads, NAT-OAi then NAT-OAr (both as the sender sees them); a draft
/// peer may send only its own original address. More than two is a protocol error.
fn natoa_of(m: &Inbound<'_>, we: Role, local_ip: IpAddr) -> Result<Option<NatOa>> {
    let oas: Vec<IpAddr> = m
        .payloads
        .iter()
        .filter_map(|x| match x {
            Payload::NatOa { addr, .. } => Some(*addr),
            _ => None,
        })
        .collect();
    Ok(match (oas.as_slice(), we) {
        ([], _) => None,
        ([own], _) => Some(NatOa {
            peer: *own,
            ours_seen: local_ip,
        }),
        ([i, r], Role::Responder) => Some(NatOa {
            peer: *i,
            ours_seen: *r,
        }),
        ([i, r], Role::Initiator) => Some(NatOa {
            peer: *r,
            ours_seen: *i,
        }),
        _ => return Err(Error::PeerMisbehaved("more than two NAT-OA payloads")),
    })
}

/// UDP encapsulation for this phase 1's SAs: NAT-D found a NAT, or the peer floated to the NAT-T
/// port (an Aggressive Mode initiator floats with AM3; strongSwan with kernel-libipsec always
/// encapsulates). Used alike for the proposed/accepted mode, GETSPI and the installed SAs.
fn natt_in_use(n: &crate::endpoint::Natt) -> bool {
    n.detected() || n.floated
}

fn sel_matches(s: &SaSelector, sel: &Sel, proto: u8) -> bool {
    match s {
        SaSelector::Anonymous => true,
        SaSelector::ClientAddr => false,
        SaSelector::Id(id) => {
            let (addr, prefix, port, p) = match id {
                SaId::Addr { addr, port, proto } => {
                    (*addr, if addr.is_ipv4() { 32 } else { 128 }, *port, *proto)
                }
                SaId::Subnet {
                    addr,
                    prefix,
                    port,
                    proto,
                } => (*addr, *prefix, *port, *proto),
                _ => return false,
            };
            let want_proto = match p {
                conf::UlProto::Any => pfkey::IPSEC_ULPROTO_ANY,
                conf::UlProto::Number(n) => n,
            };
            let net = Sel { addr, prefix, port };
            prefix == sel.prefix
                && net.contains(sel.addr)
                && port == sel.port
                && (want_proto == proto || want_proto == pfkey::IPSEC_ULPROTO_ANY)
        }
    }
}

impl Endpoint {
    /// racoon's sainfo selection: highest priority first, file order on ties.
    pub(crate) fn find_sainfo(&self, local: &Sel, remote: &Sel, proto: u8) -> Option<usize> {
        let mut order: Vec<usize> = (0..self.cfg.sainfos.len()).collect();
        order.sort_by_key(|i| std::cmp::Reverse(self.cfg.sainfos[*i].priority()));
        order.into_iter().find(|i| {
            let s = &self.cfg.sainfos[*i];
            s.from.is_none()
                && s.remoteid == 0
                && sel_matches(&s.local, local, proto)
                && sel_matches(&s.remote, remote, proto)
        })
    }

    /// Handles an ACQUIRE from the kernel (§6.2).
    pub(crate) fn on_acquire(&mut self, now: Instant, m: &Message) -> Result<()> {
        let pol = m
            .policy()
            .ok_or(Error::Kernel("ACQUIRE without policy".into()))?;
        let sp = self
            .spd
            .get(pol.id)
            .cloned()
            .ok_or_else(|| Error::Kernel(format!("no policy found: id:{}", pol.id)))?;
        if sp.policy_type != pfkey::PolicyType::IPSEC || sp.requests.is_empty() {
            return Ok(());
        }
        let (src, dst) = match (m.addr_src(), m.addr_dst()) {
            (Some(s), Some(d)) => (s.addr.ip(), d.addr.ip()),
            _ => return Err(Error::Kernel("ACQUIRE without addresses".into())),
        };
        if src.is_multicast() || dst.is_multicast() {
            return Ok(());
        }
        // tunnel: the request's endpoints; transport: the selectors
        let (local_ip, peer_ip) = match sp.requests[0].tunnel {
            Some(t) if sp.requests[0].mode == Mode::TUNNEL => (t.src.ip(), t.dst.ip()),
            _ => (src, dst),
        };
        // a negotiation for this policy is already running
        if self.ph2s.values().any(|q| {
            q.role == Role::Initiator
                && q.state != P2State::Established
                && q.sel_local == sp.src
                && q.sel_remote == sp.dst
        }) {
            return Ok(());
        }
        let ri = self
            .find_remote(peer_ip, true)
            .ok_or_else(|| Error::Config(format!("no configuration found for {peer_ip}")))?;
        let si = self
            .find_sainfo(&sp.src, &sp.dst, sp.proto)
            .ok_or_else(|| Error::Config("failed to get sainfo.".into()))?;
        if self.ph2s.len() >= MAX_PH2 {
            return Err(Error::Limit("phase 2"));
        }
        let id = self.new_id();
        let wants: Vec<Ph2Want> = sp
            .requests
            .iter()
            .map(|r| Ph2Want {
                proto: match r.proto {
                    pfkey::IpsecProto::AH => ProtocolId::IPSEC_AH,
                    pfkey::IpsecProto::IPCOMP => ProtocolId::IPCOMP,
                    _ => ProtocolId::IPSEC_ESP,
                },
                encap: if r.mode == Mode::TUNNEL {
                    EncapsulationMode::TUNNEL
                } else {
                    EncapsulationMode::TRANSPORT
                },
            })
            .collect();
        let q = Ph2 {
            id,
            ph1: None,
            role: Role::Initiator,
            state: P2State::I(QuickI::WaitPh1),
            msgid: 0,
            iv: Vec::new(),
            peer: peer_ip,
            local_ip,
            sel_local: sp.src,
            sel_remote: sp.dst,
            ulproto: sp.proto,
            send_ids: true,
            sainfo: si,
            wants,
            mode: sp.requests[0].mode,
            reqids: sp.requests.iter().map(|r| r.reqid).collect(),
            spis_in: vec![None; sp.requests.len()],
            getspi_seq: Vec::new(),
            chosen: Vec::new(),
            ni: Vec::new(),
            nr: Vec::new(),
            dh: None,
            peer_ke: Vec::new(),
            acquire_seq: m.header.seq,
            last_sent: None,
            last_recv: None,
            retx: None,
            deadline: Some(
                now + Duration::from_secs(
                    self.cfg.timer.phase2.max(1) + self.cfg.timer.phase1.max(1),
                ),
            ),
            generate: false,
            claim: false,
            id_ci: None,
            id_cr: None,
            installed: Vec::new(),
            expires: None,
            rekeyed: false,
            peer_proposal_number: 1,
            qm: QmExtras::default(),
        };
        self.ph2s.insert(id, q);
        match self.established_ph1(peer_ip) {
            Some(p1) => self.start_quick(now, id, p1),
            None => {
                let exists = self
                    .ph1s
                    .values()
                    .any(|p| p.remote.ip() == peer_ip && p.state != P1State::Dead);
                if !exists {
                    let port = self
                        .remote_cfg(ri)
                        .peer()
                        .map_or(self.opts.ike_port, |a| a.port);
                    let local = SocketAddr::new(local_ip, self.opts.ike_port);
                    let remote = SocketAddr::new(peer_ip, port);
                    if let Err(e) = self.start_ph1(now, local, remote, ri) {
                        self.fail_ph2(id, &e.to_string());
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    fn natt_sa(&self, p1: u64, inbound: bool) -> Option<NattSa> {
        let p = self.ph1s.get(&p1)?;
        if !natt_in_use(&p.natt) {
            return None;
        }
        let kind = if p.natt.peer == Some(NattVer::Draft00) {
            NatTType::ESPINUDP_NON_IKE
        } else {
            NatTType::ESPINUDP
        };
        let (l, r) = (p.local.port(), p.remote.port());
        Some(if inbound {
            NattSa {
                kind,
                sport: r,
                dport: l,
            }
        } else {
            NattSa {
                kind,
                sport: l,
                dport: r,
            }
        })
    }

    fn udp_encap(&self, p1: u64, e: EncapsulationMode) -> EncapsulationMode {
        let Some(p) = self.ph1s.get(&p1) else {
            return e;
        };
        if !natt_in_use(&p.natt) {
            return e;
        }
        let rfc = p.natt.peer == Some(NattVer::Rfc);
        match (e.is_tunnel(), rfc) {
            (true, true) => EncapsulationMode::UDP_TUNNEL,
            (false, true) => EncapsulationMode::UDP_TRANSPORT,
            (true, false) => EncapsulationMode::UDP_TUNNEL_DRAFT,
            (false, false) => EncapsulationMode::UDP_TRANSPORT_DRAFT,
        }
    }

    /// NAT-OAi and NAT-OAr for a transport-mode exchange under NAT-T (RFC 3947 §5.2): the
    /// initiator's and the responder's address, each as we know them. RFC payload numbers
    /// with an RFC 3947 peer, the draft numbers (131) otherwise; nothing in tunnel mode.
    fn natoa_payloads(&self, q: &Ph2) -> Vec<Payload> {
        let Some(p) = q.ph1.and_then(|p1| self.ph1s.get(&p1)) else {
            return Vec::new();
        };
        if !natt_in_use(&p.natt) || q.mode == Mode::TUNNEL {
            return Vec::new();
        }
        let draft = p.natt.peer != Some(NattVer::Rfc);
        let (i, r) = match q.role {
            Role::Initiator => (q.local_ip, q.peer),
            Role::Responder => (q.peer, q.local_ip),
        };
        vec![
            Payload::NatOa { draft, addr: i },
            Payload::NatOa { draft, addr: r },
        ]
    }

    /// The reqids for request `i` of a phase 2: (inbound SA, outbound SA). As racoon
    /// (reqid_in from the inbound policy, reqid_out from the outbound one): with `unique`
    /// policies whose reqids the kernel generated, the two directions differ, and the data
    /// path matches an SA only to the policy with its reqid. `q.reqids` (the policy that
    /// started the exchange, or the generated ones) fills in where a direction has none.
    fn reqids_of(&self, q: &Ph2, i: usize) -> (u32, u32) {
        let dflt = q.reqids.get(i).copied().unwrap_or(0);
        let of = |dir: Dir, src: &Sel, dst: &Sel| {
            self.spd
                .find(dir, src, dst, q.ulproto)
                .and_then(|sp| sp.requests.get(i))
                .map_or(dflt, |r| r.reqid)
        };
        (
            of(Dir::IN, &q.sel_remote, &q.sel_local),
            of(Dir::OUT, &q.sel_local, &q.sel_remote),
        )
    }

    fn send_getspis(&mut self, id: u64, p1: u64) {
        let Some(q) = self.ph2s.get(&id) else {
            return;
        };
        let wants = q.wants.clone();
        let reqids: Vec<u32> = (0..wants.len()).map(|i| self.reqids_of(q, i).0).collect();
        let (peer, local, mode) = (q.peer, q.local_ip, q.mode);
        let natt = self.natt_sa(p1, true);
        let mut seqs = Vec::new();
        for (i, w) in wants.iter().enumerate() {
            let seq = self.next_seq();
            self.ph2_by_seq.insert(seq, id);
            seqs.push(seq);
            let satype = kernel::satype_of(w.proto);
            let natt = if satype == SaType::ESP { natt } else { None };
            let m = kernel::getspi(
                satype,
                peer,
                local,
                mode,
                reqids.get(i).copied().unwrap_or(0),
                seq,
                self.opts.pid,
                natt,
            );
            self.out.kernel(m);
        }
        if let Some(q) = self.ph2s.get_mut(&id) {
            q.getspi_seq = seqs;
        }
    }

    /// Initiator: phase 1 is ready; get SPIs.
    pub(crate) fn start_quick(&mut self, now: Instant, id: u64, p1: u64) {
        let msgid = self.rand_msgid();
        let Some(q) = self.ph2s.get_mut(&id) else {
            return;
        };
        q.ph1 = Some(p1);
        q.msgid = msgid;
        q.state = P2State::I(QuickI::AwaitSpi);
        q.spis_in = vec![None; q.wants.len()];
        q.deadline = Some(now + Duration::from_secs(self.cfg.timer.phase2.max(1)));
        self.ph2_by_msgid.insert((p1, msgid), id);
        if let Some(p) = self.ph1s.get_mut(&p1) {
            p.ph2_count = p.ph2_count.saturating_add(1);
        }
        let wants: Vec<Ph2Want> = self.ph2s[&id]
            .wants
            .iter()
            .map(|w| Ph2Want {
                proto: w.proto,
                encap: self.udp_encap(p1, w.encap),
            })
            .collect();
        if let Some(q) = self.ph2s.get_mut(&id) {
            q.wants = wants;
        }
        self.send_getspis(id, p1);
    }

    /// A GETSPI reply.
    pub(crate) fn on_getspi(&mut self, now: Instant, m: &Message) {
        let Some(id) = self.ph2_by_seq.remove(&m.header.seq) else {
            self.orphan_getspi(m);
            return;
        };
        let Some(q) = self.ph2s.get_mut(&id) else {
            self.orphan_getspi(m);
            return;
        };
        if m.header.errno != 0 {
            self.out.log(
                Level::Error,
                Some(q.peer),
                format!("pfkey GETSPI failed: errno {}", m.header.errno),
            );
            self.fail_ph2(id, "GETSPI failed");
            return;
        }
        let Some(spi) = m.sa().map(|s| s.spi) else {
            return;
        };
        let Some(i) = q.getspi_seq.iter().position(|s| *s == m.header.seq) else {
            return;
        };
        q.spis_in[i] = Some(spi);
        if q.spis_in.iter().any(Option::is_none) {
            return;
        }
        let r = match q.state {
            P2State::I(QuickI::AwaitSpi) => self.send_qm1(now, id),
            P2State::R(QuickR::AwaitSpi) => self.send_qm2(now, id),
            _ => Ok(()),
        };
        if let Err(e) = r {
            self.fail_ph2(id, &e.to_string());
        }
    }

    fn spi_bytes(q: &Ph2) -> Vec<Vec<u8>> {
        q.wants
            .iter()
            .zip(&q.spis_in)
            .map(|(w, s)| {
                let s = s.unwrap_or(0);
                if w.proto == ProtocolId::IPCOMP {
                    (s as u16).to_be_bytes().to_vec()
                } else {
                    s.to_be_bytes().to_vec()
                }
            })
            .collect()
    }

    fn send_ph2(
        &mut self,
        now: Instant,
        id: u64,
        payloads_after_hash: Vec<Payload>,
        hash_of: impl FnOnce(&crate::crypto::Phase1Keys, u32, &[u8]) -> Vec<u8>,
        retx: bool,
    ) -> Result<()> {
        let q = self.ph2s.get(&id).ok_or(Error::UnexpectedState("ph2"))?;
        let p1 = q.ph1.ok_or(Error::UnexpectedState("no ph1"))?;
        let p = self.ph1s.get(&p1).ok_or(Error::UnexpectedState("no ph1"))?;
        let keys = p.keys.as_ref().ok_or(Error::UnexpectedState("keys"))?;
        let mut rest = Vec::new();
        encode_payloads(&payloads_after_hash, &mut rest).map_err(|_| Error::Limit("size"))?;
        let h = hash_of(keys, q.msgid, &rest);
        let mut all = vec![Payload::Hash(h)];
        all.extend(payloads_after_hash);
        let iv = if q.iv.is_empty() {
            let b = p.cipher.as_ref().map_or(8, |c| c.block_size());
            phase2_iv(p.hash(), &p.iv, q.msgid, b)
        } else {
            q.iv.clone()
        };
        let mut flags = Flags::default();
        flags.set(Flags::COMMIT, q.qm.commit);
        let (bytes, next) = Self::seal(p, ExchangeType::QUICK, q.msgid, flags, &all, &iv)?;
        let (local, remote, marker) = (p.local, p.remote, p.natt.floated);
        let (counter, interval) = (self.cfg.timer.counter, self.cfg.timer.interval);
        let q = self
            .ph2s
            .get_mut(&id)
            .ok_or(Error::UnexpectedState("ph2"))?;
        q.iv = next;
        q.last_sent = Some(bytes.clone());
        q.retx = retx.then(|| crate::endpoint::Retx {
            at: now + Duration::from_secs(interval.max(1)),
            left: counter,
            interval: Duration::from_secs(interval.max(1)),
        });
        self.out.push_tx(crate::types::Transmit {
            local,
            remote,
            data: bytes,
            non_esp_marker: marker,
        });
        Ok(())
    }

    fn pfs_group(&self, q: &Ph2) -> Option<DhGroup> {
        self.cfg
            .sainfos
            .get(q.sainfo)
            .and_then(|s| s.pfs_group)
            .and_then(|g| DhGroup::from_id(g.number()))
    }

    fn send_qm1(&mut self, now: Instant, id: u64) -> Result<()> {
        let q = self.ph2s.get(&id).ok_or(Error::UnexpectedState("ph2"))?;
        let si = self
            .cfg
            .sainfos
            .get(q.sainfo)
            .ok_or(Error::Config("sainfo".into()))?
            .clone();
        let spis = Self::spi_bytes(q);
        let sa = ph2_sa(&si, &q.wants, &spis);
        let nonce_size = q
            .ph1
            .and_then(|p| self.ph1s.get(&p))
            .map_or(16, |p| self.remote_cfg(p.remote_cfg).nonce_size as usize)
            .clamp(8, MAX_NONCE);
        let pfs = self.pfs_group(q);
        let (sel_l, sel_r, ul, send_ids) = (q.sel_local, q.sel_remote, q.ulproto, q.send_ids);
        let natoa = self.natoa_payloads(q);
        let ni = self.rand_bytes(nonce_size);
        let dh = match pfs {
            Some(g) => Some(DhPrivate::generate(g, &mut RngRef(&mut *self.rng))?),
            None => None,
        };
        let mut payloads = vec![Payload::Sa(sa), Payload::Nonce(ni.clone())];
        if let Some(d) = &dh {
            payloads.push(Payload::Ke(d.public().to_vec()));
        }
        let (idci, idcr) = (sel_l.to_id(ul), sel_r.to_id(ul));
        if send_ids {
            payloads.push(Payload::Id(idci.clone()));
            payloads.push(Payload::Id(idcr.clone()));
        }
        payloads.extend(natoa);
        let q = self
            .ph2s
            .get_mut(&id)
            .ok_or(Error::UnexpectedState("ph2"))?;
        q.ni = ni;
        q.dh = dh;
        q.id_ci = Some(idci);
        q.id_cr = Some(idcr);
        q.state = P2State::I(QuickI::ExpectHash2);
        self.out.log(
            Level::Info,
            Some(q.peer),
            format!(
                "initiate new phase 2 negotiation: {}<=>{}",
                q.local_ip, q.peer
            ),
        );
        self.send_ph2(
            now,
            id,
            payloads,
            |k, mid, rest| k.qm_hash1(mid, rest),
            true,
        )
    }

    /// A Quick Mode message.
    pub(crate) fn quick_input(&mut self, p1: u64, m: &Inbound<'_>, raw: &[u8]) -> Result<()> {
        let established = self.ph1s.get(&p1).is_some_and(|p| p.is_established());
        if !established {
            if self.queue_early_qm(p1, m.local, m.remote, raw) {
                return Ok(());
            }
            return Err(Error::UnexpectedState("quick mode before phase 1"));
        }
        let r = match self.ph2_by_msgid.get(&(p1, m.hdr.message_id)).copied() {
            Some(id) => {
                let st = self.ph2s.get(&id).map(|q| q.state);
                match st {
                    Some(P2State::I(QuickI::ExpectHash2)) => self.qm2_in(id, m),
                    Some(P2State::R(QuickR::ExpectHash3)) => self.qm3_in(id, m),
                    Some(P2State::I(QuickI::ExpectConnected)) => self.qm4_in(id, m),
                    _ => Err(Error::UnexpectedState("quick mode")),
                }
            }
            None => self.qm1_in(p1, m),
        };
        if let Err(e) = &r {
            self.out.log(
                Level::Error,
                Some(m.remote.ip()),
                format!("phase2 negotiation failed: {e}"),
            );
            // tell the peer (encrypted, under the authenticated phase 1); a bad HASH is not
            // answered, the message may not come from the peer at all
            if let (Some(nt), false) = (e.notify(), matches!(e, Error::InvalidHash)) {
                let n = Payload::Notify(isakmp::Notify {
                    doi: isakmp::Doi::IPSEC,
                    protocol: ProtocolId::IPSEC_ESP,
                    notify_type: nt,
                    spi: Vec::new(),
                    data: Vec::new(),
                });
                let _ = self.send_info(m.now, p1, vec![n]);
            }
        }
        r
    }

    /// Checks the HASH payload that starts every message under phase 1 `p1` (Quick Mode
    /// HASH(1)..(4), Informational HASH(1)): `f` computes it from the phase-1 keys and the
    /// bytes after the HASH payload.
    pub(crate) fn verify_hash(
        &self,
        p1: u64,
        m: &Inbound<'_>,
        f: impl FnOnce(&crate::crypto::Phase1Keys, &[u8]) -> Vec<u8>,
    ) -> Result<()> {
        let p = self.ph1s.get(&p1).ok_or(Error::UnexpectedState("ph1"))?;
        let keys = p.keys.as_ref().ok_or(Error::UnexpectedState("keys"))?;
        let range = after_first(m.hdr.next_payload, m.body)?;
        let got = match m.payloads.first() {
            Some(Payload::Hash(h)) => h,
            _ => return Err(Error::InvalidHash),
        };
        let want = f(keys, &m.body[range]);
        if ct_eq(&want, got) {
            Ok(())
        } else {
            Err(Error::InvalidHash)
        }
    }

    /// [`Self::verify_hash`] for a message of the running exchange `id`: `f` gets the
    /// phase-1 keys, the exchange and the bytes after the HASH payload.
    fn verify_qm_hash(
        &self,
        id: u64,
        m: &Inbound<'_>,
        f: impl FnOnce(&crate::crypto::Phase1Keys, &Ph2, &[u8]) -> Vec<u8>,
    ) -> Result<()> {
        let q = self.ph2s.get(&id).ok_or(Error::UnexpectedState("ph2"))?;
        let p1 = q.ph1.ok_or(Error::UnexpectedState("ph1"))?;
        self.verify_hash(p1, m, |k, rest| f(k, q, rest))
    }

    /// A verified message of exchange `id` is accepted: its IV (the next message's) and its
    /// fingerprint (a retransmission gets our stored reply) are committed.
    fn accept_qm(&mut self, id: u64, m: &Inbound<'_>) -> Result<&mut Ph2> {
        let q = self
            .ph2s
            .get_mut(&id)
            .ok_or(Error::UnexpectedState("ph2"))?;
        if let Some(iv) = &m.staged_iv {
            q.iv = iv.clone();
        }
        q.last_recv = Some(m.fingerprint.clone());
        Ok(q)
    }

    fn qm1_in(&mut self, p1: u64, m: &Inbound<'_>) -> Result<()> {
        check(MsgKind::QuickSa, m.payloads, m.hdr.is_encrypted())?;
        let mid = m.hdr.message_id;
        self.verify_hash(p1, m, |k, rest| k.qm_hash1(mid, rest))?;
        if self.ph2s.len() >= MAX_PH2 {
            return Err(Error::Limit("phase 2"));
        }
        let sa = m.sa_payload().ok_or(Error::PayloadCount(1))?;
        let ni = m.nonce().ok_or(Error::PayloadCount(10))?;
        if ni.len() < 8 || ni.len() > MAX_NONCE {
            return Err(Error::PeerMisbehaved("nonce length"));
        }
        let ke = m.ke();
        let ids: Vec<&Identification> = m
            .payloads
            .iter()
            .filter_map(|x| {
                if let Payload::Id(i) = x {
                    Some(i)
                } else {
                    None
                }
            })
            .collect();
        let p = self.ph1s.get(&p1).ok_or(Error::UnexpectedState("ph1"))?;
        // UDP-encapsulated modes are acceptable when NAT-D found a NAT, and
        // also when the peer has floated this phase 1 to the NAT-T port:
        // strongSwan with kernel-libipsec always encapsulates, and in
        // Aggressive Mode its NAT-D payloads arrive only in (encrypted) AM3.
        let natt = natt_in_use(&p.natt) || p.local.port() == self.opts.natt_port;
        let (peer, local_ip) = (p.remote.ip(), p.local.ip());
        let remote_cfg = self.remote_cfg(p.remote_cfg).clone();
        // IDci is the peer's side, IDcr ours; without IDs the phase-1 addresses
        let (sel_remote, sel_local, ul, id_ci, id_cr) = match ids.as_slice() {
            [ci, cr] => {
                let (a, pa) = Sel::from_id(ci)?;
                let (b, pb) = Sel::from_id(cr)?;
                if pa != pb {
                    return Err(Error::InvalidId);
                }
                (a, b, pa, Some((*ci).clone()), Some((*cr).clone()))
            }
            [] => (
                Sel::host(peer),
                Sel::host(local_ip),
                pfkey::IPSEC_ULPROTO_ANY,
                None,
                None,
            ),
            _ => return Err(Error::InvalidId),
        };
        let si_idx = self
            .find_sainfo(&sel_local, &sel_remote, ul)
            .ok_or(Error::InvalidId)?;
        let si = self.cfg.sainfos[si_idx].clone();
        let (chosen, claim) = ph2_select(sa, &si, remote_cfg.proposal_check, natt)?;
        // PFS: the peer's group decides; KE must be there exactly when a group is
        let group = chosen[0].group;
        if group.is_some() != ke.is_some() {
            return Err(Error::NoProposalChosen);
        }
        let mode = if chosen[0].encap.is_tunnel() {
            Mode::TUNNEL
        } else {
            Mode::TRANSPORT
        };
        // the inbound policy: src = the peer's side, dst = ours
        let sp = self.spd.find(Dir::IN, &sel_remote, &sel_local, ul).cloned();
        let generate = sp.is_none();
        if generate && remote_cfg.generate_policy == GeneratePolicy::Off {
            self.out.log(
                Level::Error,
                Some(peer),
                "no policy found and generate_policy off",
            );
            return Err(Error::InvalidId);
        }
        let wants: Vec<Ph2Want> = chosen
            .iter()
            .map(|c| Ph2Want {
                proto: c.proto,
                encap: c.encap,
            })
            .collect();
        let reqids: Vec<u32> = match &sp {
            Some(sp) => wants
                .iter()
                .enumerate()
                .map(|(i, _)| sp.requests.get(i).map_or(0, |r| r.reqid))
                .collect(),
            None if remote_cfg.generate_policy == GeneratePolicy::Unique => {
                self.unique_reqid = if self.unique_reqid >= pfkey::IPSEC_MANUAL_REQID_MAX {
                    1
                } else {
                    self.unique_reqid + 1
                };
                vec![self.unique_reqid; wants.len()]
            }
            None => vec![0; wants.len()],
        };
        let number = sa.proposals.first().map_or(1, |p| p.number);
        let commit = m.hdr.flags.contains(Flags::COMMIT);
        let natoa = natoa_of(m, Role::Responder, local_ip)?;
        let id = self.new_id();
        let q = Ph2 {
            id,
            ph1: Some(p1),
            role: Role::Responder,
            state: P2State::R(QuickR::AwaitSpi),
            msgid: mid,
            iv: m.staged_iv.clone().unwrap_or_default(),
            peer,
            local_ip,
            sel_local,
            sel_remote,
            ulproto: ul,
            send_ids: id_ci.is_some(),
            sainfo: si_idx,
            wants,
            mode,
            reqids,
            spis_in: vec![None; chosen.len()],
            getspi_seq: Vec::new(),
            chosen,
            ni: ni.clone(),
            nr: Vec::new(),
            dh: None,
            peer_ke: ke.cloned().unwrap_or_default(),
            acquire_seq: 0,
            last_sent: None,
            last_recv: Some(m.fingerprint.clone()),
            retx: None,
            deadline: Some(m.now + Duration::from_secs(self.cfg.timer.phase2.max(1))),
            generate,
            claim,
            id_ci,
            id_cr,
            installed: Vec::new(),
            expires: None,
            rekeyed: false,
            peer_proposal_number: number,
            qm: QmExtras { commit, natoa },
        };
        self.out.log(
            Level::Info,
            Some(peer),
            format!("respond new phase 2 negotiation: {local_ip}<=>{peer}"),
        );
        self.ph2s.insert(id, q);
        self.ph2_by_msgid.insert((p1, mid), id);
        if let Some(p) = self.ph1s.get_mut(&p1) {
            p.ph2_count = p.ph2_count.saturating_add(1);
        }
        self.send_getspis(id, p1);
        Ok(())
    }

    fn send_qm2(&mut self, now: Instant, id: u64) -> Result<()> {
        let q = self.ph2s.get(&id).ok_or(Error::UnexpectedState("ph2"))?;
        let p1 = q.ph1.ok_or(Error::UnexpectedState("ph1"))?;
        let spis = Self::spi_bytes(q);
        let sa = ph2_answer(&q.chosen, &spis, q.peer_proposal_number);
        let nonce_size = self
            .ph1s
            .get(&p1)
            .map_or(16, |p| self.remote_cfg(p.remote_cfg).nonce_size as usize)
            .clamp(8, MAX_NONCE);
        let group = q.chosen[0].group.and_then(DhGroup::from_id);
        let has_ke = !q.peer_ke.is_empty();
        let ids = (q.id_ci.clone(), q.id_cr.clone());
        let ni = q.ni.clone();
        let claim = q.claim;
        let chosen = q.chosen.clone();
        let nr = self.rand_bytes(nonce_size);
        let dh = match (group, has_ke) {
            (Some(g), true) => Some(DhPrivate::generate(g, &mut RngRef(&mut *self.rng))?),
            (None, false) => None,
            _ => return Err(Error::NoProposalChosen),
        };
        let mut payloads = vec![Payload::Sa(sa), Payload::Nonce(nr.clone())];
        if let Some(d) = &dh {
            payloads.push(Payload::Ke(d.public().to_vec()));
        }
        if let (Some(ci), Some(cr)) = ids {
            payloads.push(Payload::Id(ci));
            payloads.push(Payload::Id(cr));
        }
        if let Some(q) = self.ph2s.get(&id) {
            payloads.extend(self.natoa_payloads(q));
        }
        if claim {
            // RESPONDER-LIFETIME for each protocol whose lifetime we shortened
            for (c, spi) in chosen.iter().zip(&spis) {
                let attrs = isakmp::IpsecAttrs {
                    lifetimes: vec![isakmp::Lifetime {
                        kind: isakmp::LifeType::SECONDS,
                        value: c.lifetime,
                    }],
                    ..Default::default()
                };
                let mut data = Vec::new();
                for a in attrs.to_attributes() {
                    data.extend(attr_bytes(&a));
                }
                payloads.push(Payload::Notify(isakmp::Notify {
                    doi: isakmp::Doi::IPSEC,
                    protocol: c.proto,
                    notify_type: NotifyType::RESPONDER_LIFETIME,
                    spi: spi.clone(),
                    data,
                }));
            }
        }
        let q = self
            .ph2s
            .get_mut(&id)
            .ok_or(Error::UnexpectedState("ph2"))?;
        q.nr = nr;
        q.dh = dh;
        q.state = P2State::R(QuickR::ExpectHash3);
        self.send_ph2(
            now,
            id,
            payloads,
            move |k, mid, rest| k.qm_hash2(mid, &ni, rest),
            true,
        )
    }

    fn qm2_in(&mut self, id: u64, m: &Inbound<'_>) -> Result<()> {
        check(MsgKind::QuickSa, m.payloads, m.hdr.is_encrypted())?;
        self.verify_qm_hash(id, m, |k, q, rest| k.qm_hash2(q.msgid, &q.ni, rest))?;
        let q = self.ph2s.get(&id).ok_or(Error::UnexpectedState("ph2"))?;
        let sa = m.sa_payload().ok_or(Error::PayloadCount(1))?;
        let nr = m.nonce().ok_or(Error::PayloadCount(10))?;
        if nr.len() < 8 || nr.len() > MAX_NONCE {
            return Err(Error::PeerMisbehaved("nonce length"));
        }
        let ke = m.ke();
        let si = self
            .cfg
            .sainfos
            .get(q.sainfo)
            .ok_or(Error::Config("sainfo".into()))?;
        let mut chosen = ph2_accept(sa, si, &q.wants)?;
        if q.dh.is_some() != ke.is_some() {
            return Err(Error::NoProposalChosen);
        }
        // RESPONDER-LIFETIME: accept a shorter lifetime
        for n in m.payloads.iter().filter_map(|x| match x {
            Payload::Notify(n) if n.notify_type == NotifyType::RESPONDER_LIFETIME => Some(n),
            _ => None,
        }) {
            if let Some(secs) = responder_lifetime(&n.data) {
                for c in chosen.iter_mut().filter(|c| c.proto == n.protocol) {
                    if secs < c.lifetime {
                        c.lifetime = secs;
                    }
                }
            }
        }
        let q = self.accept_qm(id, m)?;
        q.chosen = chosen;
        q.nr = nr.clone();
        q.peer_ke = ke.cloned().unwrap_or_default();
        q.qm.commit |= m.hdr.flags.contains(Flags::COMMIT);
        let local_ip = q.local_ip;
        q.qm.natoa = natoa_of(m, Role::Initiator, local_ip)?;
        let commit = q.qm.commit;
        let ni = q.ni.clone();
        let nr = q.nr.clone();
        let hash3 =
            move |k: &crate::crypto::Phase1Keys, mid: u32, _: &[u8]| k.qm_hash3(mid, &ni, &nr);
        if commit {
            // the responder committed: QM3 (retransmitted until CONNECTED arrives), and the
            // SAs only once CONNECTED verified
            self.send_ph2(m.now, id, Vec::new(), hash3, true)?;
            if let Some(q) = self.ph2s.get_mut(&id) {
                q.state = P2State::I(QuickI::ExpectConnected);
            }
            self.out.log(
                Level::Debug,
                Some(m.remote.ip()),
                "commit bit set: waiting for CONNECTED before installing",
            );
            return Ok(());
        }
        // initiator installs on message 2, then sends message 3
        self.install(m.now, id)?;
        self.send_ph2(m.now, id, Vec::new(), hash3, false)?;
        self.ph2_done(m.now, id);
        Ok(())
    }

    /// QM4 under the commit bit: HDR*, HASH(4), N(CONNECTED), HASH(4) = prf(SKEYID_a, M-ID |
    /// N). The initiator installs now.
    fn qm4_in(&mut self, id: u64, m: &Inbound<'_>) -> Result<()> {
        check(MsgKind::Info, m.payloads, m.hdr.is_encrypted())?;
        self.verify_qm_hash(id, m, |k, q, rest| k.qm_hash1(q.msgid, rest))?;
        let connected = m
            .payloads
            .iter()
            .any(|x| matches!(x, Payload::Notify(n) if n.notify_type == NotifyType::CONNECTED));
        if !connected {
            return Err(Error::PeerMisbehaved("commit: QM4 without CONNECTED"));
        }
        self.accept_qm(id, m)?.retx = None;
        self.install(m.now, id)?;
        self.ph2_done(m.now, id);
        Ok(())
    }

    fn qm3_in(&mut self, id: u64, m: &Inbound<'_>) -> Result<()> {
        check(MsgKind::QuickThird, m.payloads, m.hdr.is_encrypted())?;
        self.verify_qm_hash(id, m, |k, q, _| k.qm_hash3(q.msgid, &q.ni, &q.nr))?;
        self.accept_qm(id, m)?.retx = None;
        self.install(m.now, id)?;
        if self.ph2s[&id].generate {
            self.generate_policy(id);
        }
        if self.ph2s[&id].qm.commit {
            // QM4: CONNECTED for the first protocol with our (inbound) SPI, as racoon
            let q = &self.ph2s[&id];
            let n = Payload::Notify(isakmp::Notify {
                doi: isakmp::Doi::IPSEC,
                protocol: q.chosen.first().map_or(ProtocolId::IPSEC_ESP, |c| c.proto),
                notify_type: NotifyType::CONNECTED,
                spi: Self::spi_bytes(q).into_iter().next().unwrap_or_default(),
                data: Vec::new(),
            });
            self.send_ph2(
                m.now,
                id,
                vec![n],
                |k, mid, rest| k.qm_hash1(mid, rest),
                false,
            )?;
        }
        self.ph2_done(m.now, id);
        Ok(())
    }

    fn ph2_done(&mut self, now: Instant, id: u64) {
        let Some(q) = self.ph2s.get_mut(&id) else {
            return;
        };
        q.state = P2State::Established;
        q.retx = if q.role == Role::Responder {
            None
        } else {
            q.retx.take()
        };
        q.retx = None;
        q.deadline = None;
        let lifetime = q.chosen.iter().map(|c| c.lifetime).min().unwrap_or(3600);
        q.expires = Some(now + Duration::from_secs(lifetime));
        q.dh = None;
        let remote = q
            .ph1
            .and_then(|p| self.ph1s.get(&p))
            .map_or(SocketAddr::new(q.peer, 500), |p| p.remote);
        for (satype, spi_in, spi_out) in q.installed.clone() {
            let mode = if q.mode == Mode::TUNNEL {
                "Tunnel"
            } else {
                "Transport"
            };
            self.out.log(
                Level::Info,
                Some(q.peer),
                format!(
                    "IPsec-SA established: {}/{} {}->{} spi={}(0x{:x})",
                    satype.name().unwrap_or("?").to_uppercase(),
                    mode,
                    q.local_ip,
                    q.peer,
                    spi_in,
                    spi_in
                ),
            );
            self.out.event(Event::Phase2Established {
                remote,
                satype,
                spi_in,
                spi_out,
            });
        }
    }

    /// KEYMAT, UPDATE (inbound) and ADD (outbound) for every protocol of the bundle.
    fn install(&mut self, _now: Instant, id: u64) -> Result<()> {
        let q = self.ph2s.get(&id).ok_or(Error::UnexpectedState("ph2"))?;
        let p1 = q.ph1.ok_or(Error::UnexpectedState("ph1"))?;
        let p = self.ph1s.get(&p1).ok_or(Error::UnexpectedState("ph1"))?;
        let keys = p.keys.as_ref().ok_or(Error::UnexpectedState("keys"))?;
        let gxy = match (&q.dh, q.peer_ke.is_empty()) {
            (Some(d), false) => Some(d.shared_secret(&q.peer_ke)?),
            _ => None,
        };
        let (ni, nr) = (&q.ni, &q.nr);
        let (ni_b, nr_b) = (ni.as_slice(), nr.as_slice());
        let mut msgs = Vec::new();
        let mut installed = Vec::new();
        let mut keylog = Vec::new();
        for (i, c) in q.chosen.iter().enumerate() {
            let algs = sa_algs(c)?;
            let spi_in = q
                .spis_in
                .get(i)
                .copied()
                .flatten()
                .ok_or(Error::UnexpectedState("spi"))?;
            let spi_out = match c.peer_spi.len() {
                2 => u32::from(u16::from_be_bytes([c.peer_spi[0], c.peer_spi[1]])),
                4 => {
                    u32::from_be_bytes([c.peer_spi[0], c.peer_spi[1], c.peer_spi[2], c.peer_spi[3]])
                }
                _ => return Err(Error::BadProposalSyntax),
            };
            let len = algs.enc_key + algs.auth_key;
            let proto = c.proto.0;
            let spi_in_b = if c.proto == ProtocolId::IPCOMP {
                (spi_in as u16).to_be_bytes().to_vec()
            } else {
                spi_in.to_be_bytes().to_vec()
            };
            let k_in = keys.keymat(
                gxy.as_ref().map(|g| g.as_ref()),
                proto,
                &spi_in_b,
                ni_b,
                nr_b,
                len,
            );
            let k_out = keys.keymat(
                gxy.as_ref().map(|g| g.as_ref()),
                proto,
                &c.peer_spi,
                ni_b,
                nr_b,
                len,
            );
            let natt_in = if algs.satype == SaType::ESP {
                self.natt_sa(p1, true)
            } else {
                None
            };
            let natt_out = if algs.satype == SaType::ESP {
                self.natt_sa(p1, false)
            } else {
                None
            };
            let (reqid_in, reqid_out) = self.reqids_of(q, i);
            let seq_in = q.getspi_seq.get(i).copied().unwrap_or(0);
            let oa = |ip: IpAddr| Extension::NatTOa(pfkey::Address::host(SocketAddr::new(ip, 0)));
            let natoa = q.qm.natoa.filter(|_| natt_in.is_some());
            let mut update = kernel::install(&Install {
                msg_type: MsgType::UPDATE,
                algs,
                spi: spi_in,
                src: q.peer,
                dst: q.local_ip,
                mode: q.mode,
                reqid: reqid_in,
                keymat: k_in.as_ref(),
                lifetime: c.lifetime,
                seq: seq_in,
                pid: self.opts.pid,
                natt: natt_in,
            })?;
            let mut add = kernel::install(&Install {
                msg_type: MsgType::ADD,
                algs,
                spi: spi_out,
                src: q.local_ip,
                dst: q.peer,
                mode: q.mode,
                reqid: reqid_out,
                keymat: k_out.as_ref(),
                lifetime: c.lifetime,
                seq: seq_in,
                pid: self.opts.pid,
                natt: natt_out,
            })?;
            if let Some(o) = natoa {
                update.push(oa(o.peer));
                add.push(oa(o.ours_seen));
            }
            msgs.push(update);
            msgs.push(add);
            if self.opts.key_log {
                let entry = |spi: u32, src: IpAddr, dst: IpAddr, k: &crate::crypto::Secret| {
                    crate::types::KeyLog::Esp {
                        spi,
                        src,
                        dst,
                        enc_alg: algs.enc.name().unwrap_or("?").to_string(),
                        enc_key: zeroize::Zeroizing::new(k.as_ref()[..algs.enc_key].to_vec()),
                        auth_alg: algs.auth.name().unwrap_or("?").to_string(),
                        auth_key: zeroize::Zeroizing::new(
                            k.as_ref()[algs.enc_key..algs.enc_key + algs.auth_key].to_vec(),
                        ),
                    }
                };
                keylog.push(entry(spi_in, q.peer, q.local_ip, &k_in));
                keylog.push(entry(spi_out, q.local_ip, q.peer, &k_out));
            }
            installed.push((algs.satype, spi_in, spi_out));
        }
        for m in msgs {
            self.out.kernel(m);
        }
        for k in keylog {
            self.out.event(Event::KeyLog(k));
        }
        if let Some(q) = self.ph2s.get_mut(&id) {
            q.installed = installed;
        }
        Ok(())
    }

    /// X_SPDUPDATE in, fwd (tunnel), out for a responder without a matching policy.
    fn generate_policy(&mut self, id: u64) {
        let Some(q) = self.ph2s.get(&id) else {
            return;
        };
        let lifetime = q.chosen.iter().map(|c| c.lifetime).min().unwrap_or(0);
        let level = if q.reqids.first().copied().unwrap_or(0) != 0 {
            PLevel::UNIQUE
        } else {
            PLevel::REQUIRE
        };
        let tunnel = q.mode == Mode::TUNNEL;
        let mut dirs = vec![Dir::IN];
        if tunnel {
            dirs.push(Dir::FWD);
        }
        dirs.push(Dir::OUT);
        let mut msgs = Vec::new();
        for d in dirs {
            let (src, dst, t_src, t_dst) = if d == Dir::OUT {
                (q.sel_local, q.sel_remote, q.local_ip, q.peer)
            } else {
                (q.sel_remote, q.sel_local, q.peer, q.local_ip)
            };
            let mut pol = pfkey::Policy::new(pfkey::PolicyType::IPSEC, d);
            pol.requests = q
                .wants
                .iter()
                .enumerate()
                .map(|(i, w)| pfkey::IpsecRequest {
                    proto: match w.proto {
                        ProtocolId::IPSEC_AH => pfkey::IpsecProto::AH,
                        ProtocolId::IPCOMP => pfkey::IpsecProto::IPCOMP,
                        _ => pfkey::IpsecProto::ESP,
                    },
                    mode: q.mode,
                    level,
                    reqid: q.reqids.get(i).copied().unwrap_or(0),
                    tunnel: tunnel.then_some(pfkey::Endpoints {
                        src: SocketAddr::new(t_src, 0),
                        dst: SocketAddr::new(t_dst, 0),
                    }),
                })
                .collect();
            let seq = self.seq.wrapping_add(msgs.len() as u32 + 1);
            let m = Message::new(MsgType::X_SPDUPDATE, SaType::UNSPEC)
                .with_seq(seq)
                .with_pid(self.opts.pid)
                .with(Extension::AddressSrc(src.to_address(q.ulproto)))
                .with(Extension::AddressDst(dst.to_address(q.ulproto)))
                .with(Extension::LifetimeHard(pfkey::Lifetime {
                    addtime: lifetime,
                    ..Default::default()
                }))
                .with(Extension::Policy(pol));
            msgs.push(m);
        }
        self.seq = self.seq.wrapping_add(msgs.len() as u32);
        for m in msgs {
            self.out.kernel(m);
        }
    }

    fn spd_delete_generated(&mut self, id: u64) {
        let Some(q) = self.ph2s.get(&id) else {
            return;
        };
        if !q.generate {
            return;
        }
        let mut dirs = vec![Dir::IN];
        if q.mode == Mode::TUNNEL {
            dirs.push(Dir::FWD);
        }
        dirs.push(Dir::OUT);
        let (sl, sr, ul) = (q.sel_local, q.sel_remote, q.ulproto);
        for d in dirs {
            let (src, dst) = if d == Dir::OUT { (sl, sr) } else { (sr, sl) };
            let s = self.next_seq();
            self.out.kernel(
                Message::new(MsgType::X_SPDDELETE, SaType::UNSPEC)
                    .with_seq(s)
                    .with_pid(self.opts.pid)
                    .with(Extension::AddressSrc(src.to_address(ul)))
                    .with(Extension::AddressDst(dst.to_address(ul)))
                    .with(Extension::Policy(pfkey::Policy::new(
                        pfkey::PolicyType::IPSEC,
                        d,
                    ))),
            );
        }
    }

    /// DELETEs the larval (GETSPI) SAs of a phase 2 that never got their UPDATE, so no
    /// placeholder stays in the kernel after a failure (racoon deletes them too).
    fn delete_larval(&mut self, q: &Ph2) {
        for (i, spi) in q.spis_in.iter().enumerate() {
            let Some(spi) = *spi else {
                continue;
            };
            if q.installed.iter().any(|(_, a, _)| *a == spi) {
                continue;
            }
            let satype = q
                .wants
                .get(i)
                .map_or(SaType::ESP, |w| kernel::satype_of(w.proto));
            self.out.log(
                Level::Debug,
                Some(q.peer),
                format!("deleting larval SA spi={spi}"),
            );
            self.out.kernel(kernel::delete(
                satype,
                spi,
                q.peer,
                q.local_ip,
                self.opts.pid,
            ));
        }
    }

    /// A GETSPI reply nobody waits for any more (its phase 2 failed or was deleted before
    /// the reply came): the kernel made a larval SA for us, delete it.
    pub(crate) fn orphan_getspi(&mut self, m: &Message) {
        if m.header.errno != 0 {
            return;
        }
        let (Some(sa), Some(src), Some(dst)) = (m.sa(), m.addr_src(), m.addr_dst()) else {
            return;
        };
        let (spi, s, d) = (sa.spi, src.addr.ip(), dst.addr.ip());
        self.out.log(
            Level::Debug,
            Some(s),
            format!("deleting larval SA spi={spi} of a finished negotiation"),
        );
        self.out
            .kernel(kernel::delete(m.header.satype, spi, s, d, self.opts.pid));
    }

    /// A negotiation failed: tell the kernel (ACQUIRE with ENOENT), delete its larval SAs
    /// and drop the handle.
    pub(crate) fn fail_ph2(&mut self, id: u64, why: &str) {
        let Some(q) = self.ph2s.remove(&id) else {
            return;
        };
        self.ph2_by_seq.retain(|_, v| *v != id);
        self.ph2_by_msgid.retain(|_, v| *v != id);
        self.delete_larval(&q);
        let remote = SocketAddr::new(q.peer, self.opts.ike_port);
        self.out.log(
            Level::Error,
            Some(q.peer),
            format!("phase2 negotiation failed: {why}"),
        );
        self.out.event(Event::Phase2Failed {
            remote,
            reason: why.to_string(),
        });
        if q.role == Role::Initiator && q.acquire_seq != 0 {
            let satype = q
                .wants
                .first()
                .map_or(SaType::ESP, |w| kernel::satype_of(w.proto));
            self.out.kernel(
                Message::new(MsgType::ACQUIRE, satype)
                    .with_seq(q.acquire_seq)
                    .with_pid(self.opts.pid)
                    .with_errno(2),
            );
        }
    }

    /// Deletes an established phase 2: kernel DELETEs, optionally DELETE payloads to the peer.
    pub(crate) fn delete_ph2(&mut self, now: Instant, id: u64, tell_peer: bool) {
        if tell_peer {
            if let Some(q) = self.ph2s.get(&id) {
                if let Some(p1) = q
                    .ph1
                    .filter(|p| self.ph1s.get(p).is_some_and(|x| x.is_established()))
                {
                    let dels: Vec<Payload> = q
                        .installed
                        .iter()
                        .map(|(t, spi_in, _)| {
                            Payload::Delete(isakmp::Delete {
                                doi: isakmp::Doi::IPSEC,
                                protocol: match *t {
                                    SaType::AH => ProtocolId::IPSEC_AH,
                                    SaType::IPCOMP => ProtocolId::IPCOMP,
                                    _ => ProtocolId::IPSEC_ESP,
                                },
                                spi_size: 4,
                                spis: vec![spi_in.to_be_bytes().to_vec()],
                            })
                        })
                        .collect();
                    if !dels.is_empty() {
                        let _ = self.send_info(now, p1, dels);
                    }
                }
            }
        }
        self.spd_delete_generated(id);
        let Some(q) = self.ph2s.remove(&id) else {
            return;
        };
        self.ph2_by_seq.retain(|_, v| *v != id);
        self.ph2_by_msgid.retain(|_, v| *v != id);
        self.delete_larval(&q);
        let remote = SocketAddr::new(q.peer, self.opts.ike_port);
        for (t, spi_in, spi_out) in &q.installed {
            self.out.kernel(kernel::delete(
                *t,
                *spi_in,
                q.peer,
                q.local_ip,
                self.opts.pid,
            ));
            self.out.kernel(kernel::delete(
                *t,
                *spi_out,
                q.local_ip,
                q.peer,
                self.opts.pid,
            ));
            self.out.log(
                Level::Info,
                Some(q.peer),
                format!("IPsec-SA deleted spi={spi_in}/{spi_out}"),
            );
            self.out.event(Event::Phase2Deleted {
                remote,
                spi_in: *spi_in,
                spi_out: *spi_out,
            });
        }
    }

    pub(crate) fn ph2_timers(&mut self, now: Instant, id: u64) {
        let Some(q) = self.ph2s.get_mut(&id) else {
            return;
        };
        if q.deadline.is_some_and(|t| now >= t) {
            self.fail_ph2(id, "give up to get IPsec-SA due to time up to wait.");
            return;
        }
        if q.expires.is_some_and(|t| now >= t) {
            // racoon expires its own record at the lifetime (the kernel SAs expire by themselves)
            self.ph2s.remove(&id);
            self.ph2_by_msgid.retain(|_, v| *v != id);
            return;
        }
        if let Some(r) = q.retx.as_mut() {
            if now >= r.at {
                if r.left == 0 {
                    q.retx = None;
                    self.fail_ph2(id, "no response to quick mode");
                    return;
                }
                r.left -= 1;
                r.interval = (r.interval * 2).min(Duration::from_secs(60));
                r.at = now + r.interval;
                let data = q.last_sent.clone();
                if let (Some(d), Some(p)) = (data, q.ph1.and_then(|x| self.ph1s.get(&x))) {
                    self.out.push_tx(crate::types::Transmit {
                        local: p.local,
                        remote: p.remote,
                        data: d,
                        non_esp_marker: p.natt.floated,
                    });
                }
            }
        }
    }

    /// A soft EXPIRE for an SA of an established initiator phase 2: start a new Quick Mode
    /// for the same policy (racoon reuses the handle); anything else drops the handle.
    pub(crate) fn on_expire(&mut self, now: Instant, m: &Message) {
        let Some(spi) = m.sa().map(|s| s.spi) else {
            return;
        };
        let hard = m.lifetime_hard().is_some() && m.lifetime_soft().is_none();
        let Some(id) = self
            .ph2s
            .values()
            .find(|q| q.installed.iter().any(|(_, a, b)| *a == spi || *b == spi))
            .map(|q| q.id)
        else {
            return;
        };
        let q = &self.ph2s[&id];
        if hard || q.role == Role::Responder || q.state != P2State::Established || q.rekeyed {
            if hard {
                self.ph2s.remove(&id);
                self.ph2_by_msgid.retain(|_, v| *v != id);
            }
            return;
        }
        // rekey: a fresh handle with the same selectors
        let nid = self.next_id + 1;
        self.next_id = nid;
        let mut n = Ph2 {
            id: nid,
            ph1: None,
            role: Role::Initiator,
            state: P2State::I(QuickI::WaitPh1),
            msgid: 0,
            iv: Vec::new(),
            peer: q.peer,
            local_ip: q.local_ip,
            sel_local: q.sel_local,
            sel_remote: q.sel_remote,
            ulproto: q.ulproto,
            send_ids: q.send_ids,
            sainfo: q.sainfo,
            wants: q.wants.clone(),
            mode: q.mode,
            reqids: q.reqids.clone(),
            spis_in: vec![None; q.wants.len()],
            getspi_seq: Vec::new(),
            chosen: Vec::new(),
            ni: Vec::new(),
            nr: Vec::new(),
            dh: None,
            peer_ke: Vec::new(),
            acquire_seq: 0,
            last_sent: None,
            last_recv: None,
            retx: None,
            deadline: Some(
                now + Duration::from_secs(
                    self.cfg.timer.phase2.max(1) + self.cfg.timer.phase1.max(1),
                ),
            ),
            generate: false,
            claim: false,
            id_ci: None,
            id_cr: None,
            installed: Vec::new(),
            expires: None,
            rekeyed: false,
            peer_proposal_number: 1,
            qm: QmExtras::default(),
        };
        // the wants keep their (possibly UDP) encapsulation; start_quick recomputes it
        for w in &mut n.wants {
            w.encap = if w.encap.is_tunnel() {
                EncapsulationMode::TUNNEL
            } else {
                EncapsulationMode::TRANSPORT
            };
        }
        let peer = n.peer;
        if let Some(q) = self.ph2s.get_mut(&id) {
            q.rekeyed = true;
        }
        self.ph2s.insert(nid, n);
        self.out
            .log(Level::Info, Some(peer), "IPsec-SA expired (soft): rekeying");
        match self.established_ph1(peer) {
            Some(p1) => self.start_quick(now, nid, p1),
            None => {
                let ri = self.find_remote(peer, true);
                let local = self.ph2s[&nid].local_ip;
                if let Some(ri) = ri {
                    let port = self
                        .remote_cfg(ri)
                        .peer()
                        .map_or(self.opts.ike_port, |a| a.port);
                    let _ = self.start_ph1(
                        now,
                        SocketAddr::new(local, self.opts.ike_port),
                        SocketAddr::new(peer, port),
                        ri,
                    );
                }
            }
        }
    }

    /// The header of a Quick Mode message (for tests).
    #[doc(hidden)]
    pub fn quick_header_of(data: &[u8]) -> Option<Header> {
        Header::decode(data)
            .ok()
            .filter(|h| h.exchange == ExchangeType::QUICK)
    }
}

fn attr_bytes(a: &isakmp::Attribute) -> Vec<u8> {
    match &a.value {
        isakmp::AttrValue::Basic(v) => {
            let mut o = (a.kind | 0x8000).to_be_bytes().to_vec();
            o.extend_from_slice(&v.to_be_bytes());
            o
        }
        isakmp::AttrValue::Variable(b) => {
            let mut o = (a.kind & 0x7fff).to_be_bytes().to_vec();
            o.extend_from_slice(&(b.len().min(0xffff) as u16).to_be_bytes());
            o.extend_from_slice(&b[..b.len().min(0xffff)]);
            o
        }
    }
}

/// The seconds lifetime in a RESPONDER-LIFETIME notify's attribute list.
fn responder_lifetime(data: &[u8]) -> Option<u64> {
    let mut r = isakmp::Reader::new(data);
    let mut kind = None;
    let mut out = None;
    let mut n = 0;
    while !r.is_empty() && n < 16 {
        n += 1;
        let t = r.u16().ok()?;
        let (k, v) = if t & 0x8000 != 0 {
            (t & 0x7fff, u64::from(r.u16().ok()?))
        } else {
            let len = usize::from(r.u16().ok()?);
            let b = r.take(len).ok()?;
            if b.len() > 8 {
                return None;
            }
            (t, b.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x)))
        };
        match k {
            1 => kind = Some(v),
            2 if kind == Some(1) => out = Some(v),
            _ => {}
        }
    }
    out
}

#[allow(dead_code)]
fn _unused(_: IpAddr) {}
