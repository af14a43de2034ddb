//! The PF_KEY message handler: turns requests into SAD/SPD operations and
//! replies, the way a Linux (af_key) / KAME kernel answers them.
//!
//! Sans-I/O: sockets are ids that the I/O layer assigns ([`Kernel::connect`],
//! [`Kernel::disconnect`]); every call returns a list of [`Output`]s, each a
//! message and a [`Dest`]ination that [`Kernel::recipients`] resolves to socket
//! ids (promiscuous sockets get a copy of everything, as with af_key).
//!
//! Where Linux and KAME differ, Linux wins (this is the Linux ABI), except
//! where noted:
//! * missing SA on DELETE/GET/UPDATE: `ESRCH`; missing policy: `ENOENT`;
//!   empty DUMP/SPDDUMP: `ENOENT`; duplicate ADD/SPDADD: `EEXIST`;
//!   unknown algorithm: `ENOSYS`; malformed or inconsistent: `EINVAL`;
//!   message types a kernel does not take from user space: `EOPNOTSUPP`.
//! * GETSPI always creates a new larval SA (KAME); a full SPI range gives `EAGAIN`.
//! * DELETE without an SA extension deletes every SA between the two
//!   addresses (KAME `key_delete_all`).
//! * X_SPDADD accepts `entrust` and `bypass` (KAME); Linux refuses them.
//! * Policy hard lifetimes end in an X_SPDEXPIRE to registered sockets (KAME).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use pfkey::{
    Address, Alg, AuthAlg, Comb, DecodeOptions, Dir as PDir, EncAlg, Extension, Header, Level,
    Message, Mode, MsgType, NatTType, PolicyType, Proposal, Sa, Sa2, SaFlags, SaState as PState,
    SaType, SpiRange, Supported,
};
use rand_core::RngCore;

use crate::alg;
use crate::sad::{
    self, Endpoint, ExpireKind, Key, Lifetime, NatT, SaKey, SaState, Sad, SecAssoc, SATYPE_AH,
    SATYPE_ESP, SATYPE_IPCOMP, SATYPE_UNSPEC,
};
use crate::spd::{Dir, IpsecRequest, PacketSel, Policy, Selector, Spd};
use crate::{Errno, Now};

/// A socket as the I/O layer numbers it.
pub type SocketId = u64;

/// Who receives an [`Output`] (RFC 2367 §3.1 and af_key's broadcast modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// The socket that sent the request.
    Sender,
    /// One given socket.
    Socket(SocketId),
    /// Every open socket.
    All,
    /// Sockets registered for this satype (`SATYPE_UNSPEC`: registered for any).
    Registered(u8),
    /// Promiscuous sockets only (the copy of every request).
    Promisc,
}

/// A message to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub dest: Dest,
    pub msg: Message,
}

/// Limits of the core.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_sas: usize,
    pub max_policies: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sas: 1 << 20,
            max_policies: 1 << 20,
        }
    }
}

/// How long one ACQUIRE blocks the next for the same policy request (KAME
/// blocks for `blockacq_lifetime`, Linux keeps its acquire state 30 s).
pub const ACQUIRE_BLOCK: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, Default)]
struct SockState {
    /// Bit `satype` set when registered for it.
    registered: u32,
    promisc: bool,
}

#[derive(Clone, Copy, Debug)]
struct Acq {
    seq: u32,
    sent: Instant,
    dst: IpAddr,
    satype: u8,
}

/// The userspace kernel's key engine: SAD, SPD and PF_KEY socket states.
#[derive(Debug)]
pub struct Kernel {
    pub(crate) sad: Sad,
    pub(crate) spd: Spd,
    socks: BTreeMap<SocketId, SockState>,
    /// Outstanding ACQUIREs by (policy id, request index).
    acq: HashMap<(u32, usize), Acq>,
    acq_seq: u32,
    /// Data-plane state (counters, outbound SA cache).
    pub(crate) dp: crate::datapath::DpState,
    /// Bumped on every SPD change (the I/O layer re-derives its routes).
    spd_gen: u64,
}

impl Default for Kernel {
    fn default() -> Self {
        Kernel::new(Limits::default())
    }
}

fn errno_out(req: &Header, e: Errno) -> Vec<Output> {
    vec![Output {
        dest: Dest::Sender,
        msg: Message {
            header: Header { errno: e.0, ..*req },
            exts: Vec::new(),
        },
    }]
}

fn ip_of(a: &Address) -> IpAddr {
    a.addr.ip()
}

fn to_endpoint(a: &Address) -> Endpoint {
    Endpoint {
        addr: a.addr,
        prefixlen: a.prefixlen,
        proto: a.proto,
    }
}

fn to_address(e: &Endpoint) -> Address {
    Address::new(e.addr, e.prefixlen, e.proto)
}

fn to_lifetime(l: &pfkey::Lifetime) -> Lifetime {
    Lifetime {
        allocations: l.allocations,
        bytes: l.bytes,
        addtime: l.addtime,
        usetime: l.usetime,
    }
}

fn from_lifetime(l: &Lifetime) -> pfkey::Lifetime {
    pfkey::Lifetime {
        allocations: l.allocations,
        bytes: l.bytes,
        addtime: l.addtime,
        usetime: l.usetime,
    }
}

fn to_key(k: &pfkey::Key) -> Key {
    Key::new(k.bits(), k.bytes().to_vec())
}

fn from_key(k: &Key) -> Option<pfkey::Key> {
    pfkey::Key::with_bits(k.bits, &k.data)
}

/// Both addresses present, same family (af_key `present_and_same_family`).
fn addr_pair(msg: &Message) -> Result<(&Address, &Address), Errno> {
    match (msg.addr_src(), msg.addr_dst()) {
        (Some(s), Some(d)) if s.addr.is_ipv4() == d.addr.is_ipv4() => Ok((s, d)),
        _ => Err(Errno::EINVAL),
    }
}

/// Extensions stored verbatim with an SA and echoed in replies.
fn sa_extras(msg: &Message) -> Vec<Extension> {
    msg.exts
        .iter()
        .filter(|e| {
            matches!(
                e,
                Extension::AddressProxy(_)
                    | Extension::IdentitySrc(_)
                    | Extension::IdentityDst(_)
                    | Extension::Sensitivity(_)
                    | Extension::NatTOa(_)
                    | Extension::SecCtx(_)
            )
        })
        .cloned()
        .collect()
}

fn natt_of(msg: &Message) -> Option<NatT> {
    msg.nat_t_type().map(|t| NatT {
        encap_type: t.0,
        sport: msg.nat_t_sport().copied().unwrap_or(0),
        dport: msg.nat_t_dport().copied().unwrap_or(0),
    })
}

/// Algorithm and key checks for ADD/UPDATE (errno as Linux: unknown algorithm
/// ENOSYS, inconsistent combination or key size EINVAL).
fn check_algs(satype: u8, s: &Sa, msg: &Message) -> Result<(), Errno> {
    let abits = msg.key_auth().map(|k| k.bits());
    let ebits = msg.key_encrypt().map(|k| k.bits());
    let auth = s.auth.0;
    let enc = s.encrypt.0;
    match satype {
        SATYPE_AH => {
            if enc != alg::EALG_NONE || auth == alg::AALG_NONE || ebits.is_some() {
                return Err(Errno::EINVAL);
            }
            alg::check_key(alg::auth(auth).ok_or(Errno::ENOSYS)?, abits)
        }
        SATYPE_ESP => {
            if enc == alg::EALG_NONE {
                return Err(Errno::EINVAL);
            }
            let e = alg::encrypt(enc).ok_or(Errno::ENOSYS)?;
            alg::check_key(e, ebits)?;
            if auth == alg::AALG_NONE {
                if abits.is_some_and(|b| b != 0) {
                    return Err(Errno::EINVAL);
                }
                return Ok(());
            }
            if e.aead {
                return Err(Errno::EINVAL);
            }
            alg::check_key(alg::auth(auth).ok_or(Errno::ENOSYS)?, abits)
        }
        SATYPE_IPCOMP => {
            if auth != alg::AALG_NONE || abits.is_some() || ebits.is_some() {
                return Err(Errno::EINVAL);
            }
            alg::compress(enc).ok_or(Errno::ENOSYS).map(|_| ())
        }
        _ => Err(Errno::EINVAL),
    }
}

impl Kernel {
    pub fn new(limits: Limits) -> Self {
        Kernel {
            sad: Sad::new(limits.max_sas),
            spd: Spd::new(limits.max_policies),
            socks: BTreeMap::new(),
            acq: HashMap::new(),
            acq_seq: 0,
            dp: crate::datapath::DpState::default(),
            spd_gen: 0,
        }
    }

    pub fn sad(&self) -> &Sad {
        &self.sad
    }

    pub fn spd(&self) -> &Spd {
        &self.spd
    }

    /// Changes with every SPD change (add, delete, flush, expiry).
    pub fn spd_generation(&self) -> u64 {
        self.spd_gen
    }

    /// A new PF_KEY socket.
    pub fn connect(&mut self, id: SocketId) {
        self.socks.insert(id, SockState::default());
    }

    /// A socket went away: its registrations and promiscuous mode end.
    pub fn disconnect(&mut self, id: SocketId) {
        self.socks.remove(&id);
    }

    pub fn is_registered(&self, id: SocketId, satype: u8) -> bool {
        self.socks
            .get(&id)
            .is_some_and(|s| s.registered & (1 << satype.min(31)) != 0)
    }

    /// The sockets that get an output sent for `sender`, in id order, each once.
    /// Promiscuous sockets get a copy of everything.
    pub fn recipients(&self, dest: Dest, sender: Option<SocketId>) -> Vec<SocketId> {
        let mut v: Vec<SocketId> = self
            .socks
            .iter()
            .filter(|(id, s)| {
                s.promisc
                    || match dest {
                        Dest::Sender => Some(**id) == sender,
                        Dest::Socket(x) => **id == x,
                        Dest::All => true,
                        Dest::Registered(SATYPE_UNSPEC) => s.registered != 0,
                        Dest::Registered(t) => s.registered & (1 << t.min(31)) != 0,
                        Dest::Promisc => false,
                    }
            })
            .map(|(id, _)| *id)
            .collect();
        v.dedup();
        v
    }

    /// Handles one packet from socket `sender`. A message whose header cannot
    /// be read is dropped; any other malformed message gets `EINVAL`.
    pub fn handle_bytes(
        &mut self,
        now: Now,
        sender: SocketId,
        bytes: &[u8],
        rng: &mut dyn RngCore,
    ) -> Vec<Output> {
        let Some((hdr, _)) = Header::peek(bytes) else {
            return Vec::new();
        };
        let opts = DecodeOptions {
            keep_unknown: true,
            check_src_dst: false,
        };
        match Message::decode_with(bytes, opts) {
            Ok(mut msg) => {
                // Linux skips extension types it does not know.
                msg.exts.retain(|e| !matches!(e, Extension::Unknown { .. }));
                self.handle_message(now, sender, msg, rng)
            }
            Err(_) => errno_out(&hdr, Errno::EINVAL),
        }
    }

    /// Handles one decoded request from socket `sender`.
    pub fn handle_message(
        &mut self,
        now: Now,
        sender: SocketId,
        msg: Message,
        rng: &mut dyn RngCore,
    ) -> Vec<Output> {
        let hdr = msg.header;
        let mut out = Vec::new();
        if self.socks.values().any(|s| s.promisc) {
            out.push(Output {
                dest: Dest::Promisc,
                msg: msg.clone(),
            });
        }
        let r = if hdr.reserved != 0 {
            Err(Errno::EINVAL)
        } else {
            match msg.check() {
                Ok(()) => self.dispatch(now, sender, &msg, rng),
                Err(e) => Err(Errno(e.errno().clamp(1, 255) as u8)),
            }
        };
        match r {
            Ok(mut v) => out.append(&mut v),
            Err(e) => out.append(&mut errno_out(&hdr, e)),
        }
        out
    }

    fn dispatch(
        &mut self,
        now: Now,
        sender: SocketId,
        msg: &Message,
        rng: &mut dyn RngCore,
    ) -> Result<Vec<Output>, Errno> {
        match msg.header.msg_type {
            MsgType::GETSPI => self.getspi(now, msg, rng),
            MsgType::UPDATE => self.add(now, msg, true, rng),
            MsgType::ADD => self.add(now, msg, false, rng),
            MsgType::DELETE => self.delete(msg),
            MsgType::GET => self.get(msg),
            MsgType::ACQUIRE => self.user_acquire(now, msg),
            MsgType::REGISTER => self.register(sender, msg),
            MsgType::FLUSH => Ok(self.flush(msg)),
            MsgType::DUMP => self.dump(msg),
            MsgType::X_PROMISC => self.promisc(sender, msg),
            MsgType::X_SPDADD | MsgType::X_SPDSETIDX => self.spdadd(now, msg, false),
            MsgType::X_SPDUPDATE => self.spdadd(now, msg, true),
            MsgType::X_SPDDELETE => self.spddelete(msg),
            MsgType::X_SPDDELETE2 | MsgType::X_SPDGET => self.spdget(msg),
            MsgType::X_SPDDUMP => self.spddump(msg),
            MsgType::X_SPDFLUSH => Ok(self.spdflush(msg)),
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    // ----------------------------------------------------------------- SAD

    /// The message describing an SA (as af_key's `pfkey_xfrm_state2msg`).
    fn sa_message(hdr: Header, sa: &SecAssoc, keys: bool, lifetimes: bool) -> Message {
        let mut m = Message {
            header: Header {
                errno: 0,
                satype: SaType(sa.satype),
                ..hdr
            },
            exts: Vec::new(),
        };
        m.push(Extension::Sa(Sa {
            spi: sa.spi,
            replay: sa.replay,
            state: PState(sa.state as u8),
            auth: AuthAlg(sa.auth),
            encrypt: EncAlg(sa.encrypt),
            flags: SaFlags(sa.flags),
        }));
        if lifetimes {
            m.push(Extension::LifetimeCurrent(from_lifetime(&sa.current)));
            if let Some(h) = &sa.hard {
                m.push(Extension::LifetimeHard(from_lifetime(h)));
            }
            if let Some(s) = &sa.soft {
                m.push(Extension::LifetimeSoft(from_lifetime(s)));
            }
        }
        m.push(Extension::AddressSrc(to_address(&sa.src)));
        m.push(Extension::AddressDst(to_address(&sa.dst)));
        if keys {
            if let Some(k) = sa.key_auth.as_ref().and_then(from_key) {
                m.push(Extension::KeyAuth(k));
            }
            if let Some(k) = sa.key_encrypt.as_ref().and_then(from_key) {
                m.push(Extension::KeyEncrypt(k));
            }
        }
        m.push(Extension::Sa2(Sa2 {
            mode: Mode(sa.mode),
            sequence: 0,
            reqid: sa.reqid,
        }));
        if let Some(n) = &sa.natt {
            m.push(Extension::NatTType(NatTType(n.encap_type)));
            m.push(Extension::NatTSport(n.sport));
            m.push(Extension::NatTDport(n.dport));
        }
        for e in &sa.extra {
            if !m.has(e.ext_type()) {
                m.push(e.clone());
            }
        }
        m
    }

    fn sa_key_of(msg: &Message) -> Result<SaKey, Errno> {
        let s = msg.sa().ok_or(Errno::EINVAL)?;
        let (_, d) = addr_pair(msg)?;
        Ok(SaKey {
            spi: s.spi,
            dst: ip_of(d),
            satype: msg.header.satype.0,
        })
    }

    fn getspi(
        &mut self,
        now: Now,
        msg: &Message,
        rng: &mut dyn RngCore,
    ) -> Result<Vec<Output>, Errno> {
        let (src, dst) = addr_pair(msg)?;
        let satype = msg.header.satype.0;
        let (min, max) = match msg.spirange() {
            Some(SpiRange { min, max }) => {
                if min > max || (satype == SATYPE_IPCOMP && *max > sad::DEFAULT_CPI_MAX) {
                    return Err(Errno::EINVAL);
                }
                (*min, *max)
            }
            None if satype == SATYPE_IPCOMP => (sad::DEFAULT_SPI_MIN, sad::DEFAULT_CPI_MAX),
            None => (sad::DEFAULT_SPI_MIN, sad::DEFAULT_SPI_MAX),
        };
        let spi = self.sad.alloc_spi(ip_of(dst), satype, min, max, rng)?;
        let mut sa = SecAssoc::new(satype, spi, to_endpoint(src), to_endpoint(dst), now);
        sa.state = SaState::Larval;
        if let Some(s2) = msg.sa2() {
            sa.mode = s2.mode.0;
            sa.reqid = s2.reqid;
        }
        sa.natt = natt_of(msg);
        sa.seq = msg.header.seq;
        sa.pid = msg.header.pid;
        let reply = Self::sa_message(msg.header, &sa, false, false);
        self.sad.insert(sa)?;
        Ok(vec![Output {
            dest: Dest::Sender,
            msg: reply,
        }])
    }

    /// ADD (`update == false`) and UPDATE.
    fn add(
        &mut self,
        now: Now,
        msg: &Message,
        update: bool,
        rng: &mut dyn RngCore,
    ) -> Result<Vec<Output>, Errno> {
        let s = *msg.sa().ok_or(Errno::EINVAL)?;
        let (src, dst) = addr_pair(msg)?;
        let satype = msg.header.satype.0;
        if s.spi == 0 {
            return Err(Errno::EINVAL);
        }
        check_algs(satype, &s, msg)?;
        let key = SaKey {
            spi: s.spi,
            dst: ip_of(dst),
            satype,
        };
        let existing = self.sad.get(&key);
        let stored_key = match (update, existing) {
            (false, Some(_)) => return Err(Errno::EEXIST),
            (true, None) => return Err(Errno::ESRCH),
            (true, Some(old)) if old.state != SaState::Larval => {
                // Linux: updating a live SA only changes lifetimes and encapsulation.
                let mut sa = old.clone();
                if let Some(h) = msg.lifetime_hard() {
                    sa.hard = Some(to_lifetime(h));
                }
                if let Some(l) = msg.lifetime_soft() {
                    sa.soft = Some(to_lifetime(l));
                }
                if let Some(n) = natt_of(msg) {
                    sa.natt = Some(n);
                }
                self.sad.replace(sa)?;
                key
            }
            (_, old) => {
                let mut sa = SecAssoc::new(satype, s.spi, to_endpoint(src), to_endpoint(dst), now);
                sa.replay = s.replay;
                sa.auth = s.auth.0;
                sa.encrypt = s.encrypt.0;
                sa.flags = s.flags.0;
                if let Some(s2) = msg.sa2() {
                    sa.mode = s2.mode.0;
                    sa.reqid = s2.reqid;
                }
                sa.key_auth = msg.key_auth().filter(|k| !k.is_empty()).map(to_key);
                sa.key_encrypt = msg.key_encrypt().filter(|k| !k.is_empty()).map(to_key);
                sa.hard = msg.lifetime_hard().map(to_lifetime);
                sa.soft = msg.lifetime_soft().map(to_lifetime);
                sa.natt = natt_of(msg);
                sa.extra = sa_extras(msg);
                sa.seq = old.map_or(msg.header.seq, |o| o.seq);
                sa.pid = msg.header.pid;
                // The transform state: fails (EINVAL) for a key the algorithm cannot use.
                sa.xf = Some(crate::datapath::Xform::build(&sa, rng.next_u64())?);
                if old.is_some() {
                    self.sad.replace(sa)?;
                } else {
                    self.sad.insert(sa)?;
                }
                key
            }
        };
        self.dp.invalidate();
        // A mature SA answers outstanding ACQUIREs for its (dst, proto).
        self.acq
            .retain(|_, a| !(a.dst == stored_key.dst && a.satype == stored_key.satype));
        let sa = self.sad.get(&stored_key).ok_or(Errno::ESRCH)?;
        Ok(vec![Output {
            dest: Dest::All,
            msg: Self::sa_message(msg.header, sa, false, true),
        }])
    }

    fn delete(&mut self, msg: &Message) -> Result<Vec<Output>, Errno> {
        let (src, dst) = addr_pair(msg)?;
        if msg.sa().is_none() {
            // KAME key_delete_all: every SA of this type between the two addresses.
            let (s, d, t) = (ip_of(src), ip_of(dst), msg.header.satype.0);
            self.sad
                .remove_where(|sa| sa.satype == t && sa.src.ip() == s && sa.dst.ip() == d);
            let reply = Message {
                header: msg.header,
                exts: vec![Extension::AddressSrc(*src), Extension::AddressDst(*dst)],
            };
            return Ok(vec![Output {
                dest: Dest::All,
                msg: reply,
            }]);
        }
        let key = Self::sa_key_of(msg)?;
        let sa = self.sad.remove(&key).ok_or(Errno::ESRCH)?;
        if sa.state == SaState::Larval {
            // The key manager gave up on a negotiation and deleted its GETSPI SA (peer ->
            // us): on Linux that SA is the acquire state itself, so the next packet to the
            // peer raises a new ACQUIRE at once instead of after ACQUIRE_BLOCK.
            let (peer, t) = (sa.src.ip(), sa.satype);
            self.acq.retain(|_, a| !(a.dst == peer && a.satype == t));
        }
        Ok(vec![Output {
            dest: Dest::All,
            msg: Self::sa_message(msg.header, &sa, false, true),
        }])
    }

    fn get(&mut self, msg: &Message) -> Result<Vec<Output>, Errno> {
        let key = Self::sa_key_of(msg)?;
        let sa = self.sad.get(&key).ok_or(Errno::ESRCH)?;
        Ok(vec![Output {
            dest: Dest::Sender,
            msg: Self::sa_message(msg.header, sa, true, true),
        }])
    }

    fn flush(&mut self, msg: &Message) -> Vec<Output> {
        let t = msg.header.satype.0;
        let removed = self
            .sad
            .remove_where(|sa| t == SATYPE_UNSPEC || sa.satype == t);
        let dest = if removed.is_empty() {
            Dest::Sender
        } else {
            Dest::All
        };
        vec![Output {
            dest,
            msg: msg.error_reply(0),
        }]
    }

    fn dump(&mut self, msg: &Message) -> Result<Vec<Output>, Errno> {
        let list = self.sad.dump(msg.header.satype.0);
        if list.is_empty() {
            return Err(Errno::ENOENT);
        }
        let n = list.len();
        Ok(list
            .into_iter()
            .enumerate()
            .map(|(i, sa)| {
                let hdr = Header {
                    seq: (n - 1 - i).min(u32::MAX as usize) as u32,
                    ..msg.header
                };
                Output {
                    dest: Dest::Sender,
                    msg: Self::sa_message(hdr, sa, true, true),
                }
            })
            .collect())
    }

    fn register(&mut self, sender: SocketId, msg: &Message) -> Result<Vec<Output>, Errno> {
        let t = msg.header.satype.0;
        // A socket already gone: nothing to register, nobody to answer.
        let Some(st) = self.socks.get_mut(&sender) else {
            return Ok(Vec::new());
        };
        if t != SATYPE_UNSPEC {
            let bit = 1u32 << t.min(31);
            if st.registered & bit != 0 {
                return Err(Errno::EEXIST);
            }
            st.registered |= bit;
        }
        let list = |l: &[alg::AlgInfo]| Supported {
            algs: l
                .iter()
                .map(|a| Alg {
                    id: a.id,
                    ivlen: a.ivlen,
                    minbits: a.min_bits,
                    maxbits: a.max_bits,
                })
                .collect(),
        };
        let enc = if t == SATYPE_IPCOMP {
            alg::COMPRESS
        } else {
            alg::ENCRYPT
        };
        let reply = msg
            .error_reply(0)
            .with(Extension::SupportedAuth(list(alg::AUTH)))
            .with(Extension::SupportedEncrypt(list(enc)));
        let dest = if t == SATYPE_UNSPEC {
            Dest::Sender
        } else {
            Dest::Registered(t)
        };
        Ok(vec![Output { dest, msg: reply }])
    }

    fn promisc(&mut self, sender: SocketId, msg: &Message) -> Result<Vec<Output>, Errno> {
        let on = match msg.header.satype.0 {
            0 => false,
            1 => true,
            _ => return Err(Errno::EINVAL),
        };
        match self.socks.get_mut(&sender) {
            Some(st) => st.promisc = on,
            None => return Ok(Vec::new()),
        }
        Ok(vec![Output {
            dest: Dest::All,
            msg: msg.clone(),
        }])
    }

    /// An ACQUIRE from a key manager: with an errno it reports a failed
    /// negotiation, which keeps blocking new ACQUIREs for that request
    /// (KAME `key_acquire2`); without one it is accepted silently (Linux).
    fn user_acquire(&mut self, now: Now, msg: &Message) -> Result<Vec<Output>, Errno> {
        if msg.header.errno != 0 {
            let seq = msg.header.seq;
            if let Some(a) = self.acq.values_mut().find(|a| a.seq == seq) {
                a.sent = now.mono;
            }
        }
        Ok(Vec::new())
    }

    // ----------------------------------------------------------------- SPD

    fn policy_message(hdr: Header, p: &Policy) -> Message {
        let mut m = Message {
            header: Header {
                errno: 0,
                satype: SaType::UNSPEC,
                ..hdr
            },
            exts: Vec::new(),
        };
        let addr = |ip: IpAddr, port: u16, pfx: u8| {
            Extension::AddressSrc(Address::new(SocketAddr::new(ip, port), pfx, p.sel.proto))
        };
        m.push(addr(p.sel.src, p.sel.sport, p.sel.src_prefix));
        if let Extension::AddressSrc(a) = addr(p.sel.dst, p.sel.dport, p.sel.dst_prefix) {
            m.push(Extension::AddressDst(a));
        }
        m.push(Extension::LifetimeCurrent(from_lifetime(&p.current)));
        if let Some(h) = &p.hard {
            m.push(Extension::LifetimeHard(from_lifetime(h)));
        }
        if let Some(s) = &p.soft {
            m.push(Extension::LifetimeSoft(from_lifetime(s)));
        }
        m.push(Extension::Policy(pfkey::Policy {
            policy_type: PolicyType(p.action),
            dir: PDir(p.dir as u8),
            id: p.id,
            priority: p.priority,
            requests: p
                .requests
                .iter()
                .map(|r| pfkey::IpsecRequest {
                    proto: pfkey::IpsecProto(r.proto),
                    mode: Mode(r.mode),
                    level: Level(r.level),
                    reqid: r.reqid,
                    tunnel: r.tunnel.map(|(src, dst)| pfkey::Endpoints { src, dst }),
                })
                .collect(),
        }));
        for e in &p.extra {
            if !m.has(e.ext_type()) {
                m.push(e.clone());
            }
        }
        m
    }

    fn selector_of(msg: &Message) -> Result<Selector, Errno> {
        let (s, d) = addr_pair(msg)?;
        let sel = Selector {
            src: ip_of(s),
            dst: ip_of(d),
            src_prefix: s.prefixlen,
            dst_prefix: d.prefixlen,
            sport: s.addr.port(),
            dport: d.addr.port(),
            proto: s.proto,
        };
        sel.check()?;
        Ok(sel)
    }

    fn spdadd(&mut self, now: Now, msg: &Message, update: bool) -> Result<Vec<Output>, Errno> {
        let sel = Self::selector_of(msg)?;
        let xp = msg.policy().ok_or(Errno::EINVAL)?;
        let dir = Dir::from_u8(xp.dir.0).ok_or(Errno::EINVAL)?;
        let mut p = Policy::new(dir, sel, xp.policy_type.0, now);
        p.priority = xp.priority;
        p.requests = xp
            .requests
            .iter()
            .map(|r| IpsecRequest {
                proto: r.proto.0,
                mode: r.mode.0,
                level: r.level.0,
                reqid: r.reqid,
                tunnel: r.tunnel.map(|e| (e.src, e.dst)),
            })
            .collect();
        p.hard = msg.lifetime_hard().map(to_lifetime);
        p.soft = msg.lifetime_soft().map(to_lifetime);
        p.seq = msg.header.seq;
        p.pid = msg.header.pid;
        p.extra = msg
            .sec_ctx()
            .map(|c| vec![Extension::SecCtx(c.clone())])
            .unwrap_or_default();
        let stored = self.spd.add(p, update)?;
        self.spd_gen += 1;
        Ok(vec![Output {
            dest: Dest::All,
            msg: Self::policy_message(msg.header, stored),
        }])
    }

    fn spddelete(&mut self, msg: &Message) -> Result<Vec<Output>, Errno> {
        let sel = Self::selector_of(msg)?;
        let xp = msg.policy().ok_or(Errno::EINVAL)?;
        let dir = Dir::from_u8(xp.dir.0).ok_or(Errno::EINVAL)?;
        let p = self
            .spd
            .remove_by_selector(dir, &sel)
            .ok_or(Errno::ENOENT)?;
        self.spd_gen += 1;
        self.acq.retain(|(id, _), _| *id != p.id);
        Ok(vec![Output {
            dest: Dest::All,
            msg: Self::policy_message(msg.header, &p),
        }])
    }

    /// X_SPDGET and X_SPDDELETE2 (by policy id).
    fn spdget(&mut self, msg: &Message) -> Result<Vec<Output>, Errno> {
        let xp = msg.policy().ok_or(Errno::EINVAL)?;
        if xp.id % 8 >= 3 {
            return Err(Errno::EINVAL);
        }
        if msg.header.msg_type == MsgType::X_SPDGET {
            let p = self.spd.get(xp.id).ok_or(Errno::ENOENT)?;
            return Ok(vec![Output {
                dest: Dest::Sender,
                msg: Self::policy_message(msg.header, p),
            }]);
        }
        let p = self.spd.remove(xp.id).ok_or(Errno::ENOENT)?;
        self.spd_gen += 1;
        self.acq.retain(|(id, _), _| *id != p.id);
        Ok(vec![Output {
            dest: Dest::All,
            msg: Self::policy_message(msg.header, &p),
        }])
    }

    fn spddump(&mut self, msg: &Message) -> Result<Vec<Output>, Errno> {
        let list = self.spd.dump();
        if list.is_empty() {
            return Err(Errno::ENOENT);
        }
        let n = list.len();
        Ok(list
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let hdr = Header {
                    seq: (n - 1 - i).min(u32::MAX as usize) as u32,
                    ..msg.header
                };
                Output {
                    dest: Dest::Sender,
                    msg: Self::policy_message(hdr, p),
                }
            })
            .collect())
    }

    fn spdflush(&mut self, msg: &Message) -> Vec<Output> {
        let removed = self.spd.flush();
        self.spd_gen += 1;
        self.acq.clear();
        let dest = if removed.is_empty() {
            Dest::Sender
        } else {
            Dest::All
        };
        vec![Output {
            dest,
            msg: msg.error_reply(0),
        }]
    }

    // ------------------------------------------------------ data-plane API

    /// The policy for a packet (see [`crate::spd`] for the rule); records its use.
    pub fn lookup_policy(&mut self, now: Now, dir: Dir, pkt: &PacketSel) -> Option<&Policy> {
        let id = self.spd.lookup(dir, pkt)?.id;
        self.spd.mark_used(now, id);
        self.spd.get(id)
    }

    /// The data plane found no SA for request `req` of policy `policy_id` while
    /// sending `src -> dst`: one ACQUIRE to the registered sockets, unless one
    /// for the same policy request went out less than [`ACQUIRE_BLOCK`] ago.
    pub fn acquire(
        &mut self,
        now: Now,
        policy_id: u32,
        req: usize,
        src: IpAddr,
        dst: IpAddr,
    ) -> Vec<Output> {
        let Some(p) = self.spd.get(policy_id) else {
            return Vec::new();
        };
        let Some(r) = p.requests.get(req) else {
            return Vec::new();
        };
        let Some(satype) = SaType::from_ipsec_proto(pfkey::IpsecProto(r.proto)) else {
            return Vec::new();
        };
        let (sa_src, sa_dst) = match r.tunnel {
            Some((s, d)) if r.mode == 2 => (s, d),
            _ => (SocketAddr::new(src, 0), SocketAddr::new(dst, 0)),
        };
        if let Some(a) = self.acq.get(&(policy_id, req)) {
            if now.mono.saturating_duration_since(a.sent) < ACQUIRE_BLOCK {
                return Vec::new();
            }
        }
        self.acq_seq = self.acq_seq.wrapping_add(1).max(1);
        self.acq.insert(
            (policy_id, req),
            Acq {
                seq: self.acq_seq,
                sent: now.mono,
                dst: sa_dst.ip(),
                satype: satype.0,
            },
        );
        let mut msg = Message::new(MsgType::ACQUIRE, satype).with_seq(self.acq_seq);
        msg.push(Extension::AddressSrc(Address::host(sa_src)));
        msg.push(Extension::AddressDst(Address::host(sa_dst)));
        let mut xp = pfkey::Policy::new(PolicyType::IPSEC, PDir(p.dir as u8));
        xp.id = p.id;
        xp.priority = p.priority;
        msg.push(Extension::Policy(xp));
        msg.push(Extension::Proposal(Self::proposal(satype.0)));
        vec![Output {
            dest: Dest::Registered(satype.0),
            msg,
        }]
    }

    /// The algorithm combinations offered in an ACQUIRE (Linux defaults for lifetimes).
    fn proposal(satype: u8) -> Proposal {
        let base = Comb {
            soft_addtime: 7 * 3600,
            hard_addtime: 8 * 3600,
            soft_usetime: 6 * 3600,
            hard_usetime: 7 * 3600,
            ..Comb::default()
        };
        let auths = alg::AUTH.iter().filter(|a| a.id != alg::AALG_NULL);
        let combs = match satype {
            SATYPE_AH => auths
                .map(|a| Comb {
                    auth: AuthAlg(a.id),
                    auth_minbits: a.min_bits,
                    auth_maxbits: a.max_bits,
                    ..base
                })
                .collect(),
            SATYPE_ESP => alg::ENCRYPT
                .iter()
                .filter(|e| e.id != alg::EALG_NULL)
                .flat_map(|e| {
                    let with: Vec<&alg::AlgInfo> = if e.aead {
                        Vec::new()
                    } else {
                        alg::AUTH
                            .iter()
                            .filter(|a| a.id != alg::AALG_NULL)
                            .collect()
                    };
                    let none = [None];
                    let list: Vec<Option<&alg::AlgInfo>> = if with.is_empty() {
                        none.to_vec()
                    } else {
                        with.into_iter().map(Some).collect()
                    };
                    list.into_iter().map(move |a| Comb {
                        encrypt: EncAlg(e.id),
                        encrypt_minbits: e.min_bits,
                        encrypt_maxbits: e.max_bits,
                        auth: AuthAlg(a.map_or(0, |a| a.id)),
                        auth_minbits: a.map_or(0, |a| a.min_bits),
                        auth_maxbits: a.map_or(0, |a| a.max_bits),
                        ..base
                    })
                })
                .collect(),
            _ => alg::COMPRESS
                .iter()
                .map(|c| Comb {
                    encrypt: EncAlg(c.id),
                    ..base
                })
                .collect(),
        };
        Proposal { replay: 32, combs }
    }

    /// Traffic on an SA (bytes and packets): updates the current lifetime and
    /// produces a soft or hard EXPIRE when a limit is reached.
    pub fn account(&mut self, now: Now, key: &SaKey, bytes: u64, packets: u32) -> Vec<Output> {
        match self.sad.account(now, key, bytes, packets) {
            Ok(Some(kind)) => self.expire_sa(key, kind),
            _ => Vec::new(),
        }
    }

    pub(crate) fn expire_sa(&mut self, key: &SaKey, kind: ExpireKind) -> Vec<Output> {
        let Some(sa) = self.sad.get(key) else {
            return Vec::new();
        };
        if sa.state == SaState::Larval {
            self.sad.remove(key);
            return Vec::new();
        }
        let mut msg = Message::new(MsgType::EXPIRE, SaType(sa.satype));
        let full = Self::sa_message(msg.header, sa, false, true);
        for e in full.exts {
            let keep = match e {
                Extension::LifetimeHard(_) => kind == ExpireKind::Hard,
                Extension::LifetimeSoft(_) => kind == ExpireKind::Soft,
                _ => true,
            };
            if keep {
                msg.push(e);
            }
        }
        // racoon tells hard from soft by which lifetime extension is present:
        // a hard expiry without a configured hard lifetime (sequence numbers
        // used up) still carries one, as Linux's always-present limits do.
        if kind == ExpireKind::Hard && !msg.has(pfkey::ExtType::LIFETIME_HARD) {
            msg.push(Extension::LifetimeHard(pfkey::Lifetime::default()));
        }
        if let Some(Extension::Sa(s)) = msg.exts.first_mut() {
            s.state = match kind {
                ExpireKind::Soft => PState::DYING,
                ExpireKind::Hard => PState::DEAD,
            };
        }
        match kind {
            ExpireKind::Soft => self.sad.mark_soft(key),
            ExpireKind::Hard => {
                self.sad.remove(key);
            }
        }
        vec![Output {
            dest: Dest::Registered(key.satype),
            msg,
        }]
    }

    /// Drives every timer: SA soft/hard lifetimes, larval SAs, policy
    /// lifetimes and the ACQUIRE blocking table.
    pub fn handle_timeout(&mut self, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        for (key, kind) in self.sad.due(now.mono) {
            out.extend(self.expire_sa(&key, kind));
        }
        for id in self.spd.expired(now.mono) {
            if let Some(p) = self.spd.remove(id) {
                self.spd_gen += 1;
                let mut msg =
                    Self::policy_message(Header::new(MsgType::X_SPDEXPIRE, SaType::UNSPEC), &p);
                msg.exts
                    .retain(|e| !matches!(e, Extension::LifetimeSoft(_)));
                out.push(Output {
                    dest: Dest::Registered(SATYPE_UNSPEC),
                    msg,
                });
                self.acq.retain(|(pid, _), _| *pid != id);
            }
        }
        self.acq
            .retain(|_, a| now.mono.saturating_duration_since(a.sent) < ACQUIRE_BLOCK);
        out
    }

    /// When [`Kernel::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let acq = self
            .acq
            .values()
            .filter_map(|a| a.sent.checked_add(ACQUIRE_BLOCK))
            .min();
        [self.sad.next_deadline(), self.spd.next_deadline(), acq]
            .into_iter()
            .flatten()
            .min()
    }
}

/// The fuzzing entry point (also replayed over the seed corpus by the tests):
/// feeds `data` to a fresh kernel as a sequence of packets, each as long as
/// its header's `sadb_msg_len` says (the rest when that is 0 or too long),
/// from two sockets in turn, then runs the timers. Must never panic.
pub fn fuzz_entry(data: &[u8]) {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let t0 = Now::new(Instant::now(), 1_000_000);
    let mut k = Kernel::default();
    k.connect(1);
    k.connect(2);
    let mut rest = data;
    let mut i = 0u64;
    while !rest.is_empty() && i < 256 {
        let n = match Header::peek(rest) {
            Some((_, len)) if len >= 16 && len <= rest.len() => len,
            _ => rest.len(),
        };
        let (pkt, tail) = rest.split_at(n);
        for o in k.handle_bytes(t0, 1 + (i % 2), pkt, &mut rng) {
            let _ = k.recipients(o.dest, Some(1 + (i % 2)));
            let _ = o.msg.encode();
        }
        rest = tail;
        i += 1;
    }
    if let Some(p) = k.spd().dump().first().map(|p| p.id) {
        let _ = k.acquire(
            t0,
            p,
            0,
            IpAddr::from([10, 0, 0, 1]),
            IpAddr::from([10, 0, 0, 2]),
        );
    }
    let keys: Vec<SaKey> = k.sad().iter().map(SecAssoc::key).collect();
    for key in keys {
        let _ = k.account(t0, &key, 1 << 20, 1000);
    }
    let _ = k.poll_timeout();
    let _ = k.handle_timeout(t0.plus_secs(40));
    let _ = k.handle_timeout(t0.plus_secs(1 << 40));
}
