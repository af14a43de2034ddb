//! Admission control for new phase-1 negotiations: half-open limits.
//!
//! The IKE core refuses new responders once [`ike::MAX_HALF_OPEN`] (256)
//! phase-1 SAs are half-open (not yet established). On its own that lets a
//! flood of Main Mode first messages from many (spoofed) addresses lock out
//! every legitimate peer until the flood's SAs time out (`timer phase1`). The
//! driver therefore looks at each datagram that opens a new phase 1 (responder
//! cookie zero, message ID 0, Main or Aggressive Mode) before the core does:
//!
//! * **per peer**: at most [`MAX_HALF_OPEN_PER_PEER`] half-open phase 1s per
//!   source address; further new initiations from it are dropped (counted) —
//!   except from a peer with an address-specific `remote` block, whose new
//!   first message replaces its own oldest half-open responder negotiation
//!   (spoofing its address with 8 datagrams must not lock it out);
//! * **total**: once [`EVICT_AT`] phase 1s are half-open, the oldest half-open
//!   *responder* negotiation is evicted to make room (like a SYN cache),
//!   preferring peers without an established phase 1 and without an
//!   address-specific `remote` block, so a new legitimate negotiation still
//!   gets a slot during a flood. Our own initiations are never evicted.
//!   Eviction forgets exactly one negotiation and sends nothing.
//!
//! * **load shedding**: a new initiation from a peer without an
//!   address-specific `remote` block that waited more than [`MAX_QUEUE_DELAY`]
//!   in the receive queue is dropped unprocessed (the initiator retransmits).
//!   An Aggressive Mode first message costs the responder a DH computation;
//!   when they arrive faster than the CPU computes them, the queue would
//!   otherwise fill with them and delay (or, full, drop) every other datagram,
//!   including a configured peer's. Shedding keeps the queueing delay near this
//!   bound whatever the CPU speed.
//!
//! Log lines from the core are limited to [`LOG_LINES_PER_SEC`] (debug lines
//! excepted: debugging is verbose on purpose); the number suppressed is
//! logged once per second.
//!
//! Retransmissions of a known first message pass untouched. Nothing here
//! allocates per datagram beyond the core's phase-1 listing.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use super::core::Phase1Info;

/// Most half-open phase-1 SAs one source address may hold.
pub const MAX_HALF_OPEN_PER_PEER: usize = 8;
/// Half-open phase-1 SAs (in total) from which the oldest evictable one is
/// evicted for each new initiation; below the core's hard limit
/// ([`ike::MAX_HALF_OPEN`]) so that limit is never what refuses a peer.
pub const EVICT_AT: usize = 192;

/// New initiations from unconfigured peers that waited longer than this in
/// the receive queue are dropped (load shedding).
pub const MAX_QUEUE_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

/// racoon's established phase-1 status (as [`Phase1Info::status`]).
const ESTABLISHED: u8 = 9;

/// What to do with a datagram that opens a new phase 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the core.
    Pass,
    /// Drop it: the source already holds its share of half-open SAs.
    Drop,
    /// Forget this half-open phase 1 (initiator cookie, peer), then hand the
    /// datagram to the core.
    Evict([u8; 8], SocketAddr),
}

/// If `data` is an ISAKMP message opening a new phase 1 (Main or Aggressive
/// Mode, zero responder cookie, message ID 0), its initiator cookie.
pub fn new_initiation(data: &[u8]) -> Option<[u8; 8]> {
    const MAIN: u8 = 2;
    const AGGRESSIVE: u8 = 4;
    if data.len() < 28 {
        return None;
    }
    let rcookie_zero = data[8..16].iter().all(|b| *b == 0);
    let msgid_zero = data[20..24].iter().all(|b| *b == 0);
    let exch = data[18];
    if rcookie_zero && msgid_zero && (exch == MAIN || exch == AGGRESSIVE) {
        let mut c = [0u8; 8];
        c.copy_from_slice(&data[..8]);
        Some(c)
    } else {
        None
    }
}

/// The half-open limits and their counters.
#[derive(Debug, Default)]
pub struct Admission {
    /// Peers with an address-specific `remote` block: never evicted.
    protected: HashSet<IpAddr>,
    /// New initiations dropped by the per-peer limit.
    pub dropped: u64,
    /// Half-open negotiations evicted (peers, each with all its half-open SAs).
    pub evicted: u64,
    /// New initiations shed because they waited too long in the queue.
    pub shed: u64,
}

impl Admission {
    pub fn new(config: &conf::Config) -> Admission {
        let mut a = Admission::default();
        a.reload(config);
        a
    }

    /// Re-read the configured peers (SIGHUP).
    pub fn reload(&mut self, config: &conf::Config) {
        self.protected = config
            .remotes
            .iter()
            .filter_map(|r| match &r.selector {
                conf::RemoteSelector::Address(a) => Some(a.addr.ip),
                _ => r.remote_address.as_ref().map(|a| a.addr.ip),
            })
            .collect();
    }

    /// Load shedding: whether to drop a new initiation from `remote` that
    /// waited `waited` in the receive queue (never for configured peers).
    pub fn shed(&mut self, remote: IpAddr, waited: std::time::Duration) -> bool {
        if waited <= MAX_QUEUE_DELAY || self.protected.contains(&remote) {
            return false;
        }
        self.shed = self.shed.saturating_add(1);
        true
    }

    /// Decide about a new initiation with initiator cookie `icookie` from
    /// `remote`, given the core's phase-1 SAs.
    pub fn decide(&mut self, remote: IpAddr, icookie: [u8; 8], sas: &[Phase1Info]) -> Verdict {
        // A retransmitted first message belongs to a negotiation we know.
        if sas
            .iter()
            .any(|p| p.remote.ip() == remote && p.cookies[..8] == icookie)
        {
            return Verdict::Pass;
        }
        let half_open = || sas.iter().filter(|p| p.status != ESTABLISHED);
        let evict = |this: &mut Admission, p: &Phase1Info| {
            this.evicted = this.evicted.saturating_add(1);
            let mut c = [0u8; 8];
            c.copy_from_slice(&p.cookies[..8]);
            Verdict::Evict(c, p.remote)
        };
        let from_peer = half_open().filter(|p| p.remote.ip() == remote).count();
        if from_peer >= MAX_HALF_OPEN_PER_PEER {
            // A configured peer's address may be spoofed to lock it out: its
            // newest first message replaces its oldest half-open responder
            // negotiation instead of being dropped.
            if self.protected.contains(&remote) {
                if let Some(p) = half_open()
                    .filter(|p| p.remote.ip() == remote && !p.initiator)
                    .min_by_key(|p| p.created)
                {
                    return evict(self, p);
                }
            }
            self.dropped = self.dropped.saturating_add(1);
            return Verdict::Drop;
        }
        if half_open().count() < EVICT_AT {
            return Verdict::Pass;
        }
        let established: HashSet<IpAddr> = sas
            .iter()
            .filter(|p| p.status == ESTABLISHED)
            .map(|p| p.remote.ip())
            .collect();
        // The oldest half-open responder negotiation of an unconfigured peer
        // without an established phase 1; failing that, of a configured one.
        let responders = || half_open().filter(|p| !p.initiator);
        let victim = responders()
            .filter(|p| {
                let ip = p.remote.ip();
                !self.protected.contains(&ip) && !established.contains(&ip)
            })
            .min_by_key(|p| p.created)
            .or_else(|| responders().min_by_key(|p| p.created));
        match victim {
            Some(p) => evict(self, p),
            // Only our own initiations are half-open: the core's limit decides.
            None => Verdict::Pass,
        }
    }
}

/// Most log lines from the IKE core (levels above debug) written per second;
/// a flood of hostile datagrams cannot fill the disk or syslog faster.
pub const LOG_LINES_PER_SEC: u32 = 200;

/// A one-second window counter for [`LOG_LINES_PER_SEC`].
#[derive(Debug, Default)]
pub struct LogLimiter {
    window: Option<std::time::Instant>,
    in_window: u32,
    suppressed: u64,
    /// Lines suppressed since start.
    pub total_suppressed: u64,
}

impl LogLimiter {
    /// Whether a line may be written at `now`, and how many were suppressed
    /// in the window that just ended (to be reported once).
    pub fn admit(&mut self, now: std::time::Instant) -> (bool, u64) {
        let mut ended = 0;
        let fresh = self.window.map_or(true, |w| {
            now.saturating_duration_since(w) >= std::time::Duration::from_secs(1)
        });
        if fresh {
            self.window = Some(now);
            self.in_window = 0;
            ended = std::mem::take(&mut self.suppressed);
        }
        if self.in_window < LOG_LINES_PER_SEC {
            self.in_window += 1;
            (true, ended)
        } else {
            self.suppressed = self.suppressed.saturating_add(1);
            self.total_suppressed = self.total_suppressed.saturating_add(1);
            (false, ended)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    fn sa(remote: &str, icookie: u8, status: u8, initiator: bool, age: u64) -> Phase1Info {
        let mut cookies = [0u8; 16];
        cookies[..8].fill(icookie);
        Phase1Info {
            cookies,
            status,
            initiator,
            local: "192.0.2.2:500".parse().unwrap(),
            remote: SocketAddr::new(remote.parse().unwrap(), 500),
            version: 0x10,
            etype: 2,
            created: Instant::now() - Duration::from_secs(age),
            ph2_count: 0,
        }
    }

    fn mm1(icookie: u8) -> Vec<u8> {
        let mut m = vec![0u8; 28];
        m[..8].fill(icookie);
        m[16] = 1;
        m[17] = 0x10;
        m[18] = 2;
        m
    }

    #[test]
    fn recognises_first_messages_only() {
        assert_eq!(new_initiation(&mm1(7)), Some([7; 8]));
        let mut am = mm1(7);
        am[18] = 4;
        assert!(new_initiation(&am).is_some());
        let mut second = mm1(7);
        second[8] = 1; // responder cookie set
        assert!(new_initiation(&second).is_none());
        let mut info = mm1(7);
        info[18] = 5;
        assert!(new_initiation(&info).is_none());
        let mut qm = mm1(7);
        qm[18] = 32;
        qm[23] = 1;
        assert!(new_initiation(&qm).is_none());
        assert!(new_initiation(&mm1(7)[..27]).is_none());
        assert!(new_initiation(&[]).is_none());
    }

    #[test]
    fn per_peer_limit_drops_and_retransmissions_pass() {
        let mut a = Admission::default();
        let sas: Vec<Phase1Info> = (0..MAX_HALF_OPEN_PER_PEER as u8)
            .map(|i| sa("10.1.0.1", i + 1, 2, false, 1))
            .collect();
        let peer: IpAddr = "10.1.0.1".parse().unwrap();
        assert_eq!(a.decide(peer, [99; 8], &sas), Verdict::Drop);
        assert_eq!(a.dropped, 1);
        // a retransmission of a known one passes
        assert_eq!(a.decide(peer, [1; 8], &sas), Verdict::Pass);
        // another peer passes
        assert_eq!(
            a.decide("10.1.0.2".parse().unwrap(), [99; 8], &sas),
            Verdict::Pass
        );
        // established SAs of the peer do not count
        let est: Vec<Phase1Info> = (0..20).map(|i| sa("10.1.0.1", i, 9, false, 1)).collect();
        assert_eq!(a.decide(peer, [99; 8], &est), Verdict::Pass);
    }

    #[test]
    fn total_limit_evicts_the_oldest_unprotected_responder() {
        let config = conf::parse(
            "remote 10.2.0.1 { exchange_mode main; proposal { encryption_algorithm aes; hash_algorithm sha1; authentication_method pre_shared_key; dh_group modp2048; } }",
            "test.conf",
        )
        .expect("test config parses")
        .config;
        let mut a = Admission::new(&config);
        // the oldest: a configured peer, our own initiation, a peer with an
        // established phase 1; then flood entries, oldest 10.9.0.5
        let mut sas = vec![
            sa("10.2.0.1", 200, 2, false, 100),
            sa("10.3.0.1", 201, 2, true, 99),
            sa("10.4.0.1", 202, 2, false, 98),
            sa("10.4.0.1", 203, 9, false, 98),
        ];
        for i in 0..EVICT_AT {
            let age = if i == 5 { 50 } else { 10 };
            sas.push(sa(&format!("10.9.0.{i}"), i as u8, 2, false, age));
        }
        let v = a.decide("192.0.2.1".parse().unwrap(), [250; 8], &sas);
        assert!(a.protected.contains(&"10.2.0.1".parse().unwrap()));
        assert_eq!(v, Verdict::Evict([5; 8], "10.9.0.5:500".parse().unwrap()));
        assert_eq!(a.evicted, 1);
        // with only configured peers and our own initiations half-open, the
        // oldest configured peer's responder negotiation goes
        let only: Vec<Phase1Info> = (0..EVICT_AT)
            .map(|i| sa("10.2.0.1", i as u8, 2, i % 2 == 0, 300 - i as u64))
            .collect();
        assert_eq!(
            a.decide("192.0.2.1".parse().unwrap(), [250; 8], &only),
            Verdict::Evict([1; 8], "10.2.0.1:500".parse().unwrap())
        );
        // below the threshold nothing is evicted
        sas.truncate(10);
        assert_eq!(
            a.decide("192.0.2.1".parse().unwrap(), [250; 8], &sas),
            Verdict::Pass
        );
    }

    #[test]
    fn a_spoofed_configured_peer_is_not_locked_out() {
        let config = conf::parse(
            "remote 10.2.0.1 { exchange_mode main; proposal { encryption_algorithm aes; hash_algorithm sha1; authentication_method pre_shared_key; dh_group modp2048; } }",
            "test.conf",
        )
        .expect("test config parses")
        .config;
        let mut a = Admission::new(&config);
        let peer: IpAddr = "10.2.0.1".parse().unwrap();
        let sas: Vec<Phase1Info> = (0..MAX_HALF_OPEN_PER_PEER as u8)
            .map(|i| sa("10.2.0.1", i + 1, 2, false, 10 + u64::from(i)))
            .collect();
        // the oldest (cookie 8, 17 s) makes room instead of a drop
        assert_eq!(
            a.decide(peer, [99; 8], &sas),
            Verdict::Evict([8; 8], "10.2.0.1:500".parse().unwrap())
        );
        assert_eq!(a.dropped, 0);
        // our own initiations are not evicted for it
        let ours: Vec<Phase1Info> = (0..MAX_HALF_OPEN_PER_PEER as u8)
            .map(|i| sa("10.2.0.1", i + 1, 2, true, 10))
            .collect();
        assert_eq!(a.decide(peer, [99; 8], &ours), Verdict::Drop);
    }

    #[test]
    fn late_initiations_from_unconfigured_peers_are_shed() {
        let config = conf::parse(
            "remote 10.2.0.1 { exchange_mode main; proposal { encryption_algorithm aes; hash_algorithm sha1; authentication_method pre_shared_key; dh_group modp2048; } }",
            "test.conf",
        )
        .expect("test config parses")
        .config;
        let mut a = Admission::new(&config);
        let late = MAX_QUEUE_DELAY + Duration::from_millis(1);
        assert!(!a.shed("10.9.0.1".parse().unwrap(), MAX_QUEUE_DELAY));
        assert!(a.shed("10.9.0.1".parse().unwrap(), late));
        assert!(!a.shed("10.2.0.1".parse().unwrap(), Duration::from_secs(30)));
        assert_eq!(a.shed, 1);
    }

    #[test]
    fn log_lines_are_rate_limited_per_second() {
        let mut l = LogLimiter::default();
        let t0 = Instant::now();
        let admitted = (0..1000).filter(|_| l.admit(t0).0).count();
        assert_eq!(admitted, LOG_LINES_PER_SEC as usize);
        assert_eq!(l.total_suppressed, 1000 - u64::from(LOG_LINES_PER_SEC));
        // the next window admits again and reports what was suppressed
        let (ok, ended) = l.admit(t0 + Duration::from_secs(1));
        assert!(ok);
        assert_eq!(ended, 1000 - u64::from(LOG_LINES_PER_SEC));
        assert_eq!(l.admit(t0 + Duration::from_secs(2)), (true, 0));
    }

    #[test]
    fn nothing_evictable_passes_to_the_core() {
        let mut a = Admission::default();
        let sas: Vec<Phase1Info> = (0..EVICT_AT)
            .map(|i| sa(&format!("10.9.1.{}", i % 250), i as u8, 2, true, 1))
            .collect();
        assert_eq!(
            a.decide("192.0.2.1".parse().unwrap(), [250; 8], &sas),
            Verdict::Pass
        );
        assert_eq!(a.evicted, 0);
    }
}
