//! Batched sending of the data plane's outer packets.
//!
//! Per packet, a `sendto` on a raw socket costs more than encrypting it
//! (syscall entry, route lookup, and on a veth the receiver's softirq all run
//! in the sender's context). The core therefore queues the packets of one read
//! batch (one TSO super-packet cut into segments, or up to 64 reads) here and
//! sends them together:
//!
//! * raw IPv4/IPv6 packets with one `sendmmsg` per run of the same family;
//! * ESP-in-UDP over the engine's own UDP socket with UDP GSO
//!   (`UDP_SEGMENT`): consecutive datagrams to the same peer with the same
//!   size (the last of a run may be shorter) leave as one GSO send, which
//!   the kernel cuts (or the peer's kernel receives whole with `UDP_GRO`).
//!
//! The packets are copied into a preallocated arena (a 1.5 KB copy is far
//! cheaper than the syscall it saves); nothing is allocated per packet.
//! Packets larger than a slot are sent on their own, in order.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;

/// Packets queued before a flush.
pub const SLOTS: usize = 64;
/// Largest packet queued (bigger ones are sent at once).
pub const SLOT: usize = 2048;
/// Most bytes in one UDP GSO send (one IP datagram's payload).
const GSO_MAX_BYTES: usize = 65_000;
/// Most segments in one UDP GSO send (the kernel's `UDP_MAX_SEGMENTS` is 128).
const GSO_MAX_SEGS: usize = 64;

/// Where a queued packet goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxTo {
    /// A whole IP packet, over the raw socket of its family.
    Raw(IpAddr),
    /// An ESP-in-UDP payload, over the engine's UDP socket.
    Udp(SocketAddr),
}

#[derive(Clone, Copy)]
struct Item {
    len: usize,
    to: TxTo,
    /// Ready to send. A packet whose encryption is deferred to the batch
    /// (`xform::EspSa::finish_batch`) is queued unsealed; a flush never sends
    /// an unsealed packet (it is counted as failed).
    sealed: bool,
}

/// The sockets a flush sends on.
#[derive(Clone, Copy, Debug)]
pub struct TxSockets {
    pub raw4: RawFd,
    pub raw6: Option<RawFd>,
    pub udp: Option<RawFd>,
}

/// Outcome counters of a flush.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    pub packets: usize,
    pub failed: usize,
}

/// One worker's send queue.
pub struct TxBatch {
    arena: Box<[u8]>,
    items: Vec<Item>,
    /// Message boundaries of the current flush (reused).
    groups: Vec<(usize, usize, usize)>,
    /// Deferred encryption: (arena offset of the ESP header, what to finish)
    /// and the slot it is in; `runs` cut them into per-SA runs
    /// (first job, SA, its keys: `None` = gone, the run is never sealed).
    jobs: Vec<(usize, xform::Deferred)>,
    job_slots: Vec<usize>,
    runs: Vec<(usize, crate::sad::SaKey, Option<xform::Sealer>)>,
    /// UDP GSO works (cleared after the kernel refused it once).
    pub udp_gso: bool,
    /// Syscalls made (for tests and statistics).
    pub syscalls: u64,
}

impl Default for TxBatch {
    fn default() -> Self {
        TxBatch::new()
    }
}

impl std::fmt::Debug for TxBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TxBatch({} queued)", self.items.len())
    }
}

fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let sin = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// Control-message space for one `UDP_SEGMENT` (a u16), 8-byte aligned.
const CMSG_SPACE: usize = 24;

impl TxBatch {
    pub fn new() -> TxBatch {
        TxBatch {
            arena: vec![0u8; SLOTS * SLOT].into_boxed_slice(),
            items: Vec::with_capacity(SLOTS),
            groups: Vec::with_capacity(SLOTS),
            jobs: Vec::with_capacity(SLOTS),
            job_slots: Vec::with_capacity(SLOTS),
            runs: Vec::with_capacity(SLOTS),
            udp_gso: true,
            syscalls: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.items.len() == SLOTS
    }

    /// Queues a copy of `pkt` and returns its slot (it starts at
    /// `slot * SLOT` in [`TxBatch::arena_mut`]); `None` (nothing queued) when
    /// the batch is full or the packet does not fit a slot: flush, then send
    /// it on its own. `sealed = false`: see [`TxBatch::seal`].
    pub fn push(&mut self, pkt: &[u8], to: TxTo, sealed: bool) -> Option<usize> {
        if self.is_full() || pkt.len() > SLOT {
            return None;
        }
        let slot = self.items.len();
        let off = slot * SLOT;
        self.arena[off..off + pkt.len()].copy_from_slice(pkt);
        self.items.push(Item {
            len: pkt.len(),
            to,
            sealed,
        });
        Some(slot)
    }

    /// Marks a packet queued unsealed as ready (its encryption is done).
    pub fn seal(&mut self, slot: usize) {
        if let Some(i) = self.items.get_mut(slot) {
            i.sealed = true;
        }
    }

    /// The slots, for finishing deferred packets in place.
    pub fn arena_mut(&mut self) -> &mut [u8] {
        &mut self.arena
    }

    /// Records that the unsealed packet in `slot` holds an ESP packet of SA
    /// `key` at `off` whose encryption is deferred; the flush encrypts the
    /// batch's packets of each SA together (`sealer` is asked once per run of
    /// one SA) and seals them.
    pub fn defer(
        &mut self,
        slot: usize,
        off: usize,
        d: xform::Deferred,
        key: crate::sad::SaKey,
        sealer: impl FnOnce() -> Option<xform::Sealer>,
    ) {
        if slot >= self.items.len() || off > SLOT {
            return; // stays unsealed: dropped by the flush
        }
        if !self.runs.last().is_some_and(|r| r.1 == key) {
            self.runs.push((self.jobs.len(), key, sealer()));
        }
        self.jobs.push((slot * SLOT + off, d));
        self.job_slots.push(slot);
    }

    /// Whether raw IP packets are queued (sent one `sendmmsg` message each,
    /// the expensive kind for the kernel).
    pub fn has_raw(&self) -> bool {
        self.items.iter().any(|i| matches!(i.to, TxTo::Raw(_)))
    }

    /// Encrypts the deferred packets (per SA run) and seals them (else done
    /// by the flush).
    pub fn seal_deferred(&mut self) {
        for r in 0..self.runs.len() {
            let a = self.runs[r].0;
            let b = self.runs.get(r + 1).map_or(self.jobs.len(), |n| n.0);
            let ok = match &self.runs[r].2 {
                Some(s) => s.finish_batch(&mut self.arena, &self.jobs[a..b]).is_ok(),
                None => false,
            };
            if ok {
                for k in a..b {
                    let slot = self.job_slots[k];
                    self.items[slot].sealed = true;
                }
            }
        }
        self.runs.clear();
        self.jobs.clear();
        self.job_slots.clear();
    }

    fn slot(&self, i: usize) -> &[u8] {
        &self.arena[i * SLOT..i * SLOT + self.items[i].len]
    }

    /// Sends everything queued and empties the queue. A packet the kernel
    /// refuses is skipped and counted in `failed` (the caller counts the drop).
    pub fn flush(&mut self, s: &TxSockets) -> Sent {
        let mut sent = Sent::default();
        self.seal_deferred();
        let mut i = 0;
        while i < self.items.len() {
            if !self.items[i].sealed {
                // Never send what was not encrypted.
                sent.failed += 1;
                i += 1;
                continue;
            }
            let to = self.items[i].to;
            // A run of ready packets that go out over the same socket.
            let same = |it: &Item| {
                it.sealed
                    && match (to, it.to) {
                        (TxTo::Raw(a), TxTo::Raw(b)) => a.is_ipv4() == b.is_ipv4(),
                        (TxTo::Udp(_), TxTo::Udp(_)) => true,
                        _ => false,
                    }
            };
            let mut j = i + 1;
            while j < self.items.len() && same(&self.items[j]) {
                j += 1;
            }
            let r = match to {
                TxTo::Raw(IpAddr::V4(_)) => self.send_mmsg(s.raw4, i, j, false),
                TxTo::Raw(IpAddr::V6(_)) => match s.raw6 {
                    Some(fd) => self.send_mmsg(fd, i, j, false),
                    None => Sent {
                        packets: 0,
                        failed: j - i,
                    },
                },
                TxTo::Udp(_) => match s.udp {
                    Some(fd) => self.send_mmsg(fd, i, j, self.udp_gso),
                    None => Sent {
                        packets: 0,
                        failed: j - i,
                    },
                },
            };
            sent.packets += r.packets;
            sent.failed += r.failed;
            i = j;
        }
        self.items.clear();
        sent
    }

    /// Groups items `[i, j)` into messages: one per packet, or with `gso` one
    /// per run of same-peer datagrams of equal size (last one may be shorter).
    /// Returns the message boundaries as (first item, end item, segment size).
    fn groups(&self, i: usize, j: usize, gso: bool, out: &mut Vec<(usize, usize, usize)>) {
        out.clear();
        let mut k = i;
        while k < j {
            let seg = self.items[k].len;
            let mut e = k + 1;
            if gso {
                let mut bytes = seg;
                while e < j
                    && e - k < GSO_MAX_SEGS
                    && self.items[e].to == self.items[k].to
                    && self.items[e].len <= seg
                    && bytes + self.items[e].len <= GSO_MAX_BYTES
                {
                    bytes += self.items[e].len;
                    e += 1;
                    if self.items[e - 1].len < seg {
                        break; // a shorter datagram ends the run
                    }
                }
            }
            out.push((k, e, seg));
            k = e;
        }
    }

    fn send_mmsg(&mut self, fd: RawFd, i: usize, j: usize, gso: bool) -> Sent {
        let mut groups = std::mem::take(&mut self.groups);
        self.groups(i, j, gso, &mut groups);
        let sent = self.send_groups(fd, i, j, &groups);
        self.groups = groups;
        sent
    }

    fn send_groups(
        &mut self,
        fd: RawFd,
        i: usize,
        j: usize,
        groups: &[(usize, usize, usize)],
    ) -> Sent {
        let n = groups.len();
        // SAFETY (all of the below): plain-old-data arrays filled here; every
        // pointer refers to `self.arena` or to these locals, which outlive the
        // sendmmsg call.
        let mut names: [libc::sockaddr_storage; SLOTS] = unsafe { std::mem::zeroed() };
        let mut iovs: [libc::iovec; SLOTS] = unsafe { std::mem::zeroed() };
        let mut cmsgs = [[0u64; CMSG_SPACE / 8]; SLOTS];
        let mut msgs: [libc::mmsghdr; SLOTS] = unsafe { std::mem::zeroed() };
        for k in i..j {
            let p = self.slot(k);
            iovs[k - i] = libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            };
        }
        for (g, &(a, b, seg)) in groups.iter().enumerate() {
            let addr = match self.items[a].to {
                TxTo::Raw(ip) => SocketAddr::new(ip, 0),
                TxTo::Udp(sa) => sa,
            };
            let (ss, len) = sockaddr(addr);
            names[g] = ss;
            let h = &mut msgs[g].msg_hdr;
            h.msg_name = (&mut names[g] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = len;
            h.msg_iov = &mut iovs[a - i];
            h.msg_iovlen = b - a;
            if b - a > 1 {
                let c = cmsgs[g].as_mut_ptr().cast::<u8>();
                h.msg_control = c.cast();
                // SAFETY: the buffer holds CMSG_SPACE(2) bytes, 8-aligned.
                unsafe {
                    h.msg_controllen = libc::CMSG_SPACE(2) as _;
                    let cm = libc::CMSG_FIRSTHDR(h);
                    (*cm).cmsg_level = libc::SOL_UDP;
                    (*cm).cmsg_type = libc::UDP_SEGMENT;
                    (*cm).cmsg_len = libc::CMSG_LEN(2) as _;
                    libc::CMSG_DATA(cm)
                        .cast::<u16>()
                        .write_unaligned(seg as u16);
                }
            }
        }
        let mut sent = Sent::default();
        let mut g = 0;
        while g < n {
            self.syscalls += 1;
            // SAFETY: msgs[g..n] are initialised above.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    msgs[g..].as_mut_ptr(),
                    (n - g) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if r > 0 {
                for &(a, b, _) in &groups[g..g + r as usize] {
                    sent.packets += b - a;
                }
                g += r as usize;
                continue;
            }
            // The message at `g` failed (r < 0: its error).
            let err = io::Error::last_os_error();
            let (a, b, _) = groups[g];
            if b - a > 1 && matches!(err.raw_os_error(), Some(libc::EIO | libc::EINVAL)) {
                // No UDP GSO here (old kernel, or a device without checksum
                // offload): fall back to one datagram per message.
                tracing::debug!("UDP GSO refused ({err}); sending datagrams one by one");
                self.udp_gso = false;
                let rest = groups[g].0;
                let mut single = Vec::with_capacity(j - rest);
                self.groups(rest, j, false, &mut single);
                let r = self.send_groups(fd, i, j, &single);
                sent.packets += r.packets;
                sent.failed += r.failed;
                return sent;
            }
            tracing::debug!("data plane send: {err}");
            sent.failed += b - a;
            g += 1;
        }
        sent
    }
}

/// Batches in flight per [`SendThread`] (plus the one being filled).
const POOL: usize = 4;

/// A thread that sends full batches, so the kernel's per-packet send path
/// (route lookup, IP output, and on a veth the receiver's softirq) runs in
/// parallel with the packet path instead of after it. Batches are sent in the
/// order they are handed over; the core gets an empty one back (it waits
/// when all `POOL` batches are in flight: back-pressure, never a drop).
pub struct SendThread {
    full: Option<std::sync::mpsc::SyncSender<TxBatch>>,
    empty: std::sync::mpsc::Receiver<TxBatch>,
    made: usize,
    failed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    socks: TxSockets,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SendThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SendThread({} batches)", self.made)
    }
}

impl SendThread {
    /// Starts the thread. The descriptors in `socks` must stay open until the
    /// `SendThread` is dropped (dropping it joins the thread).
    pub fn spawn(socks: TxSockets) -> io::Result<SendThread> {
        use std::sync::atomic::Ordering;
        let (full, rx) = std::sync::mpsc::sync_channel::<TxBatch>(POOL);
        let (back, empty) = std::sync::mpsc::sync_channel::<TxBatch>(POOL + 1);
        let failed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let f = failed.clone();
        let handle = std::thread::Builder::new()
            .name("ipsec-tx".into())
            .spawn(move || {
                while let Ok(mut b) = rx.recv() {
                    let r = b.flush(&socks);
                    if r.failed > 0 {
                        f.fetch_add(r.failed as u64, Ordering::Relaxed);
                    }
                    if back.send(b).is_err() {
                        break;
                    }
                }
            })?;
        Ok(SendThread {
            full: Some(full),
            empty,
            made: 1,
            failed,
            socks,
            handle: Some(handle),
        })
    }

    /// Hands the (sealed) batch in `cur` to the thread and puts an empty one
    /// in its place.
    pub fn submit(&mut self, cur: &mut TxBatch) {
        let mut next = match self.empty.try_recv() {
            Ok(b) => b,
            Err(_) if self.made < POOL + 1 => {
                self.made += 1;
                TxBatch::new()
            }
            Err(_) => self.empty.recv().unwrap_or_default(),
        };
        std::mem::swap(cur, &mut next);
        if let Some(tx) = &self.full {
            match tx.send(next) {
                Ok(()) => return,
                Err(e) => next = e.0,
            }
        }
        // The thread is gone: send here.
        let r = next.flush(&self.socks);
        self.failed
            .fetch_add(r.failed as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Packets the thread could not send since the last call.
    pub fn take_failed(&self) -> u64 {
        self.failed.swap(0, std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for SendThread {
    fn drop(&mut self) {
        self.full = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn udp(to: u16) -> TxTo {
        TxTo::Udp(SocketAddr::from(([127, 0, 0, 1], to)))
    }

    #[test]
    fn groups_cut_runs_by_peer_size_and_limits() {
        let mut b = TxBatch::new();
        for len in [1000, 1000, 1000, 400, 1000, 1000] {
            assert!(b.push(&vec![7u8; len], udp(1), true).is_some());
        }
        assert_eq!(b.push(&[1u8; 1000], udp(2), true), Some(6));
        let mut g = Vec::new();
        b.groups(0, b.len(), true, &mut g);
        // 3 x 1000 + the shorter 400 end one run; then 2 x 1000; then another peer.
        assert_eq!(g, vec![(0, 4, 1000), (4, 6, 1000), (6, 7, 1000)]);
        b.groups(0, b.len(), false, &mut g);
        assert_eq!(g.len(), 7);
        // 64 KB per send at most.
        let mut b = TxBatch::new();
        for _ in 0..SLOTS {
            assert!(b.push(&[0u8; 1500], udp(1), true).is_some());
        }
        assert!(b.push(&[0u8; 10], udp(1), true).is_none(), "full");
        b.groups(0, b.len(), true, &mut g);
        assert!(g.iter().all(|&(a, e, s)| (e - a) * s <= GSO_MAX_BYTES));
        assert_eq!(g.iter().map(|&(a, e, _)| e - a).sum::<usize>(), SLOTS);
        assert!(
            TxBatch::new()
                .push(&vec![0u8; SLOT + 1], udp(1), true)
                .is_none(),
            "too big"
        );
    }

    #[test]
    fn send_thread_keeps_order_and_never_sends_unsealed() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = TxTo::Udp(rx.local_addr().unwrap());
        let socks = TxSockets {
            raw4: -1,
            raw6: None,
            udp: Some(tx.as_raw_fd()),
        };
        let mut st = SendThread::spawn(socks).unwrap();
        let mut cur = TxBatch::new();
        // 10 batches of 3 (more than the pool: the core waits, nothing lost).
        for b in 0..10u8 {
            for k in 0..3u8 {
                assert!(cur.push(&[b, k], to, k != 2).is_some());
            }
            st.submit(&mut cur);
            assert!(cur.is_empty());
        }
        let mut buf = [0u8; 16];
        for b in 0..10u8 {
            for k in 0..2u8 {
                let n = rx.recv(&mut buf).unwrap();
                assert_eq!(&buf[..n], &[b, k]);
            }
        }
        drop(st.full.take()); // let the thread finish its queue
        if let Some(h) = st.handle.take() {
            h.join().unwrap();
        }
        assert_eq!(st.take_failed(), 10, "one unsealed packet per batch");
        rx.set_nonblocking(true).unwrap();
        assert!(rx.recv(&mut buf).is_err());
    }

    #[test]
    fn udp_gso_arrives_as_the_same_datagrams() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = TxTo::Udp(rx.local_addr().unwrap());
        let mut b = TxBatch::new();
        let sizes = [1200usize, 1200, 1200, 300, 1200, 77];
        for (i, &n) in sizes.iter().enumerate() {
            // Packet 1 is queued unsealed, then sealed (as after finish_batch).
            assert_eq!(b.push(&vec![i as u8; n], to, i != 1), Some(i));
        }
        b.seal(1);
        let socks = TxSockets {
            raw4: -1,
            raw6: None,
            udp: Some(tx.as_raw_fd()),
        };
        let sent = b.flush(&socks);
        assert_eq!(
            sent,
            Sent {
                packets: 6,
                failed: 0
            }
        );
        assert!(b.is_empty());
        let mut buf = [0u8; 4096];
        for (i, &n) in sizes.iter().enumerate() {
            let got = rx.recv(&mut buf).unwrap();
            assert_eq!(got, n, "datagram {i}");
            assert!(buf[..got].iter().all(|&x| x == i as u8));
        }
        if b.udp_gso {
            // Three messages: [1200 x3 + 300], [1200, 77]... in one sendmmsg.
            assert_eq!(b.syscalls, 1);
        }
        // An unsealed packet is never sent; the others are.
        assert!(b.push(&[1u8; 100], to, true).is_some());
        assert!(b.push(&[2u8; 100], to, false).is_some());
        assert!(b.push(&[3u8; 100], to, true).is_some());
        assert_eq!(
            b.flush(&socks),
            Sent {
                packets: 2,
                failed: 1
            }
        );
        for want in [1u8, 3] {
            let got = rx.recv(&mut buf).unwrap();
            assert_eq!(got, 100);
            assert_eq!(buf[0], want);
        }
        rx.set_nonblocking(true).unwrap();
        assert!(
            rx.recv(&mut buf).is_err(),
            "the unsealed packet stayed home"
        );
    }
}
