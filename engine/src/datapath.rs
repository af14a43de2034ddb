//! The data plane core (sans-I/O): IP packets in, IPsec packets out and back.
//!
//! The I/O layer ([`crate::io`]) reads a packet into a [`PacketBuf`] (after
//! [`HEADROOM`] bytes, so headers can be written in front in place) and calls
//! [`Kernel::outbound`] (packets from the TUN device), [`Kernel::inbound`]
//! (raw IP protocol 50/51/108) or [`Kernel::inbound_udp`] (ESP-in-UDP). The
//! [`Verdict`] names a range of the same buffer and where it goes. Nothing is
//! allocated per packet except for IPComp (deflate works on its own buffers)
//! and PF_KEY messages (ACQUIRE/EXPIRE) pushed to `out`.
//!
//! Outbound: SPD lookup (`discard` drops, `none`/`bypass`/no policy sends the
//! packet back out unchanged, IKE on UDP 500/4500 always bypasses); for
//! `ipsec` every request of the policy is resolved to an SA first (missing:
//! one ACQUIRE per policy request, rate-limited by the kernel, and the packet
//! is dropped unless the level is `use`), then the transforms run in request
//! order (e.g. ipcomp, esp, ah): a tunnel-mode request first wraps the packet
//! in an outer IPv4/IPv6 header between the SA's addresses, then the
//! transform is applied as in transport mode to that packet.
//!
//! Inbound: SA by (SPI, dst, proto), then the transform (replay pre-check,
//! ICV, decrypt, replay commit, trailer check in `xform`), repeated while the
//! result is again ESP/AH/IPComp (at most [`MAX_BUNDLE`] layers). The inner
//! packet must then match an `in` (or `fwd`) `ipsec` policy whose requests
//! cover exactly the SAs used (protocol, mode, tunnel endpoints, reqid for
//! `unique`), with every `require`/`unique` request satisfied; otherwise it is
//! dropped.
//!
//! Every drop has a [`DropReason`] and is counted in [`Stats`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

use xform::{AhParams, AhSa, AuthAlg, CompAlg, EncAlg, EspParams, EspSa, IpcompSa, PadMode};
use xform::{XformError, IPPROTO_AH, IPPROTO_COMP};

use crate::handler::{Kernel, Output};
use crate::sad::{SaKey, SaState, SecAssoc, SATYPE_AH, SATYPE_ESP, SATYPE_IPCOMP};
use crate::spd::{
    Dir, IpsecRequest, PacketSel, IPSEC_LEVEL_REQUIRE, IPSEC_LEVEL_UNIQUE, IPSEC_POLICY_DISCARD,
    IPSEC_POLICY_IPSEC,
};
use crate::{Errno, Now};

/// IP protocol number of ESP.
pub const IPPROTO_ESP: u8 = 50;
/// Bytes kept free in front of a packet read into a [`PacketBuf`].
pub const HEADROOM: usize = 256;
/// Largest packet handled.
pub const MAX_PACKET: usize = 65535;
/// Room behind the largest packet (padding, trailers, ICVs).
const TAILROOM: usize = 512;
/// Most transforms applied to or removed from one packet.
pub const MAX_BUNDLE: usize = 4;
/// PF_KEY SA flags (KAME): cyclic sequence numbers, random / zero padding.
pub const SAFLAG_CYCSEQ: u32 = 0x40;
pub const SAFLAG_PRAND: u32 = 0x100;
pub const SAFLAG_PZERO: u32 = 0x200;
/// Extended sequence numbers (FreeBSD's `SADB_X_SAFLAGS_ESN`; Linux af_key has none).
pub const SAFLAG_ESN: u32 = 0x400;
/// IKE ports: packets to or from them are never protected by the engine.
pub const IKE_PORTS: [u16; 2] = [500, 4500];

/// One packet buffer, allocated once per worker and reused.
pub struct PacketBuf {
    data: Box<[u8]>,
    /// The packet is `data[start..end]`.
    pub start: usize,
    pub end: usize,
}

impl Default for PacketBuf {
    fn default() -> Self {
        PacketBuf::new()
    }
}

impl fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PacketBuf({}..{})", self.start, self.end)
    }
}

impl PacketBuf {
    pub fn new() -> Self {
        PacketBuf {
            data: vec![0u8; HEADROOM + MAX_PACKET + TAILROOM].into_boxed_slice(),
            start: HEADROOM,
            end: HEADROOM,
        }
    }

    /// Where the next packet is read to (`MAX_PACKET` bytes after the headroom).
    pub fn read_space(&mut self) -> &mut [u8] {
        &mut self.data[HEADROOM..HEADROOM + MAX_PACKET]
    }

    /// After a read of `n` bytes into [`PacketBuf::read_space`].
    pub fn set_len(&mut self, n: usize) {
        self.start = HEADROOM;
        self.end = HEADROOM + n.min(MAX_PACKET);
    }

    /// Copies `pkt` in (tests, the UDP-encap input from another task).
    pub fn load(&mut self, pkt: &[u8]) {
        let n = pkt.len().min(MAX_PACKET);
        self.read_space()[..n].copy_from_slice(&pkt[..n]);
        self.set_len(n);
    }

    pub fn packet(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub fn get(&self, r: Range<usize>) -> &[u8] {
        self.data.get(r).unwrap_or(&[])
    }
}

/// Why a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a well-formed IPv4/IPv6 packet (or an unsupported IPv6 extension header chain).
    Malformed,
    /// A `discard` policy.
    PolicyDiscard,
    /// Outbound: an `ipsec` policy without its SA (an ACQUIRE was sent).
    NoSa,
    /// Inbound: no SA for (SPI, dst, proto).
    UnknownSpi,
    /// Outbound sequence numbers used up (the SA is expired).
    SeqExhausted,
    /// The packet would grow beyond 65535 bytes or the headroom.
    TooBig,
    Replay,
    BadIcv,
    BadPadding,
    BadLength,
    Decompress,
    /// Inbound packet not allowed by the inbound policy for the SAs it came through.
    PolicyMismatch,
    /// ESP dummy packet (next header 59): discarded as RFC 4303 says.
    Dummy,
    /// Any other transform error.
    Xform,
    /// The I/O layer could not send or write the packet.
    Io,
    /// The UDP-encap input queue was full.
    QueueFull,
    /// Outbound IPv6 link-local or multicast traffic the host sends on the
    /// TUN device itself (router solicitations, MLD): never protected.
    LinkLocal,
}

impl DropReason {
    pub const ALL: [DropReason; 17] = [
        DropReason::Malformed,
        DropReason::PolicyDiscard,
        DropReason::NoSa,
        DropReason::UnknownSpi,
        DropReason::SeqExhausted,
        DropReason::TooBig,
        DropReason::Replay,
        DropReason::BadIcv,
        DropReason::BadPadding,
        DropReason::BadLength,
        DropReason::Decompress,
        DropReason::PolicyMismatch,
        DropReason::Dummy,
        DropReason::Xform,
        DropReason::Io,
        DropReason::QueueFull,
        DropReason::LinkLocal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::PolicyDiscard => "policy_discard",
            DropReason::NoSa => "no_sa",
            DropReason::UnknownSpi => "unknown_spi",
            DropReason::SeqExhausted => "seq_exhausted",
            DropReason::TooBig => "too_big",
            DropReason::Replay => "replay",
            DropReason::BadIcv => "bad_icv",
            DropReason::BadPadding => "bad_padding",
            DropReason::BadLength => "bad_length",
            DropReason::Decompress => "decompress",
            DropReason::PolicyMismatch => "policy_mismatch",
            DropReason::Dummy => "dummy",
            DropReason::Xform => "xform",
            DropReason::Io => "io",
            DropReason::QueueFull => "queue_full",
            DropReason::LinkLocal => "link_local",
        }
    }

    fn idx(self) -> usize {
        DropReason::ALL.iter().position(|d| *d == self).unwrap_or(0)
    }

    fn from_xform(e: XformError) -> DropReason {
        match e {
            XformError::Replay => DropReason::Replay,
            XformError::BadIcv => DropReason::BadIcv,
            XformError::BadPadding => DropReason::BadPadding,
            XformError::BadLength | XformError::TooShort => DropReason::BadLength,
            XformError::Decompress => DropReason::Decompress,
            XformError::SeqExhausted => DropReason::SeqExhausted,
            XformError::NoRoom => DropReason::TooBig,
            XformError::BadIpHeader => DropReason::Malformed,
            _ => DropReason::Xform,
        }
    }
}

/// Data-plane counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets protected and sent, and their bytes before protection.
    pub out_packets: u64,
    pub out_bytes: u64,
    /// Packets unprotected and delivered, and their inner bytes.
    pub in_packets: u64,
    pub in_bytes: u64,
    /// Cleartext packets sent back out unchanged (no policy, none/bypass, IKE).
    pub bypass_packets: u64,
    /// ACQUIREs triggered by packets (rate-limited by the kernel).
    pub acquires: u64,
    /// NAT-T keepalives received.
    pub keepalives: u64,
    /// Drops per [`DropReason`] (indexed as [`DropReason::ALL`]).
    pub drops: [u64; 17],
}

impl Stats {
    pub fn drop(&mut self, r: DropReason) {
        let c = &mut self.drops[r.idx()];
        *c = c.saturating_add(1);
    }

    pub fn drops_for(&self, r: DropReason) -> u64 {
        self.drops[r.idx()]
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
}

impl fmt::Display for Stats {
    /// One line of `key=value` pairs (the SIGUSR1 log line of `ipsecd`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "out_packets={} out_bytes={} in_packets={} in_bytes={} bypass_packets={} acquires={} keepalives={}",
            self.out_packets,
            self.out_bytes,
            self.in_packets,
            self.in_bytes,
            self.bypass_packets,
            self.acquires,
            self.keepalives
        )?;
        for r in DropReason::ALL {
            write!(f, " drop_{}={}", r.name(), self.drops_for(r))?;
        }
        Ok(())
    }
}

/// Where a packet goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send `buf[packet]`, a complete IP packet, as raw IP (protected, or a
    /// bypassed cleartext packet) to `dst`.
    Raw {
        packet: Range<usize>,
        dst: IpAddr,
    },
    /// Send `buf[payload]` (ESP from its SPI) over UDP (RFC 3948).
    Udp {
        payload: Range<usize>,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// Write `buf[packet]` (the inner IP packet) to the TUN device.
    ToTun(Range<usize>),
    Drop(DropReason),
}

/// The transform state kept with a mature SA.
#[derive(Clone)]
pub enum Xform {
    Esp(Box<EspSa>),
    Ah(Box<AhSa>),
    Comp(IpcompSa),
}

impl fmt::Debug for Xform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Xform::Esp(_) => f.write_str("Xform(esp, <keys redacted>)"),
            Xform::Ah(_) => f.write_str("Xform(ah, <keys redacted>)"),
            Xform::Comp(c) => write!(f, "Xform(ipcomp cpi {})", c.cpi()),
        }
    }
}

fn key_bytes(k: Option<&crate::sad::Key>) -> Result<&[u8], Errno> {
    match k {
        None => Ok(&[]),
        Some(k) if usize::from(k.bits) == k.data.len() * 8 => Ok(&k.data),
        Some(_) => Err(Errno::EINVAL),
    }
}

impl Xform {
    /// The transform state for an SA being made mature (ADD/UPDATE).
    ///
    /// * Replay window: `sadb_sa_replay` is the window in packets, as Linux
    ///   af_key reads it (KAME reads bytes); 0 turns anti-replay off. Linux
    ///   caps it at 32; we keep what was asked (at most 255 fits the field).
    /// * Flags: PZERO / PRAND padding, CYCSEQ (only honoured with anti-replay
    ///   off, RFC 4303 §3.3.3), ESN with FreeBSD's flag 0x400.
    /// * A key the algorithm cannot use (e.g. aes-cbc with 136 bits) → EINVAL.
    pub fn build(sa: &SecAssoc, pad_seed: u64) -> Result<Xform, Errno> {
        let window = u32::from(sa.replay);
        let esn = sa.flags & SAFLAG_ESN != 0;
        let cyclic = sa.flags & SAFLAG_CYCSEQ != 0;
        let map = |e: XformError| match e {
            XformError::UnsupportedEncryption(_)
            | XformError::UnsupportedAuthentication(_)
            | XformError::UnsupportedCompression(_) => Errno::ENOSYS,
            _ => Errno::EINVAL,
        };
        match sa.satype {
            SATYPE_ESP => {
                let enc = EncAlg::from_sadb(sa.encrypt).map_err(map)?;
                let auth = if sa.auth == crate::alg::AALG_NULL {
                    AuthAlg::None
                } else {
                    AuthAlg::from_sadb(sa.auth).map_err(map)?
                };
                let mut p = EspParams::new(
                    sa.spi,
                    enc,
                    key_bytes(sa.key_encrypt.as_ref())?,
                    auth,
                    key_bytes(sa.key_auth.as_ref())?,
                );
                p.replay_window = window;
                p.esn = esn;
                p.cyclic_seq = cyclic;
                p.padding = if sa.flags & SAFLAG_PZERO != 0 {
                    PadMode::Zero
                } else if sa.flags & SAFLAG_PRAND != 0 {
                    PadMode::Random
                } else {
                    PadMode::Sequential
                };
                p.pad_seed = pad_seed;
                Ok(Xform::Esp(Box::new(EspSa::new(&p).map_err(map)?)))
            }
            SATYPE_AH => {
                let auth = AuthAlg::from_sadb(sa.auth).map_err(map)?;
                let p = AhParams {
                    spi: sa.spi,
                    auth,
                    auth_key: key_bytes(sa.key_auth.as_ref())?,
                    replay_window: window,
                    esn,
                    cyclic_seq: cyclic,
                };
                Ok(Xform::Ah(Box::new(AhSa::new(&p).map_err(map)?)))
            }
            SATYPE_IPCOMP => {
                let alg = CompAlg::from_sadb(sa.encrypt).map_err(map)?;
                let cpi = u16::try_from(sa.spi).map_err(|_| Errno::EINVAL)?;
                Ok(Xform::Comp(IpcompSa::new(cpi, alg)))
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

/// An outbound ESP packet whose encryption and ICV were left to the I/O
/// layer's batch ([`Kernel::set_batch_crypto`]): until
/// [`Kernel::finish_deferred`] it holds plaintext and must not be sent.
#[derive(Clone, Copy, Debug)]
pub struct DeferredOut {
    pub key: SaKey,
    /// Where its ESP header starts in the [`PacketBuf`].
    pub esp_start: usize,
    pub d: xform::Deferred,
}

/// Data-plane state kept in the [`Kernel`].
#[derive(Debug, Default)]
pub struct DpState {
    pub stats: Stats,
    /// Outbound single-ESP packets leave their encryption to the caller.
    batch_crypto: bool,
    /// The last outbound packet's deferred encryption.
    deferred: Option<DeferredOut>,
    /// Outbound SA per (policy id, request index), checked on use.
    pub(crate) sa_cache: crate::fasthash::FastMap<(u32, usize), SaKey>,
    ip_id: u16,
}

impl DpState {
    /// Forget cached SA choices (a new SA may now be preferred).
    pub(crate) fn invalidate(&mut self) {
        self.sa_cache.clear();
    }
}

/// Traffic that must arrive protected (see [`Kernel::in_guards`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Guard {
    pub src: (IpAddr, u8),
    pub dst: (IpAddr, u8),
    /// 255 = any.
    pub proto: u8,
    /// 0 = any.
    pub sport: u16,
    pub dport: u16,
    /// A `discard` policy: dropped whatever the path (else: unless protected).
    pub discard: bool,
}

/// What the IP header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInfo {
    pub v6: bool,
    /// Header length (IPv4 with options; IPv6: 40, extension headers are not walked).
    pub hl: usize,
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Total length from the header.
    pub total: usize,
    /// IPv4: a non-first fragment (no ports).
    pub later_fragment: bool,
}

/// Parses the IP header of `p` (checked against `p.len()`).
pub fn parse_ip(p: &[u8]) -> Option<IpInfo> {
    match p.first()? >> 4 {
        4 => {
            if p.len() < 20 {
                return None;
            }
            let hl = usize::from(p[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            if hl < 20 || total < hl || total > p.len() {
                return None;
            }
            let frag = u16::from_be_bytes([p[6], p[7]]) & 0x1fff;
            Some(IpInfo {
                v6: false,
                hl,
                proto: p[9],
                src: IpAddr::V4(Ipv4Addr::new(p[12], p[13], p[14], p[15])),
                dst: IpAddr::V4(Ipv4Addr::new(p[16], p[17], p[18], p[19])),
                total,
                later_fragment: frag != 0,
            })
        }
        6 => {
            if p.len() < 40 {
                return None;
            }
            let total = 40 + usize::from(u16::from_be_bytes([p[4], p[5]]));
            if total > p.len() {
                return None;
            }
            let a = |o: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&p[o..o + 16]);
                IpAddr::V6(Ipv6Addr::from(b))
            };
            Some(IpInfo {
                v6: true,
                hl: 40,
                proto: p[6],
                src: a(8),
                dst: a(24),
                total,
                later_fragment: false,
            })
        }
        _ => None,
    }
}

/// The selector of a packet: ports for TCP/UDP/SCTP, ICMP type/code as
/// source/destination "port" (as Linux xfrm does), 0 otherwise.
pub fn packet_sel(p: &[u8], ip: &IpInfo) -> PacketSel {
    let l4 = p.get(ip.hl..ip.total).unwrap_or(&[]);
    let (sport, dport) = match ip.proto {
        _ if ip.later_fragment => (0, 0),
        6 | 17 | 132 | 136 if l4.len() >= 4 => (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        ),
        1 | 58 if l4.len() >= 2 => (u16::from(l4[0]), u16::from(l4[1])),
        _ => (0, 0),
    };
    PacketSel {
        src: ip.src,
        dst: ip.dst,
        proto: ip.proto,
        sport,
        dport,
    }
}

fn ipv4_checksum(hdr: &mut [u8]) {
    hdr[10] = 0;
    hdr[11] = 0;
    let mut sum: u32 = 0;
    for c in hdr.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    hdr[10..12].copy_from_slice(&ck.to_be_bytes());
}

/// Sets protocol and length of the IP header at `pkt[0..]` (whole packet `pkt`).
fn set_proto_len(pkt: &mut [u8], v6: bool, proto: u8) -> Result<(), DropReason> {
    let total = pkt.len();
    if v6 {
        let plen = u16::try_from(total - 40).map_err(|_| DropReason::TooBig)?;
        pkt[6] = proto;
        pkt[4..6].copy_from_slice(&plen.to_be_bytes());
    } else {
        let t = u16::try_from(total).map_err(|_| DropReason::TooBig)?;
        let hl = usize::from(pkt[0] & 0x0f) * 4;
        pkt[9] = proto;
        pkt[2..4].copy_from_slice(&t.to_be_bytes());
        ipv4_checksum(&mut pkt[..hl]);
    }
    Ok(())
}

/// Writes an IP header in front of `buf[*start..end]` (RFC 2003 / RFC 2473 style outer header).
fn wrap_outer(
    buf: &mut [u8],
    start: &mut usize,
    end: usize,
    src: IpAddr,
    dst: IpAddr,
    id: u16,
) -> Result<(), DropReason> {
    let inner_v6 = buf[*start] >> 4 == 6;
    let inner_proto = if inner_v6 { 41 } else { 4 };
    let tos = if inner_v6 {
        (buf[*start] << 4) | (buf[*start + 1] >> 4)
    } else {
        buf[*start + 1]
    };
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ns = start.checked_sub(20).ok_or(DropReason::TooBig)?;
            let total = u16::try_from(end - ns).map_err(|_| DropReason::TooBig)?;
            let h = &mut buf[ns..ns + 20];
            h[0] = 0x45;
            h[1] = tos & 0xfc; // ECN not copied (RFC 6040 "compatibility" would be more work)
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[4..6].copy_from_slice(&id.to_be_bytes());
            h[6] = 0;
            h[7] = 0;
            h[8] = 64;
            h[9] = inner_proto;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            ipv4_checksum(h);
            *start = ns;
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let ns = start.checked_sub(40).ok_or(DropReason::TooBig)?;
            let plen = u16::try_from(end - ns - 40).map_err(|_| DropReason::TooBig)?;
            let h = &mut buf[ns..ns + 40];
            h[0] = 0x60 | ((tos & 0xfc) >> 4);
            h[1] = (tos & 0xfc) << 4;
            h[2] = 0;
            h[3] = 0;
            h[4..6].copy_from_slice(&plen.to_be_bytes());
            h[6] = inner_proto;
            h[7] = 64;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            *start = ns;
        }
        _ => return Err(DropReason::Malformed),
    }
    Ok(())
}

/// Writes an IP header for an ESP-in-UDP payload at `buf[*start..end]` (inbound).
fn prepend_esp_header(
    buf: &mut [u8],
    start: &mut usize,
    end: usize,
    src: IpAddr,
    dst: IpAddr,
) -> Result<(), DropReason> {
    let v6 = src.is_ipv6();
    let hl = if v6 { 40 } else { 20 };
    let ns = start.checked_sub(hl).ok_or(DropReason::TooBig)?;
    let h = &mut buf[ns..ns + hl];
    h.fill(0);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            h[0] = 0x45;
            h[8] = 64;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            h[0] = 0x60;
            h[7] = 64;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
        }
        _ => return Err(DropReason::Malformed),
    }
    *start = ns;
    set_proto_len(&mut buf[ns..end], v6, IPPROTO_ESP)
}

fn satype_of(proto: u16) -> Option<u8> {
    match proto {
        50 => Some(SATYPE_ESP),
        51 => Some(SATYPE_AH),
        108 => Some(SATYPE_IPCOMP),
        _ => None,
    }
}

fn proto_of(satype: u8) -> u16 {
    match satype {
        SATYPE_ESP => 50,
        SATYPE_AH => 51,
        _ => 108,
    }
}

fn usable(sa: &SecAssoc) -> bool {
    matches!(sa.state, SaState::Mature | SaState::Dying) && sa.xf.is_some()
}

/// An SA used on an inbound packet.
#[derive(Clone, Copy, Debug)]
struct Used {
    proto: u16,
    mode: u8,
    reqid: u32,
    src: IpAddr,
    dst: IpAddr,
}

/// What a UDP datagram on port 4500 is (RFC 3948 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Udp4500 {
    /// A single 0xff byte.
    Keepalive,
    /// Starts with the 4-byte zero non-ESP marker: IKE (payload after the marker).
    Ike,
    /// ESP (first 4 bytes are a non-zero SPI).
    Esp,
    /// Too short to be anything.
    Invalid,
}

/// Demultiplexes a datagram received on UDP 4500.
pub fn classify_udp4500(d: &[u8]) -> Udp4500 {
    match d {
        [0xff] => Udp4500::Keepalive,
        [0, 0, 0, 0, ..] => Udp4500::Ike,
        _ if d.len() >= 8 => Udp4500::Esp,
        _ => Udp4500::Invalid,
    }
}

impl Kernel {
    /// Data-plane counters.
    pub fn stats(&self) -> &Stats {
        &self.dp.stats
    }

    /// Sets the last outbound sequence number of an ESP/AH SA (tests, and
    /// taking over an SA mid-stream). Returns whether the SA was found.
    pub fn set_seq_out(&mut self, key: &SaKey, seq: u64) -> bool {
        match self.sad.get_mut(key).and_then(|sa| sa.xf.as_mut()) {
            Some(Xform::Esp(e)) => {
                e.set_seq_out(seq);
                true
            }
            Some(Xform::Ah(_)) | Some(Xform::Comp(_)) | None => false,
        }
    }

    /// Lets [`Kernel::outbound`] leave the encryption and ICV of packets
    /// protected by exactly one ESP SA to the caller, which collects a batch
    /// and calls [`Kernel::finish_deferred`] (AES-CBC chains of the batch are
    /// then encrypted side by side). Such a packet's verdict comes with
    /// [`Kernel::take_deferred`]; it must not be sent before it is finished.
    pub fn set_batch_crypto(&mut self, on: bool) {
        self.dp.batch_crypto = on;
    }

    /// The deferred encryption of the packet of the last [`Kernel::outbound`]
    /// call, if it was deferred.
    pub fn take_deferred(&mut self) -> Option<DeferredOut> {
        self.dp.deferred.take()
    }

    /// Encrypts and authenticates deferred packets of SA `key` in `buf`:
    /// `jobs` are (offset of the ESP header in `buf`, its `Deferred`).
    /// `false`: the SA is gone or the layout is wrong; the packets must be
    /// dropped.
    pub fn finish_deferred(
        &mut self,
        key: &SaKey,
        buf: &mut [u8],
        jobs: &[(usize, xform::Deferred)],
    ) -> bool {
        match self.sad.get(key).and_then(|sa| sa.xf.as_ref()) {
            Some(Xform::Esp(esp)) => esp.finish_batch(buf, jobs).is_ok(),
            _ => false,
        }
    }

    /// The keys of ESP SA `key`, to finish its deferred packets elsewhere
    /// (the send thread).
    pub fn sealer(&self, key: &SaKey) -> Option<xform::Sealer> {
        match self.sad.get(key).and_then(|sa| sa.xf.as_ref()) {
            Some(Xform::Esp(esp)) => Some(esp.sealer()),
            _ => None,
        }
    }

    /// [`Kernel::finish_deferred`] for the one packet in `buf`.
    pub fn finish_deferred_buf(&mut self, buf: &mut PacketBuf, d: &DeferredOut) -> bool {
        self.finish_deferred(&d.key, &mut buf.data, &[(d.esp_start, d.d)])
    }

    /// Counts a drop decided by the I/O layer.
    pub fn count_drop(&mut self, r: DropReason) {
        self.dp.stats.drop(r);
    }

    /// Counts a NAT-T keepalive.
    pub fn count_keepalive(&mut self) {
        self.dp.stats.keepalives = self.dp.stats.keepalives.saturating_add(1);
    }

    /// Destination prefixes of the outbound `ipsec` policies (masked), which
    /// the I/O layer routes into the TUN device.
    pub fn out_routes(&self) -> std::collections::BTreeSet<(IpAddr, u8)> {
        self.spd()
            .dump()
            .into_iter()
            .filter(|p| p.dir == Dir::Out && p.action == IPSEC_POLICY_IPSEC)
            .map(|p| {
                (
                    crate::spd::mask_addr(p.sel.dst, p.sel.dst_prefix),
                    p.sel.dst_prefix,
                )
            })
            .collect()
    }

    /// Selectors of inbound (`in`/`fwd`) `ipsec` policies with a `require` or
    /// `unique` request (cleartext matching them must not reach the host) and
    /// of inbound `discard` policies (nothing matching them may). The
    /// I/O layer turns them into firewall rules (the engine never sees
    /// cleartext that does not come through it).
    pub fn in_guards(&self) -> std::collections::BTreeSet<Guard> {
        self.spd()
            .dump()
            .into_iter()
            .filter(|p| {
                p.dir != Dir::Out
                    && (p.action == IPSEC_POLICY_DISCARD
                        || (p.action == IPSEC_POLICY_IPSEC
                            && p.requests.iter().any(|r| r.level >= IPSEC_LEVEL_REQUIRE)))
            })
            .map(|p| Guard {
                src: (
                    crate::spd::mask_addr(p.sel.src, p.sel.src_prefix),
                    p.sel.src_prefix,
                ),
                dst: (
                    crate::spd::mask_addr(p.sel.dst, p.sel.dst_prefix),
                    p.sel.dst_prefix,
                ),
                proto: p.sel.proto,
                sport: p.sel.sport,
                dport: p.sel.dport,
                discard: p.action == IPSEC_POLICY_DISCARD,
            })
            .collect()
    }

    fn find_out_sa(
        &mut self,
        pid: u32,
        i: usize,
        req: &IpsecRequest,
        pkt: &PacketSel,
    ) -> Option<SaKey> {
        if let Some(k) = self.dp.sa_cache.get(&(pid, i)) {
            if self.sad.get(k).is_some_and(usable) {
                return Some(*k);
            }
        }
        let satype = satype_of(req.proto)?;
        let (src, dst) = match req.tunnel {
            Some((s, d)) if req.mode == 2 => (s.ip(), d.ip()),
            _ => (pkt.src, pkt.dst),
        };
        let best = self
            .sad
            .iter()
            .filter(|sa| {
                sa.satype == satype
                    && usable(sa)
                    && sa.dst.ip() == dst
                    && sa.src.ip() == src
                    && (sa.mode == 0 || sa.mode == req.mode)
                    && (req.level != IPSEC_LEVEL_UNIQUE || req.reqid == 0 || sa.reqid == req.reqid)
            })
            .max_by_key(|sa| (sa.state == SaState::Mature, sa.serial))
            .map(SecAssoc::key)?;
        self.dp.sa_cache.insert((pid, i), best);
        Some(best)
    }

    /// Processes a packet read from the TUN device (`buf.packet()`).
    pub fn outbound(&mut self, now: Now, buf: &mut PacketBuf, out: &mut Vec<Output>) -> Verdict {
        self.dp.deferred = None;
        let v = self.outbound_inner(now, buf, out);
        if let Verdict::Drop(r) = v {
            self.dp.deferred = None;
            self.dp.stats.drop(r);
        }
        v
    }

    fn bypass(&mut self, buf: &PacketBuf, dst: IpAddr) -> Verdict {
        self.dp.stats.bypass_packets = self.dp.stats.bypass_packets.saturating_add(1);
        Verdict::Raw {
            packet: buf.start..buf.end,
            dst,
        }
    }

    fn outbound_inner(&mut self, now: Now, buf: &mut PacketBuf, out: &mut Vec<Output>) -> Verdict {
        let Some(ip) = parse_ip(buf.packet()) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        buf.end = buf.start + ip.total;
        if let IpAddr::V6(d) = ip.dst {
            if d.is_multicast() || d.segments()[0] & 0xffc0 == 0xfe80 {
                return Verdict::Drop(DropReason::LinkLocal);
            }
        }
        let sel = packet_sel(buf.packet(), &ip);
        if ip.proto == 17 && (IKE_PORTS.contains(&sel.sport) || IKE_PORTS.contains(&sel.dport)) {
            return self.bypass(buf, ip.dst);
        }
        let Some(pol) = self.lookup_policy(now, Dir::Out, &sel) else {
            return self.bypass(buf, ip.dst);
        };
        match pol.action {
            IPSEC_POLICY_DISCARD => return Verdict::Drop(DropReason::PolicyDiscard),
            IPSEC_POLICY_IPSEC => {}
            _ => return self.bypass(buf, ip.dst),
        }
        let pid = pol.id;
        let mut reqs = [None::<IpsecRequest>; MAX_BUNDLE];
        if pol.requests.len() > MAX_BUNDLE {
            return Verdict::Drop(DropReason::Xform);
        }
        for (slot, r) in reqs.iter_mut().zip(&pol.requests) {
            *slot = Some(*r);
        }
        let mut keys = [None::<SaKey>; MAX_BUNDLE];
        let mut missing = false;
        // Transport requests after a tunnel one apply between the tunnel's endpoints.
        let mut cur = sel;
        for (i, r) in reqs.iter().enumerate() {
            let Some(req) = r else { continue };
            if let (2, Some((s, d))) = (req.mode, req.tunnel) {
                cur.src = s.ip();
                cur.dst = d.ip();
            }
            match self.find_out_sa(pid, i, req, &cur) {
                Some(k) => keys[i] = Some(k),
                None => {
                    let acq = self.acquire(now, pid, i, cur.src, cur.dst);
                    if !acq.is_empty() {
                        self.dp.stats.acquires = self.dp.stats.acquires.saturating_add(1);
                        out.extend(acq);
                    }
                    if req.level >= IPSEC_LEVEL_REQUIRE {
                        missing = true;
                    }
                }
            }
        }
        if missing {
            return Verdict::Drop(DropReason::NoSa);
        }
        let inner_len = (buf.end - buf.start) as u64;
        // Only a packet with a single transform may defer its encryption
        // (nothing after it needs the ciphertext).
        let defer = self.dp.batch_crypto && keys.iter().flatten().count() == 1;
        let mut udp: Option<(SocketAddr, SocketAddr)> = None;
        let mut outer_dst = ip.dst;
        let mut used_any = false;
        for (key, req) in keys.iter().zip(&reqs) {
            let (Some(key), Some(req)) = (key, req) else {
                continue;
            };
            let id = self.dp.ip_id;
            self.dp.ip_id = id.wrapping_add(1);
            // The request decides the mode (an SA of mode "any" serves both).
            let r = self.apply_out(buf, key, id, req.mode == 2, defer);
            match r {
                Ok(Some(u)) => udp = Some(u),
                Ok(None) => udp = None,
                Err(DropReason::SeqExhausted) => {
                    out.extend(self.expire_hard(key));
                    return Verdict::Drop(DropReason::SeqExhausted);
                }
                Err(e) => return Verdict::Drop(e),
            }
            out.extend(self.account(now, key, inner_len, 1));
            used_any = true;
            if let Some(ip) = parse_ip(buf.packet()) {
                outer_dst = ip.dst;
            }
        }
        if !used_any {
            // Only `use` requests without SAs: the packet goes out in the clear.
            return self.bypass(buf, ip.dst);
        }
        self.dp.stats.out_packets = self.dp.stats.out_packets.saturating_add(1);
        self.dp.stats.out_bytes = self.dp.stats.out_bytes.saturating_add(inner_len);
        match udp {
            Some((local, remote)) => {
                let hl = parse_ip(buf.packet()).map_or(0, |i| i.hl);
                Verdict::Udp {
                    payload: buf.start + hl..buf.end,
                    local,
                    remote,
                }
            }
            None => Verdict::Raw {
                packet: buf.start..buf.end,
                dst: outer_dst,
            },
        }
    }

    /// Applies one SA to the packet in `buf`; `Some(ports)` when the result is
    /// to be sent as ESP-in-UDP.
    fn apply_out(
        &mut self,
        buf: &mut PacketBuf,
        key: &SaKey,
        ip_id: u16,
        tunnel: bool,
        defer: bool,
    ) -> Result<Option<(SocketAddr, SocketAddr)>, DropReason> {
        let sa = self.sad.get_mut(key).ok_or(DropReason::NoSa)?;
        let (src, dst) = (sa.src.ip(), sa.dst.ip());
        let natt = sa.natt.filter(|n| n.encap_type != 0);
        if tunnel {
            wrap_outer(&mut buf.data, &mut buf.start, buf.end, src, dst, ip_id)?;
        }
        let ip = parse_ip(buf.packet()).ok_or(DropReason::Malformed)?;
        let xf = sa.xf.as_mut().ok_or(DropReason::NoSa)?;
        let (start, end) = (buf.start, buf.end);
        let data = &mut buf.data[..];
        match xf {
            Xform::Esp(esp) => {
                let eh = esp.header_len();
                let ns = start.checked_sub(eh).ok_or(DropReason::TooBig)?;
                data.copy_within(start..start + ip.hl, ns);
                let r = if defer {
                    let (r, d) = esp
                        .encap_deferred(data, start + ip.hl, end, ip.proto)
                        .map_err(DropReason::from_xform)?;
                    self.dp.deferred = Some(DeferredOut {
                        key: *key,
                        esp_start: r.start,
                        d,
                    });
                    r
                } else {
                    esp.encap(data, start + ip.hl, end, ip.proto)
                        .map_err(DropReason::from_xform)?
                };
                set_proto_len(&mut data[ns..r.end], ip.v6, IPPROTO_ESP)?;
                buf.start = ns;
                buf.end = r.end;
                Ok(natt.map(|n| (SocketAddr::new(src, n.sport), SocketAddr::new(dst, n.dport))))
            }
            Xform::Ah(ah) => {
                let r = ah.encap(data, start, end).map_err(DropReason::from_xform)?;
                buf.start = r.start;
                buf.end = r.end;
                Ok(None)
            }
            Xform::Comp(c) => {
                let ps = start + ip.hl;
                if let Some(z) = c.compress(&data[ps..end]) {
                    let ne = ps + 4 + z.len();
                    data[ps..ps + 4].copy_from_slice(&c.header(ip.proto));
                    data[ps + 4..ne].copy_from_slice(&z);
                    set_proto_len(&mut data[start..ne], ip.v6, IPPROTO_COMP)?;
                    buf.end = ne;
                }
                Ok(None)
            }
        }
    }

    fn expire_hard(&mut self, key: &SaKey) -> Vec<Output> {
        self.expire_sa(key, crate::sad::ExpireKind::Hard)
    }

    /// Processes an ESP-in-UDP payload (`buf.packet()` starts at the SPI)
    /// received from `remote` on `local`.
    pub fn inbound_udp(
        &mut self,
        now: Now,
        buf: &mut PacketBuf,
        local: SocketAddr,
        remote: SocketAddr,
        out: &mut Vec<Output>,
    ) -> Verdict {
        let (src, dst) = (remote.ip().to_canonical(), local.ip().to_canonical());
        if let Err(r) = prepend_esp_header(&mut buf.data, &mut buf.start, buf.end, src, dst) {
            self.dp.stats.drop(r);
            return Verdict::Drop(r);
        }
        self.inbound(now, buf, out)
    }

    /// Processes an IPsec packet (`buf.packet()` is the whole IP packet).
    pub fn inbound(&mut self, now: Now, buf: &mut PacketBuf, out: &mut Vec<Output>) -> Verdict {
        let v = self.inbound_inner(now, buf, out);
        match v {
            Verdict::Drop(r) => self.dp.stats.drop(r),
            Verdict::ToTun(ref r) => {
                self.dp.stats.in_packets = self.dp.stats.in_packets.saturating_add(1);
                self.dp.stats.in_bytes = self.dp.stats.in_bytes.saturating_add(r.len() as u64);
            }
            _ => {}
        }
        v
    }

    fn inbound_inner(&mut self, now: Now, buf: &mut PacketBuf, out: &mut Vec<Output>) -> Verdict {
        let mut used = [None::<Used>; MAX_BUNDLE];
        let mut n = 0;
        let mut ip = match parse_ip(buf.packet()) {
            Some(i) => i,
            None => return Verdict::Drop(DropReason::Malformed),
        };
        buf.end = buf.start + ip.total;
        loop {
            let p = buf.packet();
            let hl = ip.hl;
            let rd = |o: usize| {
                p.get(hl + o..hl + o + 4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            };
            let (spi, satype) = match ip.proto {
                IPPROTO_ESP => (rd(0), SATYPE_ESP),
                IPPROTO_AH => (rd(4), SATYPE_AH),
                IPPROTO_COMP => (rd(0).map(|v| v & 0xffff), SATYPE_IPCOMP),
                _ => break,
            };
            if n == MAX_BUNDLE {
                return Verdict::Drop(DropReason::Malformed);
            }
            let Some(spi) = spi else {
                return Verdict::Drop(DropReason::BadLength);
            };
            if ip.later_fragment || (!ip.v6 && buf.packet()[6] & 0x20 != 0) {
                // Fragments are reassembled by the host before raw sockets see them.
                return Verdict::Drop(DropReason::Malformed);
            }
            let key = SaKey {
                spi,
                dst: ip.dst,
                satype,
            };
            let Some(sa) = self.sad.get_mut(&key) else {
                return Verdict::Drop(DropReason::UnknownSpi);
            };
            if !usable(sa) {
                return Verdict::Drop(DropReason::UnknownSpi);
            }
            used[n] = Some(Used {
                proto: proto_of(satype),
                mode: sa.mode,
                reqid: sa.reqid,
                src: sa.src.ip(),
                dst: sa.dst.ip(),
            });
            n += 1;
            let Some(xf) = sa.xf.as_mut() else {
                return Verdict::Drop(DropReason::UnknownSpi);
            };
            let (start, end) = (buf.start, buf.end);
            let data = &mut buf.data[..];
            // Either a payload (start, end, next header) behind the IP header
            // at `start`, or (AH) a whole packet with AH already removed.
            let (ps, pe, nh, whole) = match xf {
                Xform::Esp(esp) => match esp.decap(&mut data[start + hl..end]) {
                    Ok(d) => (
                        start + hl + d.payload.start,
                        start + hl + d.payload.end,
                        d.next_header,
                        false,
                    ),
                    Err(e) => return Verdict::Drop(DropReason::from_xform(e)),
                },
                Xform::Ah(ah) => match ah.decap(data, start, end) {
                    Ok(d) => {
                        let Some(i) = parse_ip(&data[d.packet.clone()]) else {
                            return Verdict::Drop(DropReason::Malformed);
                        };
                        if d.next_header == 4 || d.next_header == 41 {
                            (d.packet.start + i.hl, d.packet.end, d.next_header, false)
                        } else {
                            (d.packet.start, d.packet.end, d.next_header, true)
                        }
                    }
                    Err(e) => return Verdict::Drop(DropReason::from_xform(e)),
                },
                Xform::Comp(c) => match c.decompress(&data[start + hl..end]) {
                    Ok((nh, z)) => {
                        let ps = start + hl;
                        let Some(dst) = data.get_mut(ps..ps + z.len()) else {
                            return Verdict::Drop(DropReason::TooBig);
                        };
                        dst.copy_from_slice(&z);
                        (ps, ps + z.len(), nh, false)
                    }
                    Err(e) => return Verdict::Drop(DropReason::from_xform(e)),
                },
            };
            out.extend(self.account(now, &key, (pe - ps) as u64, 1));
            match nh {
                _ if whole => {
                    buf.start = ps;
                    buf.end = pe;
                }
                4 | 41 => {
                    buf.start = ps;
                    buf.end = pe;
                }
                59 => return Verdict::Drop(DropReason::Dummy),
                _ => {
                    // Transport mode: the IP header moves up to the payload.
                    let Some(ns) = ps.checked_sub(hl).filter(|&ns| ns >= start) else {
                        return Verdict::Drop(DropReason::Malformed);
                    };
                    buf.data.copy_within(start..start + hl, ns);
                    if let Err(r) = set_proto_len(&mut buf.data[ns..pe], ip.v6, nh) {
                        return Verdict::Drop(r);
                    }
                    buf.start = ns;
                    buf.end = pe;
                }
            }
            ip = match parse_ip(buf.packet()) {
                Some(i) => i,
                None => return Verdict::Drop(DropReason::Malformed),
            };
            buf.end = buf.start + ip.total;
        }
        let sel = packet_sel(buf.packet(), &ip);
        let pol = match self.spd.lookup(Dir::In, &sel) {
            Some(p) => Some(p),
            None => self.spd.lookup(Dir::Fwd, &sel),
        };
        let used = &used[..n];
        let ok = match pol {
            None => used.is_empty(),
            Some(p) if p.action == IPSEC_POLICY_IPSEC => {
                let matches = |r: &IpsecRequest, u: &Used| {
                    r.proto == u.proto
                        && (u.mode == 0 || u.mode == r.mode)
                        && match r.tunnel {
                            Some((s, d)) if r.mode == 2 => s.ip() == u.src && d.ip() == u.dst,
                            _ => true,
                        }
                        && (r.level != IPSEC_LEVEL_UNIQUE || r.reqid == 0 || r.reqid == u.reqid)
                };
                used.iter()
                    .flatten()
                    .all(|u| p.requests.iter().any(|r| matches(r, u)))
                    && p.requests.iter().all(|r| {
                        r.level < IPSEC_LEVEL_REQUIRE
                            || used.iter().flatten().any(|u| matches(r, u))
                    })
            }
            Some(p) if p.action == IPSEC_POLICY_DISCARD => false,
            Some(_) => used.is_empty(),
        };
        if let Some(id) = pol.map(|p| p.id) {
            self.spd.mark_used(now, id);
        }
        if !ok {
            return Verdict::Drop(DropReason::PolicyMismatch);
        }
        Verdict::ToTun(buf.start..buf.end)
    }
}

/// A kernel configured for fuzzing and tests of the packet path: ESP tunnel
/// SAs and policies between 192.0.2.1 (side A, 198.51.100.0/25) and
/// 192.0.2.2 (side B, 198.51.100.128/25), an AH+ESP transport bundle between
/// the hosts, and an ESP-in-UDP SA. `side_a` selects which end it is.
pub fn fuzz_kernel(side_a: bool) -> Kernel {
    use pfkey::{
        Address, AuthAlg as PAuth, Dir as PDir, EncAlg as PEnc, Endpoints, Extension, IpsecProto,
        IpsecRequest as PReq, Key, Level, Message, Mode, MsgType, NatTType, Policy, PolicyType, Sa,
        Sa2, SaType,
    };
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut k = Kernel::default();
    let now = Now::new(std::time::Instant::now(), 1_700_000_000);
    k.connect(1);
    let host = |s: &str| {
        Address::host(SocketAddr::new(
            s.parse().unwrap_or(IpAddr::from([0; 4])),
            0,
        ))
    };
    let (a, b) = ("192.0.2.1", "192.0.2.2");
    // (type, spi, src, dst, mode, encrypt, auth, NAT-T)
    #[allow(clippy::type_complexity)]
    let sas: [(SaType, u32, &str, &str, u8, u8, u8, bool); 6] = [
        (SaType::ESP, 0x1001, a, b, 2, 12, 3, false),
        (SaType::ESP, 0x1002, b, a, 2, 12, 3, false),
        (SaType::ESP, 0x2001, a, b, 1, 20, 0, false),
        (SaType::AH, 0x2002, a, b, 1, 0, 5, false),
        (SaType::ESP, 0x3001, b, a, 1, 13, 2, true),
        (SaType::IPCOMP, 0x4001, a, b, 1, 2, 0, false),
    ];
    for (t, spi, s, d, mode, enc, auth, natt) in sas {
        let mut m = Message::new(MsgType::ADD, t)
            .with(Extension::Sa(Sa {
                spi,
                replay: 64,
                auth: PAuth(auth),
                encrypt: PEnc(enc),
                ..Default::default()
            }))
            .with(Extension::AddressSrc(host(s)))
            .with(Extension::AddressDst(host(d)))
            .with(Extension::Sa2(Sa2 {
                mode: Mode(mode),
                sequence: 0,
                reqid: 0,
            }));
        let akey = [0x11u8; 64];
        let alen = match auth {
            2 => 16,
            3 => 20,
            5 => 32,
            _ => 0,
        };
        if let Some(key) = (alen > 0).then(|| Key::new(&akey[..alen])).flatten() {
            m.push(Extension::KeyAuth(key));
        }
        let elen = match enc {
            12 => 16,
            13 | 20 => 20,
            _ => 0,
        };
        if let Some(key) = (elen > 0)
            .then(|| Key::new(&[0x22u8; 20][..elen]))
            .flatten()
        {
            m.push(Extension::KeyEncrypt(key));
        }
        if natt {
            m.push(Extension::NatTType(NatTType(2)));
            m.push(Extension::NatTSport(4500));
            m.push(Extension::NatTDport(4500));
        }
        k.handle_message(now, 1, m, &mut rng);
    }
    let pol = |src: (&str, u8), dst: (&str, u8), dir: u8, reqs: Vec<PReq>| {
        let mut p = Policy::new(PolicyType::IPSEC, PDir(dir));
        p.requests = reqs;
        let addr = |(s, l): (&str, u8)| {
            Address::new(
                SocketAddr::new(s.parse().unwrap_or(IpAddr::from([0; 4])), 0),
                l,
                255,
            )
        };
        Message::new(MsgType::X_SPDADD, SaType::UNSPEC)
            .with(Extension::AddressSrc(addr(src)))
            .with(Extension::AddressDst(addr(dst)))
            .with(Extension::Policy(p))
    };
    let req = |proto: u16, mode: u8, t: Option<(&str, &str)>| PReq {
        proto: IpsecProto(proto),
        mode: Mode(mode),
        level: Level(2),
        reqid: 0,
        tunnel: t.map(|(s, d)| Endpoints {
            src: SocketAddr::new(s.parse().unwrap_or(IpAddr::from([0; 4])), 0),
            dst: SocketAddr::new(d.parse().unwrap_or(IpAddr::from([0; 4])), 0),
        }),
    };
    let (out_dir, in_dir) = if side_a { (2, 1) } else { (1, 2) };
    let msgs = [
        pol(
            ("198.51.100.0", 25),
            ("198.51.100.128", 25),
            out_dir,
            vec![req(50, 2, Some((a, b)))],
        ),
        pol(
            ("198.51.100.128", 25),
            ("198.51.100.0", 25),
            in_dir,
            vec![req(50, 2, Some((b, a)))],
        ),
        pol(
            (a, 32),
            (b, 32),
            out_dir,
            vec![req(108, 1, None), req(50, 1, None), req(51, 1, None)],
        ),
        pol((b, 32), (a, 32), in_dir, vec![req(50, 1, None)]),
    ];
    for m in msgs {
        k.handle_message(now, 1, m, &mut rng);
    }
    k
}

/// The fuzzing entry point (also replayed over the seed corpus by the tests):
/// the first byte picks the path (0 inbound raw, 1 inbound ESP-in-UDP,
/// 3 TUN offload segmentation of a `virtio_net_hdr` + packet, 4 coalescing
/// of packets split at 0xA5A5 markers, otherwise outbound), the rest is the
/// packet, fed to a side-B kernel from [`fuzz_kernel`] twice (the second
/// time it is a replay). Must never panic.
pub fn fuzz_entry(data: &[u8]) {
    let Some((&sel, pkt)) = data.split_first() else {
        return;
    };
    if sel == 3 {
        let mut out = vec![0u8; 4096];
        if pkt.len() >= VNET_HDR_LEN {
            let (h, p) = pkt.split_at(VNET_HDR_LEN);
            let mut i = 0;
            while let Some(n) = gso_segment(h, p, i, &mut out) {
                assert!(n <= out.len());
                i += 1;
                assert!(i <= MAX_PACKET, "bounded");
            }
        }
        return;
    }
    if sel == 4 {
        let mut g = Gro::new();
        for part in pkt.split(|b| *b == 0xa5) {
            while g.push(part) == GroPush::FlushFirst {
                assert!(g.take().is_some());
            }
        }
        let _ = g.take();
        return;
    }
    let mut k = fuzz_kernel(false);
    let now = Now::new(std::time::Instant::now(), 1_700_000_000);
    let mut buf = PacketBuf::new();
    let mut out = Vec::new();
    for _ in 0..2 {
        buf.load(pkt);
        let v = match sel {
            0 => k.inbound(now, &mut buf, &mut out),
            1 => k.inbound_udp(
                now,
                &mut buf,
                SocketAddr::new(IpAddr::from([192, 0, 2, 2]), 4500),
                SocketAddr::new(IpAddr::from([192, 0, 2, 1]), 4500),
                &mut out,
            ),
            _ => k.outbound(now, &mut buf, &mut out),
        };
        match v {
            Verdict::Raw { packet: r, .. }
            | Verdict::ToTun(r)
            | Verdict::Udp { payload: r, .. } => {
                assert!(r.start <= r.end && buf.get(r.clone()).len() == r.len());
            }
            Verdict::Drop(_) => {}
        }
    }
    let _ = classify_udp4500(pkt);
}

/// Length of the `virtio_net_hdr` in front of every packet on a TUN device
/// opened with `IFF_VNET_HDR`.
pub const VNET_HDR_LEN: usize = 10;
const VNET_F_NEEDS_CSUM: u8 = 1;
const VNET_GSO_NONE: u8 = 0;
const VNET_GSO_TCPV4: u8 = 1;
const VNET_GSO_TCPV6: u8 = 4;

fn csum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// The TCP/UDP checksum of the L4 segment `pkt[l4..]` with its IP pseudo header.
fn l4_checksum(pkt: &[u8], v6: bool, l4: usize, proto: u8) -> u16 {
    let len = pkt.len() - l4;
    let mut sum = if v6 {
        csum_add(0, &pkt[8..40])
    } else {
        csum_add(0, &pkt[12..20])
    };
    sum = csum_add(sum, &[0, proto]);
    sum = csum_add(sum, &(len as u32).to_be_bytes());
    sum = csum_add(sum, &pkt[l4..]);
    !(sum as u16)
}

/// Splits what a TUN device with TSO/checksum offload hands over (a
/// `virtio_net_hdr` and a packet of up to 64 KiB) into wire-sized packets:
/// writes segment number `i` to `out` and returns its length, `None` after
/// the last one. Packets without GSO come back whole (segment 0), with their
/// checksum completed when the header asks for it. A malformed header or
/// packet yields `None` at once.
pub fn gso_segment(vnet: &[u8], pkt: &[u8], i: usize, out: &mut [u8]) -> Option<usize> {
    let vnet: &[u8; VNET_HDR_LEN] = vnet.get(..VNET_HDR_LEN)?.try_into().ok()?;
    let flags = vnet[0];
    let gso = vnet[1] & 0x7f;
    let gso_size = usize::from(u16::from_le_bytes([vnet[4], vnet[5]]));
    let csum_start = usize::from(u16::from_le_bytes([vnet[6], vnet[7]]));
    let csum_off = usize::from(u16::from_le_bytes([vnet[8], vnet[9]]));
    if gso == VNET_GSO_NONE {
        if i > 0 || pkt.len() > out.len() {
            return None;
        }
        let o = &mut out[..pkt.len()];
        o.copy_from_slice(pkt);
        if flags & VNET_F_NEEDS_CSUM != 0 {
            let at = csum_start.checked_add(csum_off)?;
            if at + 2 > o.len() || csum_start > o.len() {
                return None;
            }
            // The field holds the pseudo-header sum already.
            let ck = !(csum_add(0, &o[csum_start..]) as u16);
            o[at..at + 2].copy_from_slice(&ck.to_be_bytes());
        }
        return Some(pkt.len());
    }
    let v6 = match gso {
        VNET_GSO_TCPV4 => false,
        VNET_GSO_TCPV6 => true,
        _ => return None,
    };
    let ip = parse_ip(pkt)?;
    if ip.v6 != v6 || ip.proto != 6 || gso_size == 0 {
        return None;
    }
    let l4 = ip.hl;
    let tcp_hl = usize::from(*pkt.get(l4 + 12)? >> 4) * 4;
    let hdrs = l4 + tcp_hl;
    if tcp_hl < 20 || hdrs > ip.total {
        return None;
    }
    let payload = &pkt[hdrs..ip.total];
    let start = i.checked_mul(gso_size)?;
    if start >= payload.len() && !(payload.is_empty() && i == 0) {
        return None;
    }
    let chunk = &payload[start..payload.len().min(start + gso_size)];
    let last = start + chunk.len() >= payload.len();
    let len = hdrs + chunk.len();
    let o = out.get_mut(..len)?;
    o[..hdrs].copy_from_slice(&pkt[..hdrs]);
    o[hdrs..].copy_from_slice(chunk);
    if v6 {
        let plen = u16::try_from(len - 40).ok()?;
        o[4..6].copy_from_slice(&plen.to_be_bytes());
    } else {
        o[2..4].copy_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
        let id = u16::from_be_bytes([o[4], o[5]]).wrapping_add(i as u16);
        o[4..6].copy_from_slice(&id.to_be_bytes());
        ipv4_checksum(&mut o[..l4]);
    }
    let seq =
        u32::from_be_bytes([o[l4 + 4], o[l4 + 5], o[l4 + 6], o[l4 + 7]]).wrapping_add(start as u32);
    o[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
    if !last {
        o[l4 + 13] &= !0x09; // FIN, PSH only on the last segment
    }
    if i > 0 {
        o[l4 + 13] &= !0x80; // CWR only on the first
    }
    o[l4 + 16] = 0;
    o[l4 + 17] = 0;
    let ck = l4_checksum(o, v6, l4, 6);
    o[l4 + 16..l4 + 18].copy_from_slice(&ck.to_be_bytes());
    Some(len)
}

#[cfg(test)]
mod gso_tests {
    use super::*;

    fn tcp4(payload: usize, flags: u8) -> Vec<u8> {
        let total = 40 + payload;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&100u16.to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[198, 51, 100, 1]);
        p[16..20].copy_from_slice(&[198, 51, 100, 129]);
        ipv4_checksum(&mut p[..20]);
        p[20..22].copy_from_slice(&1234u16.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        p[24..28].copy_from_slice(&1000u32.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = flags;
        for (i, b) in p[40..].iter_mut().enumerate() {
            *b = i as u8;
        }
        p
    }

    fn vnet(gso: u8, size: u16) -> [u8; 10] {
        let mut v = [0u8; 10];
        v[0] = VNET_F_NEEDS_CSUM;
        v[1] = gso;
        v[4..6].copy_from_slice(&size.to_le_bytes());
        v[6..8].copy_from_slice(&20u16.to_le_bytes());
        v[8..10].copy_from_slice(&16u16.to_le_bytes());
        v
    }

    #[test]
    fn tso_segments_are_valid_tcp() {
        let big = tcp4(3000, 0x18 | 0x01 | 0x80); // PSH ACK FIN CWR
        let mut out = vec![0u8; 2048];
        let mut segs = Vec::new();
        let mut i = 0;
        while let Some(n) = gso_segment(&vnet(VNET_GSO_TCPV4, 1360), &big, i, &mut out) {
            segs.push(out[..n].to_vec());
            i += 1;
        }
        assert_eq!(segs.len(), 3);
        let mut data = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let ip = parse_ip(s).unwrap();
            assert_eq!(ip.total, s.len());
            // IPv4 header checksum verifies (sum of the header is 0xffff).
            assert_eq!(csum_add(0, &s[..20]), 0xffff);
            // TCP checksum verifies with the pseudo header.
            assert_eq!(l4_checksum(s, false, 20, 6), 0, "segment {i}");
            let seq = u32::from_be_bytes([s[24], s[25], s[26], s[27]]);
            assert_eq!(seq, 1000 + (i as u32) * 1360);
            let last = i == segs.len() - 1;
            assert_eq!(s[33] & 0x01 != 0, last, "FIN only on the last");
            assert_eq!(s[33] & 0x80 != 0, i == 0, "CWR only on the first");
            data.extend_from_slice(&s[40..]);
        }
        assert_eq!(data, &big[40..]);
        // Hostile headers: nothing, no panic.
        assert_eq!(
            gso_segment(&vnet(VNET_GSO_TCPV4, 0), &big, 0, &mut out),
            None
        );
        assert_eq!(gso_segment(&vnet(3, 100), &big, 0, &mut out), None);
        assert_eq!(
            gso_segment(&vnet(VNET_GSO_TCPV6, 100), &big, 0, &mut out),
            None
        );
        assert_eq!(gso_segment(&[0; 3], &big, 0, &mut out), None);
        let mut v = vnet(VNET_GSO_NONE, 0);
        v[6..8].copy_from_slice(&60000u16.to_le_bytes());
        assert_eq!(gso_segment(&v, &big[..100], 0, &mut out), None);
    }

    #[test]
    fn partial_checksum_is_completed() {
        let mut p = tcp4(100, 0x18);
        // What the kernel leaves: the pseudo-header sum (not inverted) in the field.
        let len = (p.len() - 20) as u32;
        let mut s = csum_add(0, &p[12..20]);
        s = csum_add(s, &[0, 6]);
        s = csum_add(s, &len.to_be_bytes());
        p[36..38].copy_from_slice(&(s as u16).to_be_bytes());
        let mut out = vec![0u8; 2048];
        let n = gso_segment(&vnet(VNET_GSO_NONE, 0), &p, 0, &mut out).unwrap();
        assert_eq!(l4_checksum(&out[..n], false, 20, 6), 0);
        assert_eq!(gso_segment(&vnet(VNET_GSO_NONE, 0), &p, 1, &mut out), None);
    }
}

/// Coalesces consecutive in-order TCP segments of one flow (as decrypted
/// inbound) into one super-packet for a TUN device with `IFF_VNET_HDR`, the
/// way the kernel's GRO would: one trip through the host's TCP stack instead
/// of one per segment. Owns one buffer, allocated once.
pub struct Gro {
    buf: Vec<u8>,
    /// Bytes of packet after the header (0: nothing pending).
    len: usize,
    segs: usize,
    flow: (IpAddr, IpAddr, u16, u16),
    hl: usize,
    tcp_hl: usize,
    mss: usize,
    next_seq: u32,
    closed: bool,
}

impl Default for Gro {
    fn default() -> Self {
        Gro::new()
    }
}

impl fmt::Debug for Gro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gro({} segments)", self.segs)
    }
}

/// What [`Gro::push`] did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroPush {
    /// Taken (pending in the buffer).
    Held,
    /// Not taken: flush the pending frame first ([`Gro::take`]), then push again.
    FlushFirst,
    /// Not coalescible: write it as it is (after flushing what is pending).
    Pass,
}

impl Gro {
    pub fn new() -> Gro {
        Gro {
            buf: vec![0u8; VNET_HDR_LEN + MAX_PACKET],
            len: 0,
            segs: 0,
            flow: (IpAddr::from([0u8; 4]), IpAddr::from([0u8; 4]), 0, 0),
            hl: 0,
            tcp_hl: 0,
            mss: 0,
            next_seq: 0,
            closed: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Offers one complete IP packet.
    pub fn push(&mut self, pkt: &[u8]) -> GroPush {
        let Some(ip) = parse_ip(pkt) else {
            return GroPush::Pass;
        };
        let hl = ip.hl;
        let ok_ip = ip.proto == 6
            && ip.total == pkt.len()
            && (ip.v6 || (hl == 20 && u16::from_be_bytes([pkt[6], pkt[7]]) & 0x3fff == 0));
        if !ok_ip || pkt.len() < hl + 20 {
            return if self.is_empty() {
                GroPush::Pass
            } else {
                GroPush::FlushFirst
            };
        }
        let t = &pkt[hl..];
        let tcp_hl = usize::from(t[12] >> 4) * 4;
        let flags = t[13];
        let payload = pkt.len().saturating_sub(hl + tcp_hl);
        // Only ACK (and PSH) segments with data.
        if tcp_hl < 20
            || hl + tcp_hl > pkt.len()
            || flags & !0x18 != 0
            || flags & 0x10 == 0
            || payload == 0
        {
            return if self.is_empty() {
                GroPush::Pass
            } else {
                GroPush::FlushFirst
            };
        }
        let flow = (
            ip.src,
            ip.dst,
            u16::from_be_bytes([t[0], t[1]]),
            u16::from_be_bytes([t[2], t[3]]),
        );
        let seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
        if self.is_empty() {
            self.buf[VNET_HDR_LEN..VNET_HDR_LEN + pkt.len()].copy_from_slice(pkt);
            self.len = pkt.len();
            self.segs = 1;
            self.flow = flow;
            self.hl = hl;
            self.tcp_hl = tcp_hl;
            self.mss = payload;
            self.next_seq = seq.wrapping_add(payload as u32);
            self.closed = flags & 0x08 != 0;
            return GroPush::Held;
        }
        let head = &self.buf[VNET_HDR_LEN..VNET_HDR_LEN + self.hl + self.tcp_hl];
        let same_hdr = head[..hl.min(head.len())].len() == hl
            && hl == self.hl
            && tcp_hl == self.tcp_hl
            // TOS/TTL (v4) or traffic class/hop limit (v6) and TCP ack, window, options.
            && (if ip.v6 { head[..4] == pkt[..4] && head[7] == pkt[7] } else { head[1] == pkt[1] && head[8] == pkt[8] })
            && head[hl + 8..hl + 12] == t[8..12]
            && head[hl + 14..hl + 16] == t[14..16]
            && head[hl + 20..hl + tcp_hl] == t[20..tcp_hl];
        if self.closed
            || flow != self.flow
            || seq != self.next_seq
            || !same_hdr
            || payload > self.mss
            || self.len + payload > MAX_PACKET
        {
            return GroPush::FlushFirst;
        }
        let at = VNET_HDR_LEN + self.len;
        self.buf[at..at + payload].copy_from_slice(&pkt[hl + tcp_hl..]);
        self.len += payload;
        self.segs += 1;
        self.next_seq = seq.wrapping_add(payload as u32);
        if payload < self.mss || flags & 0x08 != 0 {
            self.closed = true;
            let f = VNET_HDR_LEN + self.hl + 13;
            self.buf[f] |= flags & 0x08;
        }
        GroPush::Held
    }

    /// The pending frame with its `virtio_net_hdr` (to write to the TUN
    /// device), and the number of segments in it; empties the state.
    pub fn take(&mut self) -> Option<(&[u8], usize)> {
        if self.len == 0 {
            return None;
        }
        let (len, segs) = (self.len, self.segs);
        self.len = 0;
        self.segs = 0;
        let (hl, l4) = (self.hl, self.hl);
        let v6 = self.buf[VNET_HDR_LEN] >> 4 == 6;
        let frame = &mut self.buf[..VNET_HDR_LEN + len];
        let (vnet, pkt) = frame.split_at_mut(VNET_HDR_LEN);
        vnet.fill(0);
        if segs > 1 {
            if v6 {
                pkt[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
            } else {
                pkt[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                ipv4_checksum(&mut pkt[..hl]);
            }
            // Partial checksum: the pseudo-header sum, completed by the kernel.
            let l4len = (len - l4) as u32;
            let mut sum = if v6 {
                csum_add(0, &pkt[8..40])
            } else {
                csum_add(0, &pkt[12..20])
            };
            sum = csum_add(sum, &[0, 6]);
            sum = csum_add(sum, &l4len.to_be_bytes());
            pkt[l4 + 16..l4 + 18].copy_from_slice(&(sum as u16).to_be_bytes());
            vnet[0] = VNET_F_NEEDS_CSUM;
            vnet[1] = if v6 { VNET_GSO_TCPV6 } else { VNET_GSO_TCPV4 };
            vnet[2..4].copy_from_slice(&((hl + self.tcp_hl) as u16).to_le_bytes());
            vnet[4..6].copy_from_slice(&(self.mss as u16).to_le_bytes());
            vnet[6..8].copy_from_slice(&(l4 as u16).to_le_bytes());
            vnet[8..10].copy_from_slice(&16u16.to_le_bytes());
        }
        Some((&self.buf[..VNET_HDR_LEN + len], segs))
    }
}

#[cfg(test)]
mod gro_tests {
    use super::*;

    fn seg(seq: u32, payload: usize, flags: u8) -> Vec<u8> {
        let total = 40 + payload;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[198, 51, 100, 129]);
        p[16..20].copy_from_slice(&[198, 51, 100, 1]);
        ipv4_checksum(&mut p[..20]);
        p[20..22].copy_from_slice(&5201u16.to_be_bytes());
        p[22..24].copy_from_slice(&40000u16.to_be_bytes());
        p[24..28].copy_from_slice(&seq.to_be_bytes());
        p[28..32].copy_from_slice(&77u32.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = flags;
        p[34..36].copy_from_slice(&500u16.to_be_bytes());
        for (i, b) in p[40..].iter_mut().enumerate() {
            *b = (seq as usize + i) as u8;
        }
        let ck = l4_checksum(&p, false, 20, 6);
        p[36..38].copy_from_slice(&ck.to_be_bytes());
        p
    }

    #[test]
    fn coalesces_in_order_segments_and_segments_back() {
        let mut g = Gro::new();
        let segs = [
            seg(1000, 1360, 0x10),
            seg(2360, 1360, 0x10),
            seg(3720, 500, 0x18),
        ];
        for s in &segs {
            assert_eq!(g.push(s), GroPush::Held);
        }
        // Closed after a short segment.
        assert_eq!(g.push(&seg(4220, 1360, 0x10)), GroPush::FlushFirst);
        let (frame, n) = g.take().unwrap();
        assert_eq!(n, 3);
        let frame = frame.to_vec();
        assert!(g.is_empty());
        // The kernel would segment it exactly like our TSO path does.
        let mut out = vec![0u8; 2048];
        let (vnet, pkt) = frame.split_at(VNET_HDR_LEN);
        for (i, s) in segs.iter().enumerate() {
            let n = gso_segment(vnet, pkt, i, &mut out).unwrap();
            let mut got = out[..n].to_vec();
            // IP ids are not restored (they were all 0 here anyway).
            got[4..6].copy_from_slice(&s[4..6]);
            ipv4_checksum(&mut got[..20]);
            assert_eq!(&got, s, "segment {i}");
        }
        assert_eq!(gso_segment(vnet, pkt, 3, &mut out), None);
    }

    #[test]
    fn other_flows_and_gaps_are_not_merged() {
        let mut g = Gro::new();
        assert_eq!(g.push(&seg(1000, 100, 0x10)), GroPush::Held);
        assert_eq!(g.push(&seg(5000, 100, 0x10)), GroPush::FlushFirst, "gap");
        let mut other = seg(1100, 100, 0x10);
        other[22] ^= 1;
        assert_eq!(g.push(&other), GroPush::FlushFirst, "other flow");
        assert_eq!(g.push(&seg(1100, 100, 0x11)), GroPush::FlushFirst, "FIN");
        let (frame, n) = g.take().unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            &frame[..VNET_HDR_LEN],
            &[0; VNET_HDR_LEN],
            "single segment: plain"
        );
        assert_eq!(g.push(&[0x45, 0]), GroPush::Pass);
        assert_eq!(g.push(&seg(1, 0, 0x10)), GroPush::Pass, "pure ACK");
        assert!(g.take().is_none());
    }
}
