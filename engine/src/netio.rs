//! The data plane's operating-system side (Linux): the TUN device, raw IP
//! sockets for ESP/AH/IPComp, and the routes that steer protected traffic
//! into the TUN device.
//!
//! # Routing (strongSwan's table-220 approach)
//!
//! * One rule per family: `ip rule add pref PREF not fwmark MARK lookup TABLE`
//!   (defaults 220 / 0x2a5 / 220). Every socket of the engine sets `SO_MARK`
//!   = MARK, so its own ESP/AH/IPComp, ESP-in-UDP and bypassed packets skip the
//!   table and leave by the normal routes.
//! * For every outbound `ipsec` policy, `ip route replace DST/PREFIX dev TUN
//!   table TABLE`; routes appear and disappear with the policies (before any SA
//!   exists, so the first packet triggers the ACQUIRE).
//! * IKE (UDP 500/4500) that a policy's prefix captures still reaches the TUN
//!   device when racoon's sockets are not marked; the engine sends it back out
//!   unchanged (bypass). A daemon sharing the host should mark its sockets with
//!   [`DEFAULT_FWMARK`] (or the configured mark) to avoid the detour.
//! * Reverse-path filtering: ESP from a peer whose address is routed into the
//!   TUN device (transport mode) fails a strict `rp_filter` check on the
//!   physical interface; use `rp_filter` 0 or 2 (loose) there.
//!
//! Routes are changed by running `ip` (iproute2), off the packet path.
//!
//! # Inbound cleartext
//!
//! Cleartext never passes through the engine, so `require` on an inbound
//! policy is enforced by the host firewall: an nftables table `inet racoon_rs`
//! (hooks input and forward) drops packets matching such a policy's selector
//! unless they come from the TUN device, are ESP/AH/IPComp, or are IKE
//! (UDP 500/4500). Its counters (`nft list table inet racoon_rs`) count those
//! drops. Without `nft` a warning is logged and nothing is enforced.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;

use tokio::io::unix::AsyncFd;
use tracing::{debug, warn};

/// Default firewall mark of the engine's sockets.
pub const DEFAULT_FWMARK: u32 = 0x2a5;
/// Default routing table and rule preference.
pub const DEFAULT_TABLE: u32 = 220;

/// Data-plane I/O settings.
#[derive(Clone, Debug)]
pub struct DataplaneConfig {
    /// TUN device name (created by the engine, removed when it exits).
    pub tun_name: String,
    /// MTU of the TUN device: leaves room for ESP-in-UDP + tunnel overhead on
    /// a 1500-byte link.
    pub mtu: u16,
    pub table: u32,
    pub rule_pref: u32,
    pub fwmark: u32,
    /// Install the rule and per-policy routes (off: the administrator routes).
    pub manage_routes: bool,
    /// Packets the kernel queues for the engine on the TUN device before it
    /// drops (TCP bursts overrun the default 500 while a batch is encrypted).
    pub txqueuelen: u32,
    /// Let the kernel hand over TCP super-packets (TSO) and leave checksums
    /// to us (`IFF_VNET_HDR` + `TUNSETOFFLOAD`); the engine segments them.
    /// Falls back to plain packets when the kernel refuses.
    pub offload: bool,
    /// Own the ESP-in-UDP socket on this port (`ipsecd --udp-encap-port`):
    /// datagrams are read in the data plane (with `UDP_GRO`) and sent in
    /// batches (with UDP GSO). `None`: an embedding daemon owns UDP 4500 and
    /// uses `EngineHandle::udp_encap_input` / `attach_udp_encap`.
    pub udp_encap_port: Option<u16>,
    /// An embedding daemon's IPv4 ESP-in-UDP socket read by the data plane
    /// (same fast path as `udp_encap_port`, which it replaces): ESP is
    /// processed here, IKE goes to [`SharedUdpEncap::non_esp`].
    pub udp_encap_shared: Option<SharedUdpEncap>,
}

/// Receives the IKE datagrams (non-ESP marker) read on a shared ESP-in-UDP
/// socket. Called on the data-plane task: must not block (queue or drop).
pub trait NonEspInput: Send + Sync + 'static {
    /// `data` is the IKE message with the four-byte non-ESP marker
    /// stripped; `local` is the socket's address (or the datagram's
    /// destination for a wildcard socket).
    fn non_esp_input(&self, data: &[u8], local: SocketAddr, remote: SocketAddr);
}

/// A UDP socket that an embedding daemon (racoon) bound and still uses to
/// send its IKE; the data plane reads it (a duplicate descriptor of the same
/// socket) and sends ESP-in-UDP from it with UDP GSO.
#[derive(Clone)]
pub struct SharedUdpEncap {
    pub socket: std::sync::Arc<std::net::UdpSocket>,
    pub non_esp: std::sync::Arc<dyn NonEspInput>,
}

impl std::fmt::Debug for SharedUdpEncap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedUdpEncap({:?})", self.socket.local_addr().ok())
    }
}

impl DataplaneConfig {
    pub fn new(tun_name: impl Into<String>) -> Self {
        DataplaneConfig {
            tun_name: tun_name.into(),
            mtu: 1400,
            table: DEFAULT_TABLE,
            rule_pref: DEFAULT_TABLE,
            fwmark: DEFAULT_FWMARK,
            manage_routes: true,
            txqueuelen: 8192,
            offload: true,
            udp_encap_port: None,
            udp_encap_shared: None,
        }
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn socket(domain: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the fd is owned by the returned OwnedFd.
    let fd =
        cvt(unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, proto) })?;
    // SAFETY: fd is a fresh, valid descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `v` outlives the call; the length matches.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// Marks a socket so its packets skip the engine's routing table.
pub fn set_mark(fd: RawFd, mark: u32) -> io::Result<()> {
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_MARK, mark as libc::c_int)
}

/// Opens `/dev/net/tun` as a TUN device without packet information; with
/// `offload`, with a `virtio_net_hdr` per packet and TSO/checksum offload on.
pub fn open_tun(name: &str, offload: bool) -> io::Result<OwnedFd> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad TUN device name",
        ));
    }
    // SAFETY: the path is a valid C string.
    let fd = cvt(unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    let mut req = IfReq {
        name: [0; 16],
        flags: (libc::IFF_TUN | libc::IFF_NO_PI | if offload { libc::IFF_VNET_HDR } else { 0 })
            as libc::c_short,
        _pad: [0; 22],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: `req` is a properly sized `struct ifreq` for TUNSETIFF.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) })?;
    if offload {
        let f = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
        // SAFETY: TUNSETOFFLOAD takes the flags by value.
        cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETOFFLOAD, f as libc::c_ulong) })?;
    }
    Ok(fd)
}

fn sockaddr(dst: IpAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match dst {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and suitably aligned for sockaddr_in.
            let sin = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        IpAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = a.octets();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

fn sockaddr_port(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    let (mut ss, len) = sockaddr(a.ip());
    let port = a.port().to_be();
    match a {
        // SAFETY: `sockaddr` filled a sockaddr_in / sockaddr_in6 of this family.
        SocketAddr::V4(_) => unsafe {
            (*(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()).sin_port = port
        },
        // SAFETY: as above.
        SocketAddr::V6(_) => unsafe {
            (*(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()).sin6_port =
                port
        },
    }
    (ss, len)
}

fn async_fd(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the descriptor is owned by the OwnedFd moved into the AsyncFd,
    // so it stays open exactly as long as the registration.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| io::Error::other(e.to_string()))
}

/// What a readable descriptor carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Cleartext packets from the host (outbound).
    Tun,
    /// IPv4 IPsec packets with their IP header.
    Raw4,
    /// IPv6 IPsec packets of this protocol, without their IPv6 header (the
    /// engine rebuilds it from the addresses; AH's ICV zeroes the mutable
    /// fields it cannot know).
    Raw6(u8),
    /// ESP-in-UDP (and NAT-T keepalives) on the engine's own UDP socket.
    Udp,
}

/// The data plane's descriptors.
pub struct Net {
    pub(crate) readers: Vec<(AsyncFd<OwnedFd>, Source)>,
    /// The TUN device carries a `virtio_net_hdr` per packet.
    pub(crate) vnet: bool,
    tun: RawFd,
    send4: OwnedFd,
    send6: Option<OwnedFd>,
    /// The engine's own ESP-in-UDP socket (also in `readers`).
    udp: Option<RawFd>,
    /// Local address of `udp` (unspecified IP: use the datagram's).
    pub(crate) udp_local: SocketAddr,
    /// Where IKE read on `udp` goes (a shared socket only).
    pub(crate) non_esp: Option<std::sync::Arc<dyn NonEspInput>>,
    pub(crate) config: DataplaneConfig,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Net({})", self.config.tun_name)
    }
}

impl Net {
    /// Creates the TUN device and the raw sockets, brings the device up and
    /// installs the routing rule. Needs CAP_NET_ADMIN and CAP_NET_RAW.
    pub fn open(config: &DataplaneConfig) -> io::Result<Net> {
        let (tun, vnet) = match open_tun(&config.tun_name, config.offload) {
            Ok(t) => (t, config.offload),
            Err(e) if config.offload => {
                warn!("TUN offload unavailable ({e}); plain packets");
                (open_tun(&config.tun_name, false)?, false)
            }
            Err(e) => return Err(e),
        };
        let tun_raw = tun.as_raw_fd();
        let send4 = socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW)?;
        set_mark(send4.as_raw_fd(), config.fwmark)?;
        let send6 = match socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_RAW) {
            Ok(s) => {
                set_mark(s.as_raw_fd(), config.fwmark)?;
                let _ = setsockopt_int(s.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_HDRINCL, 1);
                Some(s)
            }
            Err(e) => {
                warn!("no IPv6 raw socket: {e}");
                None
            }
        };
        let mut readers = vec![(async_fd(tun)?, Source::Tun)];
        for proto in [50, 51, 108] {
            let s = socket(libc::AF_INET, libc::SOCK_RAW, proto)?;
            set_mark(s.as_raw_fd(), config.fwmark)?;
            // Big receive buffers: bursts arrive while the core is busy.
            let _ = setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20);
            readers.push((async_fd(s)?, Source::Raw4));
        }
        for proto in [50u8, 51, 108] {
            match socket(libc::AF_INET6, libc::SOCK_RAW, libc::c_int::from(proto)) {
                Ok(s) => {
                    set_mark(s.as_raw_fd(), config.fwmark)?;
                    setsockopt_int(s.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
                    let _ =
                        setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20);
                    readers.push((async_fd(s)?, Source::Raw6(proto)));
                }
                Err(e) => debug!("no IPv6 raw socket for {proto}: {e}"),
            }
        }
        let mut udp = None;
        let mut udp_local = SocketAddr::from(([0, 0, 0, 0], config.udp_encap_port.unwrap_or(4500)));
        let mut non_esp = None;
        let sock = match (&config.udp_encap_shared, config.udp_encap_port) {
            (Some(sh), _) => {
                // A duplicate of the daemon's socket: same bound port, same
                // SO_MARK; the daemon keeps sending IKE on its own copy.
                let s = sh.socket.try_clone()?;
                set_mark(s.as_raw_fd(), config.fwmark)?;
                setsockopt_int(s.as_raw_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
                s.set_nonblocking(true)?;
                udp_local = s.local_addr()?;
                if !udp_local.is_ipv4() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "shared ESP-in-UDP socket must be IPv4",
                    ));
                }
                non_esp = Some(sh.non_esp.clone());
                Some(s)
            }
            (None, Some(port)) => Some(bind_udp_encap(port, config.fwmark)?),
            (None, None) => None,
        };
        if let Some(s) = sock {
            // Coalesced receive of a peer's GSO bursts; optional.
            if let Err(e) = setsockopt_int(s.as_raw_fd(), libc::SOL_UDP, libc::UDP_GRO, 1) {
                debug!("no UDP_GRO: {e}");
            }
            let _ = setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20);
            let fd: OwnedFd = s.into();
            udp = Some(fd.as_raw_fd());
            readers.push((async_fd(fd)?, Source::Udp));
        }
        let net = Net {
            readers,
            vnet,
            tun: tun_raw,
            send4,
            send6,
            udp,
            udp_local,
            non_esp,
            config: config.clone(),
        };
        run_ip(&[
            "link",
            "set",
            "dev",
            &config.tun_name,
            "mtu",
            &config.mtu.to_string(),
            "txqueuelen",
            &config.txqueuelen.to_string(),
            "up",
        ])?;
        if config.manage_routes {
            for fam in ["-4", "-6"] {
                let pref = config.rule_pref.to_string();
                // A stale rule from a previous run would be duplicated.
                let _ = run_ip(&[fam, "rule", "del", "pref", &pref]);
                let r = run_ip(&[
                    fam,
                    "rule",
                    "add",
                    "pref",
                    &pref,
                    "not",
                    "fwmark",
                    &format!("{:#x}", config.fwmark),
                    "lookup",
                    &config.table.to_string(),
                ]);
                if let Err(e) = r {
                    if fam == "-4" {
                        return Err(e);
                    }
                    debug!("no IPv6 rule: {e}");
                }
            }
        }
        Ok(net)
    }

    /// Writes a packet to the TUN device (dropped when its queue is full).
    pub fn write_tun(&self, pkt: &[u8]) -> io::Result<()> {
        if self.vnet {
            // A zero header: no GSO, checksums complete.
            let hdr = [0u8; crate::datapath::VNET_HDR_LEN];
            let iov = [
                libc::iovec {
                    iov_base: hdr.as_ptr() as *mut libc::c_void,
                    iov_len: hdr.len(),
                },
                libc::iovec {
                    iov_base: pkt.as_ptr() as *mut libc::c_void,
                    iov_len: pkt.len(),
                },
            ];
            // SAFETY: both iovecs point to live buffers of their lengths.
            return cvt(unsafe { libc::writev(self.tun, iov.as_ptr(), 2) as libc::c_int })
                .map(|_| ());
        }
        // SAFETY: pkt is a valid buffer of pkt.len() bytes.
        cvt(unsafe { libc::write(self.tun, pkt.as_ptr().cast(), pkt.len()) as libc::c_int })
            .map(|_| ())
    }

    /// Writes a frame that already starts with its `virtio_net_hdr`.
    pub fn write_tun_frame(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: frame is a valid buffer of frame.len() bytes.
        cvt(unsafe { libc::write(self.tun, frame.as_ptr().cast(), frame.len()) as libc::c_int })
            .map(|_| ())
    }

    /// The TUN device's descriptor (owned by `readers`).
    pub(crate) fn tun_fd(&self) -> RawFd {
        self.tun
    }

    /// The sockets batched sends go out on.
    pub(crate) fn tx_sockets(&self) -> crate::txbatch::TxSockets {
        crate::txbatch::TxSockets {
            raw4: self.send4.as_raw_fd(),
            raw6: self.send6.as_ref().map(|s| s.as_raw_fd()),
            udp: self.udp,
        }
    }

    /// Whether the engine owns the ESP-in-UDP socket.
    pub fn owns_udp(&self) -> bool {
        self.udp.is_some()
    }

    /// Sends one ESP-in-UDP datagram over the engine's socket.
    pub fn send_udp(&self, data: &[u8], remote: SocketAddr) -> io::Result<()> {
        let fd = self
            .udp
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let (ss, len) = sockaddr_port(remote);
        sendto(fd, data, &ss, len)
    }

    /// Sends a complete IP packet.
    pub fn send_raw(&self, pkt: &[u8], dst: IpAddr) -> io::Result<()> {
        let fd = match dst {
            IpAddr::V4(_) => self.send4.as_raw_fd(),
            IpAddr::V6(_) => self
                .send6
                .as_ref()
                .ok_or_else(|| io::Error::from(io::ErrorKind::Unsupported))?
                .as_raw_fd(),
        };
        let (ss, len) = sockaddr(dst);
        sendto(fd, pkt, &ss, len)
    }

    /// Removes the routing rule and table (the TUN device goes with its descriptor).
    pub fn cleanup(config: &DataplaneConfig) {
        if !config.manage_routes {
            return;
        }
        for fam in ["-4", "-6"] {
            let _ = run_ip(&[fam, "rule", "del", "pref", &config.rule_pref.to_string()]);
            let _ = run_ip(&[fam, "route", "flush", "table", &config.table.to_string()]);
        }
        let _ = run_nft(&nft_script(&config.tun_name, &Default::default()));
    }
}

/// Reads one packet (TUN: the packet; raw IPv4: the packet with its header).
/// One datagram to `ss` (of length `len`) on `fd`.
fn sendto(
    fd: RawFd,
    data: &[u8],
    ss: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> io::Result<()> {
    // SAFETY: valid buffer and sockaddr of the given length.
    let r = unsafe {
        libc::sendto(
            fd,
            data.as_ptr().cast(),
            data.len(),
            0,
            (ss as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub(crate) fn recv(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for buf.len() bytes.
    let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// `recvmmsg`: up to `lens.len()` datagrams into consecutive `slot`-byte
/// slots of `arena`; their lengths go to `lens`. Returns how many were read
/// (`WouldBlock` when none was waiting). A datagram longer than a slot is
/// cut (use a slot of the largest packet the socket can deliver).
pub(crate) fn recv_many(
    fd: RawFd,
    arena: &mut [u8],
    slot: usize,
    lens: &mut [usize],
) -> io::Result<usize> {
    const MAX: usize = 64;
    let n = lens.len().min(MAX).min(arena.len() / slot.max(1));
    // SAFETY: zeroed plain-old-data arrays; every iovec points into `arena`
    // at a disjoint slot within its bounds; all outlive the call.
    let mut iovs: [libc::iovec; MAX] = unsafe { std::mem::zeroed() };
    let mut msgs: [libc::mmsghdr; MAX] = unsafe { std::mem::zeroed() };
    for i in 0..n {
        iovs[i] = libc::iovec {
            iov_base: arena[i * slot..].as_mut_ptr().cast(),
            iov_len: slot,
        };
        msgs[i].msg_hdr.msg_iov = &mut iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: msgs[..n] are initialised above.
    let r = unsafe {
        libc::recvmmsg(
            fd,
            msgs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let r = r as usize;
    for (l, m) in lens.iter_mut().zip(&msgs[..r]) {
        *l = (m.msg_len as usize).min(slot);
    }
    Ok(r)
}

/// Runs `ip ARGS…`; an error carries its stderr.
pub fn run_ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        debug!("ip {}", args.join(" "));
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Brings the routes in `table` to `want` (from `have`): blocking, run off
/// the core. One `ip -force -batch -` per family, so thousands of policies
/// cost two process starts, not thousands.
pub fn sync_routes(
    config: &DataplaneConfig,
    have: &std::collections::BTreeSet<(IpAddr, u8)>,
    want: &std::collections::BTreeSet<(IpAddr, u8)>,
) {
    use std::fmt::Write as _;
    let (mut v4, mut v6) = (String::new(), String::new());
    let ops = have
        .difference(want)
        .map(|r| ("del", r))
        .chain(want.difference(have).map(|r| ("replace", r)));
    for (op, (a, p)) in ops {
        let script = if a.is_ipv4() { &mut v4 } else { &mut v6 };
        let _ = writeln!(
            script,
            "route {op} {a}/{p} dev {} table {}",
            config.tun_name, config.table
        );
    }
    for (fam, script) in [("-4", v4), ("-6", v6)] {
        if script.is_empty() {
            continue;
        }
        if let Err(e) = run_ip_batch(fam, &script) {
            warn!("{e}");
        }
    }
}

fn run_ip_batch(fam: &str, script: &str) -> io::Result<()> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args([fam, "-force", "-batch", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    debug!("ip {fam} -batch: {} commands", script.lines().count());
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {fam} -batch: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The nftables script for the inbound guards (replaces the whole table).
pub fn nft_script(
    tun: &str,
    guards: &std::collections::BTreeSet<crate::datapath::Guard>,
) -> String {
    use std::fmt::Write;
    let rule = |g: &crate::datapath::Guard| {
        let fam = if g.src.0.is_ipv4() { "ip" } else { "ip6" };
        let mut r = format!(
            "    {fam} saddr {}/{} {fam} daddr {}/{}",
            g.src.0, g.src.1, g.dst.0, g.dst.1
        );
        if g.proto != 255 {
            let _ = write!(r, " meta l4proto {}", g.proto);
            if matches!(g.proto, 6 | 17 | 132) {
                if g.sport != 0 {
                    let _ = write!(r, " th sport {}", g.sport);
                }
                if g.dport != 0 {
                    let _ = write!(r, " th dport {}", g.dport);
                }
            }
        }
        r.push_str(" counter drop\n");
        r
    };
    let discard: String = guards.iter().filter(|g| g.discard).map(rule).collect();
    let require: String = guards.iter().filter(|g| !g.discard).map(rule).collect();
    let mut out = String::from("table inet racoon_rs {}\ndelete table inet racoon_rs\n");
    if guards.is_empty() {
        return out;
    }
    out.push_str("table inet racoon_rs {\n");
    for (chain, prio) in [("input", -10), ("forward", -10)] {
        let _ = write!(
            out,
            "  chain {chain} {{\n    type filter hook {chain} priority {prio}; policy accept;\n{discard}    iifname \"{tun}\" accept\n    meta l4proto {{ 50, 51, 108 }} accept\n    udp dport {{ 500, 4500 }} accept\n    udp sport {{ 500, 4500 }} accept\n{require}  }}\n"
        );
    }
    out.push_str("}\n");
    out
}

/// Loads an nftables script (`nft -f -`); blocking.
pub fn run_nft(script: &str) -> io::Result<()> {
    use std::io::Write;
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A UDP socket for ESP-in-UDP owned by the engine (`ipsecd --udp-encap-port`).
pub fn bind_udp_encap(port: u16, mark: u32) -> io::Result<std::net::UdpSocket> {
    let s = std::net::UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], port)))?;
    set_mark(s.as_raw_fd(), mark)?;
    setsockopt_int(s.as_raw_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// `recvmsg` with IP_PKTINFO: (length, sender, local address).
pub fn recv_pktinfo(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    recv_udp(fd, buf).map(|(n, from, local, _)| (n, from, local))
}

/// `recvmsg` with IP_PKTINFO and UDP_GRO: (length, sender, local address,
/// segment size when the kernel coalesced several datagrams of one sender).
pub fn recv_udp(
    fd: RawFd,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<IpAddr>, Option<usize>)> {
    // SAFETY: zeroed plain-old-data structures filled by the kernel; all
    // pointers refer to live locals of the declared sizes.
    unsafe {
        let mut from: libc::sockaddr_in = std::mem::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut cbuf = [0u64; 16];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        let n = libc::recvmsg(fd, &mut msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut local = None;
        let mut seg = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                let pi = libc::CMSG_DATA(c)
                    .cast::<libc::in_pktinfo>()
                    .read_unaligned();
                local = Some(IpAddr::V4(std::net::Ipv4Addr::from(
                    pi.ipi_addr.s_addr.to_ne_bytes(),
                )));
            } else if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                let v = libc::CMSG_DATA(c).cast::<libc::c_int>().read_unaligned();
                seg = usize::try_from(v).ok().filter(|&v| v > 0);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        let ip = std::net::Ipv4Addr::from(from.sin_addr.s_addr.to_ne_bytes());
        let port = u16::from_be(from.sin_port);
        Ok((
            n as usize,
            SocketAddr::new(IpAddr::V4(ip), port),
            local,
            seg,
        ))
    }
}

/// Reads one IPv6 packet from a raw socket into `buf[40..]` and writes an
/// IPv6 header (source, destination from IPV6_PKTINFO, `proto`) in front.
/// Returns the total length.
pub(crate) fn recv6(fd: &OwnedFd, buf: &mut [u8], proto: u8) -> io::Result<usize> {
    if buf.len() < 40 {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    let (hdr, body) = buf.split_at_mut(40);
    let max = body.len().min(0xffff);
    // SAFETY: zeroed plain-old-data structures filled by the kernel; all
    // pointers refer to live locals or to `body`, with their sizes.
    let (n, src, dst) = unsafe {
        let mut from: libc::sockaddr_in6 = std::mem::zeroed();
        let mut iov = libc::iovec {
            iov_base: body.as_mut_ptr().cast(),
            iov_len: max,
        };
        let mut cbuf = [0u64; 16];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut from as *mut libc::sockaddr_in6).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        let n = libc::recvmsg(fd.as_raw_fd(), &mut msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut dst = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == libc::IPV6_PKTINFO {
                let pi = libc::CMSG_DATA(c)
                    .cast::<libc::in6_pktinfo>()
                    .read_unaligned();
                dst = Some(pi.ipi6_addr.s6_addr);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        (n as usize, from.sin6_addr.s6_addr, dst)
    };
    let dst = dst.ok_or_else(|| io::Error::other("no IPV6_PKTINFO"))?;
    hdr.fill(0);
    hdr[0] = 0x60;
    hdr[4..6].copy_from_slice(&(n.min(0xffff) as u16).to_be_bytes());
    hdr[6] = proto;
    hdr[7] = 64;
    hdr[8..24].copy_from_slice(&src);
    hdr[24..40].copy_from_slice(&dst);
    Ok(40 + n.min(0xffff))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::Guard;

    #[test]
    fn recv_many_reads_a_burst_into_slots() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut arena = vec![0u8; 8 * 100];
        let mut lens = [0usize; 8];
        let e = recv_many(rx.as_raw_fd(), &mut arena, 100, &mut lens).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        for i in 0..5u8 {
            tx.send_to(&vec![i; 10 + usize::from(i)], rx.local_addr().unwrap())
                .unwrap();
        }
        tx.send_to(&[9u8; 150], rx.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let k = recv_many(rx.as_raw_fd(), &mut arena, 100, &mut lens).unwrap();
        assert_eq!(k, 6);
        for i in 0..5 {
            assert_eq!(lens[i], 10 + i);
            assert!(arena[i * 100..i * 100 + lens[i]]
                .iter()
                .all(|&b| b == i as u8));
        }
        assert_eq!(lens[5], 100, "cut to the slot");
    }

    #[test]
    fn nft_script_drops_guarded_cleartext_only() {
        let mut g = std::collections::BTreeSet::new();
        assert_eq!(
            nft_script("ipsec0", &g),
            "table inet racoon_rs {}\ndelete table inet racoon_rs\n"
        );
        g.insert(Guard {
            src: ("198.51.100.128".parse().unwrap(), 25),
            dst: ("198.51.100.0".parse().unwrap(), 25),
            proto: 6,
            sport: 0,
            dport: 22,
            discard: false,
        });
        g.insert(Guard {
            src: ("2001:db8:b::".parse().unwrap(), 64),
            dst: ("2001:db8:a::".parse().unwrap(), 64),
            proto: 255,
            sport: 0,
            dport: 0,
            discard: false,
        });
        g.insert(Guard {
            src: ("203.0.113.0".parse().unwrap(), 24),
            dst: ("198.51.100.0".parse().unwrap(), 25),
            proto: 255,
            sport: 0,
            dport: 0,
            discard: true,
        });
        let s = nft_script("ipsec0", &g);
        // Discard comes before the accepts (even protected traffic is dropped).
        let d = s.find("ip saddr 203.0.113.0/24").unwrap();
        assert!(d < s.find("iifname").unwrap(), "{s}");
        assert!(s.contains("ip saddr 198.51.100.128/25 ip daddr 198.51.100.0/25 meta l4proto 6 th dport 22 counter drop"), "{s}");
        assert!(
            s.contains("ip6 saddr 2001:db8:b::/64 ip6 daddr 2001:db8:a::/64 counter drop"),
            "{s}"
        );
        assert!(s.contains("iifname \"ipsec0\" accept"));
        assert_eq!(s.matches("counter drop").count(), 6, "input and forward");
    }
}
