//! UDP sockets on the IKE (500) and NAT-T (4500) ports, and the
//! demultiplexing of port 4500 (RFC 3948): a datagram starting with the
//! four-byte non-ESP marker is IKE (marker stripped, to the core), a single
//! 0xff byte is a NAT-T keepalive (ignored), anything else is ESP-in-UDP
//! and goes to the engine's data plane through [`EspInput`].
//!
//! With the embedded data plane up and a single IPv4 NAT-T socket, that
//! socket is read by the data plane instead (UDP_GRO, batches; ESP-in-UDP
//! leaves from it with UDP GSO): it hands IKE back, marker stripped, through
//! [`IkeFromEngine`] and counts keepalives itself; racoon still sends its IKE
//! (with the marker) on the same socket.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// The non-ESP marker.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_535;

/// Where ESP-in-UDP datagrams received on a NAT-T socket go. The engine's
/// data plane implements this (`EngineHandle::udp_encap_input`); until it
/// is wired in, [`CountAndDrop`] counts them.
pub trait EspInput: Send + Sync + 'static {
    fn esp_input(&self, data: &[u8], local: SocketAddr, remote: SocketAddr);
}

pub use engine::io::UdpEncapTx;

/// ESP-in-UDP into the embedded engine's data plane.
pub struct EngineEsp(pub Arc<engine::io::EngineHandle>);

impl EspInput for EngineEsp {
    fn esp_input(&self, data: &[u8], local: SocketAddr, remote: SocketAddr) {
        self.0.udp_encap_input(data, local, remote);
    }
}

/// IKE read by the embedded data plane on a NAT-T socket it owns (marker
/// already stripped): queued for the core without blocking the data plane;
/// a full queue drops, counted in [`Stats::ike_dropped`].
pub struct IkeFromEngine {
    pub ike: mpsc::Sender<Datagram>,
    pub stats: Arc<Stats>,
}

impl engine::netio::NonEspInput for IkeFromEngine {
    fn non_esp_input(&self, data: &[u8], local: SocketAddr, remote: SocketAddr) {
        self.stats.ike.fetch_add(1, Ordering::Relaxed);
        let dg = Datagram {
            local,
            remote,
            data: data.to_vec(),
            received: std::time::Instant::now(),
        };
        if self.ike.try_send(dg).is_err() {
            self.stats.ike_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Set SO_MARK so the engine's policy routes do not capture our own
/// IKE and ESP-in-UDP packets (needs CAP_NET_ADMIN).
pub fn set_mark(s: &Sock, mark: u32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let v = mark as libc::c_int;
    // SAFETY: valid fd and option pointer/length.
    let rc = unsafe {
        libc::setsockopt(
            s.tx.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MARK,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Counts ESP-in-UDP datagrams and drops them.
#[derive(Debug, Default)]
pub struct CountAndDrop(pub AtomicU64);

impl EspInput for CountAndDrop {
    fn esp_input(&self, _: &[u8], _: SocketAddr, _: SocketAddr) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a datagram on a given socket is.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    Ike(&'a [u8]),
    Esp(&'a [u8]),
    Keepalive,
    Junk,
}

/// Classify a datagram received on a NAT-T (`natt`) or plain IKE socket.
pub fn classify(natt: bool, data: &[u8]) -> Kind<'_> {
    if data == [0xff] {
        return Kind::Keepalive;
    }
    if !natt {
        return if data.is_empty() {
            Kind::Junk
        } else {
            Kind::Ike(data)
        };
    }
    match data.get(..4) {
        Some(m) if m == NON_ESP_MARKER => Kind::Ike(&data[4..]),
        // ESP needs at least SPI + sequence number.
        Some(_) if data.len() >= 8 => Kind::Esp(data),
        _ => Kind::Junk,
    }
}

/// One bound socket.
#[derive(Clone, Debug)]
pub struct Sock {
    pub local: SocketAddr,
    pub natt: bool,
    /// Receiving side (tokio).
    pub sock: Arc<UdpSocket>,
    /// Sending side: a duplicate of the same non-blocking socket, usable
    /// from synchronous code (tokio's `try_send_to` refuses to send until
    /// the reactor has seen the socket writable).
    pub tx: Arc<std::net::UdpSocket>,
}

/// An IKE datagram for the core.
#[derive(Debug)]
pub struct Datagram {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub data: Vec<u8>,
    /// When it was received (queueing delay drives load shedding).
    pub received: std::time::Instant,
}

/// Counters shown in the shutdown log line.
#[derive(Debug, Default)]
pub struct Stats {
    pub ike: AtomicU64,
    pub keepalives: AtomicU64,
    pub junk: AtomicU64,
    /// IKE from the data plane dropped on a full core queue.
    pub ike_dropped: AtomicU64,
}

/// Bind one socket (IPv6 sockets are v6-only so 0.0.0.0 and :: can coexist).
pub fn bind(addr: SocketAddr, natt: bool) -> std::io::Result<Sock> {
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let std_sock = {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket(2); the fd is owned by the UdpSocket below.
        let fd = unsafe {
            libc::socket(
                domain,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, valid socket we own.
        let s = unsafe { std::net::UdpSocket::from_raw_fd(fd) };
        if addr.is_ipv6() {
            let on: libc::c_int = 1;
            // SAFETY: valid fd and option pointer/length.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_V6ONLY,
                    (&on as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        s
    };
    let s2 = socket_bind(std_sock, addr)?;
    let tx = s2.try_clone()?;
    let sock = UdpSocket::from_std(s2)?;
    let local = sock.local_addr()?;
    Ok(Sock {
        local,
        natt,
        sock: Arc::new(sock),
        tx: Arc::new(tx),
    })
}

fn socket_bind(s: std::net::UdpSocket, addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use std::os::fd::AsRawFd;
    let fd = s.as_raw_fd();
    let rc = match addr {
        SocketAddr::V4(a) => {
            let sa = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: valid fd and a sockaddr_in of the given size.
            unsafe {
                libc::bind(
                    fd,
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(a) => {
            let sa = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: valid fd and a sockaddr_in6 of the given size.
            unsafe {
                libc::bind(
                    fd,
                    (&sa as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(s)
}

/// Every address configured on an interface (racoon's behaviour without a
/// `listen` block). Link-local IPv6 addresses keep their scope.
pub fn interface_addrs() -> Vec<SocketAddr> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills ifap with a list we free below; we only read
    // sockaddrs whose family says what they are.
    unsafe {
        if libc::getifaddrs(&mut ifap) != 0 {
            return out;
        }
        let mut p = ifap;
        while !p.is_null() {
            let a = (*p).ifa_addr;
            if !a.is_null() {
                match i32::from((*a).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(a as *const libc::sockaddr_in);
                        let ip = std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                        out.push(SocketAddr::new(IpAddr::V4(ip), 0));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(a as *const libc::sockaddr_in6);
                        let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                        out.push(SocketAddr::V6(std::net::SocketAddrV6::new(
                            ip,
                            0,
                            0,
                            sin6.sin6_scope_id,
                        )));
                    }
                    _ => {}
                }
            }
            p = (*p).ifa_next;
        }
        libc::freeifaddrs(ifap);
    }
    out.sort_by_key(|a| (a.is_ipv6(), a.ip()));
    out.dedup();
    out
}

/// Receive loop of one socket: IKE to `ike`, ESP to `esp`.
pub async fn recv_task(
    s: Sock,
    ike: mpsc::Sender<Datagram>,
    esp: Arc<dyn EspInput>,
    stats: Arc<Stats>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, remote) = match s.sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors (ECONNREFUSED …) surface here; keep going.
                debug!("recv on {}: {e}", s.local);
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                continue;
            }
        };
        match classify(s.natt, &buf[..n]) {
            Kind::Ike(d) => {
                stats.ike.fetch_add(1, Ordering::Relaxed);
                let dg = Datagram {
                    local: s.local,
                    remote,
                    data: d.to_vec(),
                    received: std::time::Instant::now(),
                };
                // A full queue drops, as a full socket buffer would.
                if let Err(mpsc::error::TrySendError::Closed(_)) = ike.try_send(dg) {
                    break;
                }
            }
            Kind::Esp(d) => esp.esp_input(d, s.local, remote),
            Kind::Keepalive => {
                stats.keepalives.fetch_add(1, Ordering::Relaxed);
            }
            Kind::Junk => {
                stats.junk.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Pick the socket to send from: exact local address, else a socket of the
/// same kind bound to the same port on the wildcard address.
pub fn pick(socks: &[Sock], local: SocketAddr, natt: Option<bool>) -> Option<&Sock> {
    let ok_kind = |s: &Sock| natt.map_or(true, |n| s.natt == n);
    socks
        .iter()
        .find(|s| s.local == local && ok_kind(s))
        .or_else(|| {
            socks.iter().find(|s| {
                s.local.port() == local.port()
                    && s.local.ip().is_unspecified()
                    && s.local.is_ipv4() == local.is_ipv4()
                    && ok_kind(s)
            })
        })
}

/// Send an IKE message; on a NAT-T socket the non-ESP marker is prepended.
pub fn send_ike(socks: &[Sock], local: SocketAddr, remote: SocketAddr, data: &[u8]) {
    let Some(s) = pick(socks, local, None) else {
        warn!(
            "no socket bound to {local}; dropping {} bytes to {remote}",
            data.len()
        );
        return;
    };
    // A NAT-T keepalive (a single 0xff) never carries the marker.
    let r = if s.natt && data != [0xff] {
        let mut b = Vec::with_capacity(data.len() + 4);
        b.extend_from_slice(&NON_ESP_MARKER);
        b.extend_from_slice(data);
        s.tx.send_to(&b, remote)
    } else {
        s.tx.send_to(data, remote)
    };
    if let Err(e) = r {
        debug!("send to {remote}: {e}");
    }
}

/// The ESP-in-UDP sender given to the data plane: sends from the NAT-T
/// socket bound to `local`.
pub struct EncapSender {
    pub socks: Vec<Sock>,
}

impl UdpEncapTx for EncapSender {
    fn send_to(&self, data: &[u8], local: SocketAddr, remote: SocketAddr) -> std::io::Result<()> {
        let s = pick(&self.socks, local, Some(true)).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                format!("no NAT-T socket on {local}"),
            )
        })?;
        s.tx.send_to(data, remote).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demux() {
        assert_eq!(classify(true, &[0xff]), Kind::Keepalive);
        assert_eq!(classify(false, &[0xff]), Kind::Keepalive);
        assert_eq!(classify(true, &[0, 0, 0, 0, 1, 2]), Kind::Ike(&[1, 2]));
        assert_eq!(
            classify(true, &[0, 0, 1, 0, 0, 0, 0, 1]),
            Kind::Esp(&[0, 0, 1, 0, 0, 0, 0, 1])
        );
        assert_eq!(classify(true, &[1, 2, 3]), Kind::Junk);
        assert_eq!(classify(true, &[1, 2, 3, 4, 5]), Kind::Junk);
        assert_eq!(classify(true, &[]), Kind::Junk);
        assert_eq!(classify(false, &[]), Kind::Junk);
        // On port 500 a marker-looking prefix is just IKE data.
        assert_eq!(classify(false, &[0, 0, 0, 0]), Kind::Ike(&[0, 0, 0, 0]));
    }

    #[tokio::test]
    async fn marker_added_on_natt_and_esp_counted() {
        let ike = bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let natt = bind("127.0.0.1:0".parse().unwrap(), true).unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let socks = vec![ike.clone(), natt.clone()];
        send_ike(&socks, natt.local, peer.local_addr().unwrap(), b"hello");
        let mut b = [0u8; 64];
        let (n, from) = peer.recv_from(&mut b).await.unwrap();
        assert_eq!(&b[..n], b"\0\0\0\0hello");
        assert_eq!(from, natt.local);
        send_ike(&socks, ike.local, peer.local_addr().unwrap(), b"plain");
        let (n, _) = peer.recv_from(&mut b).await.unwrap();
        assert_eq!(&b[..n], b"plain");
        // ESP-in-UDP sender uses the NAT-T socket only.
        let tx = EncapSender {
            socks: socks.clone(),
        };
        tx.send_to(b"espespesp", natt.local, peer.local_addr().unwrap())
            .unwrap();
        let (n, from) = peer.recv_from(&mut b).await.unwrap();
        assert_eq!((&b[..n], from), (&b"espespesp"[..], natt.local));
        assert!(tx
            .send_to(b"x", ike.local, peer.local_addr().unwrap())
            .is_err());

        // Receive side: IKE reaches the channel without marker, ESP is counted.
        let (itx, mut irx) = mpsc::channel(8);
        let esp = Arc::new(CountAndDrop::default());
        let stats = Arc::new(Stats::default());
        let t = tokio::spawn(recv_task(natt.clone(), itx, esp.clone(), stats.clone()));
        peer.send_to(&[0xff], natt.local).await.unwrap();
        peer.send_to(&[1, 2, 3, 4, 5, 6, 7, 8], natt.local)
            .await
            .unwrap();
        peer.send_to(b"\0\0\0\0ike!", natt.local).await.unwrap();
        let d = irx.recv().await.unwrap();
        assert_eq!(d.data, b"ike!");
        assert_eq!(d.remote, peer.local_addr().unwrap());
        assert_eq!(esp.0.load(Ordering::Relaxed), 1);
        assert_eq!(stats.keepalives.load(Ordering::Relaxed), 1);
        t.abort();
    }

    #[tokio::test]
    async fn ike_from_engine_queues_then_drops_when_full() {
        use engine::netio::NonEspInput;
        let (tx, mut rx) = mpsc::channel(1);
        let stats = Arc::new(Stats::default());
        let sink = IkeFromEngine {
            ike: tx,
            stats: stats.clone(),
        };
        let l: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let r: SocketAddr = "192.0.2.2:4500".parse().unwrap();
        sink.non_esp_input(b"one", l, r);
        sink.non_esp_input(b"two", l, r);
        let d = rx.recv().await.unwrap();
        assert_eq!((&d.data[..], d.local, d.remote), (&b"one"[..], l, r));
        assert_eq!(stats.ike.load(Ordering::Relaxed), 2);
        assert_eq!(stats.ike_dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn lists_loopback() {
        let a = interface_addrs();
        assert!(a.iter().any(|a| a.ip().is_loopback()), "{a:?}");
    }
}
