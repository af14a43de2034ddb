//! The boundary between the tokio driver and the sans-I/O IKE core.
//!
//! The driver feeds the core what happened ([`IkeCore::handle_datagram`],
//! [`IkeCore::handle_kernel`], [`IkeCore::handle_timeout`]) and then drains
//! what the core wants done ([`IkeCore::poll_transmit`],
//! [`IkeCore::poll_kernel`], [`IkeCore::poll_event`]) until each returns
//! `None`, and sleeps until [`IkeCore::poll_timeout`]. The core does no I/O,
//! reads no clock and no RNG of its own: `now` is passed in.
//!
//! The admin socket's queries and actions are methods too; they run on the
//! driver's task between two inputs, so the core never sees concurrency.
//!
//! [`NoIke`] is the stand-in used until `ike::Endpoint` implements this
//! trait: it logs that IKE is not available and answers every ACQUIRE with
//! the failure reply racoon sends when a negotiation fails.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use pfkey::{Dir, Message, MsgType, PolicyType};
use zeroize::Zeroizing;

/// A datagram the core wants sent. `data` never carries the non-ESP marker:
/// the driver prepends it when `local` is a NAT-T (4500) socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub data: Vec<u8>,
}

/// racoon's event codes (`evt.h`); the numbers travel over the admin socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventCode(pub u32);

impl EventCode {
    pub const RACOON_QUIT: EventCode = EventCode(0x0001);
    pub const PHASE1_UP: EventCode = EventCode(0x0100);
    pub const PHASE1_DOWN: EventCode = EventCode(0x0101);
    pub const PHASE1_NO_RESPONSE: EventCode = EventCode(0x0102);
    pub const PHASE1_NO_PROPOSAL: EventCode = EventCode(0x0103);
    pub const PHASE1_AUTH_FAILED: EventCode = EventCode(0x0104);
    pub const PHASE1_DPD_TIMEOUT: EventCode = EventCode(0x0105);
    pub const PHASE1_PEER_DELETED: EventCode = EventCode(0x0106);
    pub const PHASE1_MODE_CFG: EventCode = EventCode(0x0107);
    pub const PHASE1_XAUTH_SUCCESS: EventCode = EventCode(0x0108);
    pub const PHASE1_XAUTH_FAILED: EventCode = EventCode(0x0109);
    pub const PHASE2_NO_PHASE1: EventCode = EventCode(0x0200);
    pub const PHASE2_UP: EventCode = EventCode(0x0201);
    pub const PHASE2_DOWN: EventCode = EventCode(0x0202);
    pub const PHASE2_NO_RESPONSE: EventCode = EventCode(0x0203);

    /// The text racoonctl prints for this event (`None`: racoonctl prints
    /// `Event N: `; 0x0106 has no text in racoon either).
    pub fn text(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0001 => "Racoon terminated",
            0x0100 => "Phase 1 established",
            0x0101 => "Phase 1 deleted",
            0x0102 => "Phase 1 error: peer not responding",
            0x0103 => "Phase 1 error: no proposal chosen",
            0x0104 => "Phase 1 error: authentication failed (bad certificate?)",
            0x0105 => "Phase 1 error: dead peer detected",
            0x0107 => "Phase 1 mode configuration done",
            0x0108 => "Phase 1 Xauth succeeded",
            0x0109 => "Phase 1 Xauth failed",
            0x0200 => "Phase 2 error: no suitable phase 1",
            0x0201 => "Phase 2 established",
            0x0202 => "Phase 2 deleted",
            0x0203 => "Phase 2 error: no response",
            _ => return None,
        })
    }
}

/// racoon's log levels (`log` in racoon.conf).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warning,
    Notify,
    Info,
    Debug,
    Debug2,
}

/// Keys for decrypting captures (the IKE core's type). Only written to the log
/// when the daemon runs with `--log-keys-INSECURE`; `Debug` never shows them.
pub use ike::KeyLog;

/// The `script` hooks of a `remote` block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Phase1Up,
    Phase1Down,
    Phase1Dead,
}

/// What the core reports besides packets and PF_KEY messages.
#[derive(Debug)]
pub enum Event {
    /// An admin-socket event (`racoonctl show-event`, `establish-sa -w`).
    Status {
        code: EventCode,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
        ph2_msgid: u32,
    },
    /// A log line; `peer` becomes racoon's `[addr] ` prefix.
    Log {
        level: LogLevel,
        peer: Option<IpAddr>,
        text: String,
    },
    /// Key material for `--log-keys-INSECURE`.
    KeyLog(KeyLog),
    /// Run a `script "path" phase1_up|phase1_down|phase1_dead` hook with
    /// these environment variables (racoon's names: LOCAL_ADDR, REMOTE_ADDR, …).
    Script {
        hook: Hook,
        path: String,
        env: Vec<(String, String)>,
    },
}

/// One phase-1 SA as `racoonctl show-sa isakmp` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase1Info {
    /// Initiator cookie then responder cookie.
    pub cookies: [u8; 16],
    /// racoon's phase-1 status number (9 = established).
    pub status: u8,
    pub initiator: bool,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// ISAKMP version byte (0x10).
    pub version: u8,
    /// Exchange type (2 Main, 4 Aggressive, 1 Base).
    pub etype: u8,
    pub created: Instant,
    pub ph2_count: u32,
}

/// One timer as `racoonctl show-schedule` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedInfo {
    pub id: u64,
    pub created: Instant,
    pub fires: Instant,
}

/// `racoonctl establish-sa`/`vpn-connect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Establish {
    /// `Isakmp` starts a phase 1; `Esp`/`Ah` a phase 2 for the selector.
    pub proto: EstablishProto,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub prefs: u8,
    pub prefd: u8,
    pub ul_proto: u8,
    /// `-n remote`: the remote block to use.
    pub remote_name: Option<String>,
    /// `-u user` (Xauth login and password).
    pub xauth: Option<(String, Zeroizing<String>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EstablishProto {
    Isakmp,
    Esp,
    Ah,
}

/// Why an admin action failed; the errno goes back to racoonctl.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AdminError {
    #[error("IKE is not available in this build")]
    NotAvailable,
    #[error("no matching SA")]
    NotFound,
    #[error("already established")]
    AlreadyEstablished,
    #[error("invalid request")]
    Invalid,
}

impl AdminError {
    pub fn errno(&self) -> u16 {
        match self {
            AdminError::NotAvailable => 95, // EOPNOTSUPP
            AdminError::NotFound => 2,      // ENOENT
            AdminError::AlreadyEstablished => 17,
            AdminError::Invalid => 22,
        }
    }
}

/// Everything the core needs from the configuration, reloaded as a whole.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    pub config: Arc<conf::Config>,
    /// `path pre_shared_key` contents (`None` when there is none or it failed to load).
    pub psk: Option<Arc<conf::PskFile>>,
    /// Addresses the driver listens on (IKE and NAT-T).
    pub listen: Vec<SocketAddr>,
}

/// The sans-I/O IKE core as the driver uses it.
pub trait IkeCore: Send {
    /// A UDP datagram received on `local` from `remote` (on 4500 without the
    /// non-ESP marker; NAT-T keepalives never reach the core).
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]);
    /// A PF_KEY message: replies to our requests, ACQUIRE, EXPIRE, SPD
    /// broadcasts and dumps (including the start-up X_SPDDUMP).
    fn handle_kernel(&mut self, now: Instant, msg: Message);
    /// Called when `poll_timeout` has passed.
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// A PF_KEY request (GETSPI, UPDATE, ADD, DELETE, X_SPD*, failed ACQUIRE).
    fn poll_kernel(&mut self) -> Option<Message>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_event(&mut self) -> Option<Event>;

    /// `show-sa isakmp`.
    fn phase1_sas(&self) -> Vec<Phase1Info>;
    /// `show-schedule`.
    fn schedule(&self) -> Vec<SchedInfo> {
        Vec::new()
    }
    /// `establish-sa`, `vpn-connect`.
    fn establish(&mut self, now: Instant, req: Establish) -> Result<(), AdminError>;
    /// `delete-sa isakmp`, `vpn-disconnect`: delete every phase 1 with this
    /// peer (DELETE payload when established) and purge its phase 2 and
    /// kernel SAs. `local` `None` = any. Returns how many were found.
    fn delete_peer(
        &mut self,
        now: Instant,
        local: Option<IpAddr>,
        remote: IpAddr,
    ) -> Result<usize, AdminError>;
    /// `flush-sa isakmp`.
    fn flush_phase1(&mut self, now: Instant);
    /// Forget one phase 1 that is not established (half-open eviction), named
    /// by its initiator cookie and peer; nothing is sent. Returns whether it
    /// existed.
    fn drop_half_open(&mut self, _icookie: [u8; 8], _remote: SocketAddr) -> bool {
        false
    }
    /// SIGHUP / `reload-config`: keep established SAs that still match.
    fn reload(&mut self, now: Instant, config: CoreConfig);
    /// SIGTERM/SIGINT: send DELETEs for every SA; the driver drains the
    /// queues, then FLUSHes the kernel.
    fn shutdown(&mut self, now: Instant);
}

/// The stand-in core: no IKE, but the daemon runs end to end.
#[derive(Debug)]
pub struct NoIke {
    kernel: std::collections::VecDeque<Message>,
    events: std::collections::VecDeque<Event>,
    pid: u32,
    dropped: u64,
}

impl NoIke {
    /// `pid` goes into the PF_KEY messages it sends.
    pub fn new(pid: u32) -> NoIke {
        let mut events = std::collections::VecDeque::new();
        events.push_back(Event::Log {
            level: LogLevel::Warning,
            peer: None,
            text: "IKE not available: this build has no IKE core; ACQUIREs are refused and IKE datagrams dropped".into(),
        });
        NoIke {
            kernel: Default::default(),
            events,
            pid,
            dropped: 0,
        }
    }

    /// IKE datagrams dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn log(&mut self, level: LogLevel, peer: Option<IpAddr>, text: String) {
        // Bounded: a flood of input cannot grow the queue past this.
        if self.events.len() < 1024 {
            self.events.push_back(Event::Log { level, peer, text });
        }
    }
}

/// The reply racoon sends when it cannot negotiate for an ACQUIRE:
/// header only, errno ENOENT, the ACQUIRE's satype and seq.
pub fn acquire_failure(acquire: &Message, pid: u32) -> Message {
    Message::new(MsgType::ACQUIRE, acquire.header.satype)
        .with_seq(acquire.header.seq)
        .with_pid(pid)
        .with_errno(2)
}

impl IkeCore for NoIke {
    fn handle_datagram(&mut self, _: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        self.dropped = self.dropped.saturating_add(1);
        self.log(
            LogLevel::Debug,
            Some(remote.ip()),
            format!(
                "IKE not available: dropped {} bytes received on {local}",
                data.len()
            ),
        );
    }

    fn handle_kernel(&mut self, _: Instant, msg: Message) {
        if msg.header.msg_type == MsgType::ACQUIRE && msg.header.errno == 0 {
            if self.kernel.len() < 1024 {
                self.kernel.push_back(acquire_failure(&msg, self.pid));
            }
            let peer = msg.addr_dst().map(|a| a.addr.ip());
            self.log(
                LogLevel::Error,
                peer,
                "IKE not available: cannot negotiate for this ACQUIRE".into(),
            );
        }
    }

    fn handle_timeout(&mut self, _: Instant) {}

    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }

    fn poll_kernel(&mut self) -> Option<Message> {
        self.kernel.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn phase1_sas(&self) -> Vec<Phase1Info> {
        Vec::new()
    }

    fn establish(&mut self, _: Instant, _: Establish) -> Result<(), AdminError> {
        Err(AdminError::NotAvailable)
    }

    fn delete_peer(
        &mut self,
        _: Instant,
        _: Option<IpAddr>,
        _: IpAddr,
    ) -> Result<usize, AdminError> {
        Ok(0)
    }

    fn flush_phase1(&mut self, _: Instant) {}

    fn reload(&mut self, _: Instant, config: CoreConfig) {
        self.log(
            LogLevel::Info,
            None,
            format!(
                "configuration reloaded ({} remote(s), {} sainfo(s)); IKE not available",
                config.config.remotes.len(),
                config.config.sainfos.len()
            ),
        );
    }

    fn shutdown(&mut self, _: Instant) {}
}

/// A private image of the SPD, kept from X_SPDDUMP and the X_SPD*
/// broadcasts (racoon's `sptree`). Cores may embed one too.
#[derive(Clone, Debug, Default)]
pub struct SpdImage {
    entries: std::collections::BTreeMap<u32, Message>,
}

/// Most policies kept in the image (a hostile engine cannot grow it further).
pub const MAX_SPD_IMAGE: usize = 1 << 20;

impl SpdImage {
    /// Update from one PF_KEY message; returns whether it changed the image.
    pub fn apply(&mut self, msg: &Message) -> bool {
        if msg.header.errno != 0 {
            return false;
        }
        let Some(pol) = msg.policy() else {
            return msg.header.msg_type == MsgType::X_SPDFLUSH && self.flush();
        };
        match msg.header.msg_type {
            MsgType::X_SPDADD | MsgType::X_SPDUPDATE | MsgType::X_SPDDUMP => {
                if pol.id == 0
                    || (self.entries.len() >= MAX_SPD_IMAGE && !self.entries.contains_key(&pol.id))
                {
                    return false;
                }
                self.entries.insert(pol.id, msg.clone());
                true
            }
            MsgType::X_SPDDELETE | MsgType::X_SPDDELETE2 | MsgType::X_SPDEXPIRE => {
                if pol.id != 0 {
                    return self.entries.remove(&pol.id).is_some();
                }
                // X_SPDDELETE by selector: match addresses and direction.
                let (src, dst) = (msg.addr_src(), msg.addr_dst());
                let before = self.entries.len();
                self.entries.retain(|_, m| {
                    !(m.addr_src() == src
                        && m.addr_dst() == dst
                        && m.policy().map(|p| p.dir) == Some(pol.dir))
                });
                before != self.entries.len()
            }
            MsgType::X_SPDFLUSH => self.flush(),
            _ => false,
        }
    }

    fn flush(&mut self) -> bool {
        let changed = !self.entries.is_empty();
        self.entries.clear();
        changed
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The policy with kernel id `id`.
    pub fn by_id(&self, id: u32) -> Option<&Message> {
        self.entries.get(&id)
    }

    /// Policies of direction `dir` and type ipsec.
    pub fn ipsec_policies(&self, dir: Dir) -> impl Iterator<Item = &Message> {
        self.entries.values().filter(move |m| {
            m.policy()
                .is_some_and(|p| p.dir == dir && p.policy_type == PolicyType::IPSEC)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pfkey::{Address, Extension, Policy, SaType};

    fn spd(t: MsgType, id: u32, dir: Dir) -> Message {
        let mut p = Policy::new(PolicyType::IPSEC, dir);
        p.id = id;
        Message::new(t, SaType::UNSPEC)
            .with(Extension::AddressSrc(Address::new(
                "10.0.0.0:0".parse().unwrap(),
                24,
                255,
            )))
            .with(Extension::AddressDst(Address::new(
                "10.0.1.0:0".parse().unwrap(),
                24,
                255,
            )))
            .with(Extension::Policy(p))
    }

    #[test]
    fn noike_refuses_acquire_like_racoon() {
        let mut c = NoIke::new(77);
        let acq = Message::new(MsgType::ACQUIRE, SaType::ESP).with_seq(42);
        c.handle_kernel(Instant::now(), acq);
        let r = c.poll_kernel().unwrap();
        assert_eq!(r.header.msg_type, MsgType::ACQUIRE);
        assert_eq!(r.header.errno, 2);
        assert_eq!(r.header.seq, 42);
        assert_eq!(r.header.pid, 77);
        assert_eq!(r.header.satype, SaType::ESP);
        assert!(r.exts.is_empty());
        assert!(c.poll_kernel().is_none());
        // An ACQUIRE that is itself an error reply is not answered.
        c.handle_kernel(
            Instant::now(),
            Message::new(MsgType::ACQUIRE, SaType::ESP).with_errno(2),
        );
        assert!(c.poll_kernel().is_none());
        let mut saw = false;
        while let Some(e) = c.poll_event() {
            if let Event::Log { text, .. } = e {
                saw |= text.contains("IKE not available");
            }
        }
        assert!(saw);
    }

    #[test]
    fn noike_counts_datagrams_and_bounds_its_queue() {
        let mut c = NoIke::new(1);
        let a: SocketAddr = "127.0.0.1:500".parse().unwrap();
        for _ in 0..5000 {
            c.handle_datagram(Instant::now(), a, a, &[0; 10]);
        }
        assert_eq!(c.dropped(), 5000);
        let mut n = 0;
        while c.poll_event().is_some() {
            n += 1;
        }
        assert!(n <= 1024, "{n}");
        assert!(c
            .establish(
                Instant::now(),
                Establish {
                    proto: EstablishProto::Isakmp,
                    src: a,
                    dst: a,
                    prefs: 32,
                    prefd: 32,
                    ul_proto: 0,
                    remote_name: None,
                    xauth: None
                }
            )
            .is_err());
    }

    #[test]
    fn spd_image_follows_broadcasts() {
        let mut img = SpdImage::default();
        assert!(img.apply(&spd(MsgType::X_SPDDUMP, 1, Dir::OUT)));
        assert!(img.apply(&spd(MsgType::X_SPDADD, 2, Dir::IN)));
        assert_eq!(img.len(), 2);
        assert_eq!(img.ipsec_policies(Dir::OUT).count(), 1);
        assert!(img.by_id(2).is_some());
        assert!(img.apply(&spd(MsgType::X_SPDDELETE2, 2, Dir::IN)));
        assert!(img.by_id(2).is_none());
        // Delete by selector (id 0).
        assert!(img.apply(&spd(MsgType::X_SPDDELETE, 0, Dir::OUT)));
        assert!(img.is_empty());
        // Error replies change nothing.
        assert!(!img.apply(&spd(MsgType::X_SPDADD, 3, Dir::IN).with_errno(17)));
        img.apply(&spd(MsgType::X_SPDADD, 4, Dir::IN));
        assert!(img.apply(&Message::new(MsgType::X_SPDFLUSH, SaType::UNSPEC)));
        assert!(img.is_empty());
    }

    #[test]
    fn event_texts_match_racoonctl() {
        assert_eq!(EventCode::PHASE1_UP.text(), Some("Phase 1 established"));
        assert_eq!(EventCode::PHASE1_PEER_DELETED.text(), None);
        assert_eq!(
            EventCode::PHASE2_NO_RESPONSE.text(),
            Some("Phase 2 error: no response")
        );
    }
}
