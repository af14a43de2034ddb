//! Security Policy Database with Linux-style policy ids and a packet lookup that
//! does not scan the policy list.
//!
//! # Lookup rule
//!
//! Among the policies of the packet's direction whose selector matches
//! (address prefixes, upper-layer protocol — 255 = any — and ports — 0 = any):
//! 1. the lowest `priority` value wins (Linux: lower value = higher priority);
//! 2. at equal priority, the most specific selector wins (longer total prefix,
//!    then more of proto/sport/dport given);
//! 3. then the oldest policy (Linux keeps insertion order within a priority).
//!
//! # Index
//!
//! Per direction, policies sit in hash buckets keyed by
//! `(src prefix length, dst prefix length, masked src, masked dst)`. A lookup
//! masks the packet's addresses once per distinct prefix-length pair in use
//! (for host-to-host and a handful of subnet sizes that is a few hash probes,
//! independent of the number of policies) and takes the best match across
//! those buckets. Each bucket is kept sorted by the rule above, so the first
//! entry whose ports/protocol match is that bucket's best.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use crate::sad::Lifetime;
use crate::{Errno, Now};

pub const IPSEC_POLICY_DISCARD: u16 = 0;
pub const IPSEC_POLICY_NONE: u16 = 1;
pub const IPSEC_POLICY_IPSEC: u16 = 2;
pub const IPSEC_POLICY_ENTRUST: u16 = 3;
pub const IPSEC_POLICY_BYPASS: u16 = 4;

pub const IPSEC_LEVEL_DEFAULT: u8 = 0;
pub const IPSEC_LEVEL_USE: u8 = 1;
pub const IPSEC_LEVEL_REQUIRE: u8 = 2;
pub const IPSEC_LEVEL_UNIQUE: u8 = 3;
pub const IPSEC_MANUAL_REQID_MAX: u32 = 0x3fff;

pub const IPPROTO_ANY: u8 = 255;

/// Policy direction (PF_KEY numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    In = 1,
    Out = 2,
    Fwd = 3,
}

impl Dir {
    pub fn from_u8(v: u8) -> Option<Dir> {
        match v {
            1 => Some(Dir::In),
            2 => Some(Dir::Out),
            3 => Some(Dir::Fwd),
            _ => None,
        }
    }

    /// Linux's xfrm direction (in 0, out 1, fwd 2): a policy id modulo 8.
    pub fn xfrm(self) -> u32 {
        self as u32 - 1
    }

    fn idx(self) -> usize {
        self as usize - 1
    }
}

/// A policy selector (what the SRC/DST address extensions say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_prefix: u8,
    pub dst_prefix: u8,
    /// 0 = any.
    pub sport: u16,
    pub dport: u16,
    /// Upper-layer protocol, 255 = any.
    pub proto: u8,
}

impl Selector {
    /// Validates family and prefix lengths (EINVAL otherwise).
    pub fn check(&self) -> Result<(), Errno> {
        let max = |a: &IpAddr| if a.is_ipv4() { 32 } else { 128 };
        if self.src.is_ipv4() != self.dst.is_ipv4()
            || self.src_prefix > max(&self.src)
            || self.dst_prefix > max(&self.dst)
        {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    fn specificity(&self) -> u32 {
        (u32::from(self.src_prefix) + u32::from(self.dst_prefix)) * 4
            + u32::from(self.proto != IPPROTO_ANY)
            + u32::from(self.sport != 0)
            + u32::from(self.dport != 0)
    }

    fn matches_upper(&self, p: &PacketSel) -> bool {
        (self.proto == IPPROTO_ANY || self.proto == p.proto)
            && (self.sport == 0 || self.sport == p.sport)
            && (self.dport == 0 || self.dport == p.dport)
    }
}

/// What the data plane knows about a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketSel {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

/// One `sadb_x_ipsecrequest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpsecRequest {
    /// IPPROTO_ESP 50, IPPROTO_AH 51, IPPROTO_COMP 108.
    pub proto: u16,
    pub mode: u8,
    pub level: u8,
    pub reqid: u32,
    /// Tunnel endpoints (tunnel mode only).
    pub tunnel: Option<(SocketAddr, SocketAddr)>,
}

/// A security policy.
#[derive(Clone, Debug)]
pub struct Policy {
    pub id: u32,
    pub dir: Dir,
    pub sel: Selector,
    pub priority: u32,
    pub action: u16,
    pub requests: Vec<IpsecRequest>,
    pub hard: Option<Lifetime>,
    pub soft: Option<Lifetime>,
    /// addtime/usetime as wall-clock seconds.
    pub current: Lifetime,
    pub seq: u32,
    pub pid: u32,
    /// Extensions kept verbatim and echoed (e.g. security context).
    pub extra: Vec<pfkey::Extension>,
    pub(crate) added: Instant,
    pub(crate) last_use: Option<Instant>,
    pub(crate) serial: u64,
}

impl Policy {
    pub fn new(dir: Dir, sel: Selector, action: u16, now: Now) -> Self {
        Policy {
            id: 0,
            dir,
            sel,
            priority: 0,
            action,
            requests: Vec::new(),
            hard: None,
            soft: None,
            current: Lifetime {
                addtime: now.wall,
                ..Lifetime::default()
            },
            seq: 0,
            pid: 0,
            extra: Vec::new(),
            added: now.mono,
            last_use: None,
            serial: 0,
        }
    }

    /// Hard policy lifetime reached (add-time or time since last use)?
    pub fn expired(&self, now: Instant) -> bool {
        let Some(h) = &self.hard else { return false };
        if h.addtime != 0 && now.saturating_duration_since(self.added).as_secs() >= h.addtime {
            return true;
        }
        if h.usetime != 0 {
            let since = self.last_use.unwrap_or(self.added);
            if now.saturating_duration_since(since).as_secs() >= h.usetime {
                return true;
            }
        }
        false
    }

    fn order_key(&self) -> (u32, std::cmp::Reverse<u32>, u64) {
        (
            self.priority,
            std::cmp::Reverse(self.sel.specificity()),
            self.serial,
        )
    }
}

/// `a` with only its first `len` bits kept.
pub fn mask_addr(a: IpAddr, len: u8) -> IpAddr {
    mask(a, len)
}

fn mask(a: IpAddr, len: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(v) & m))
        }
        IpAddr::V6(v) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(v) & m))
        }
    }
}

type BucketKey = (u8, u8, IpAddr, IpAddr);

#[derive(Clone, Copy, Debug)]
struct Entry {
    order: (u32, std::cmp::Reverse<u32>, u64),
    id: u32,
    sel: Selector,
}

#[derive(Debug, Default)]
struct DirIndex {
    buckets: crate::fasthash::FastMap<BucketKey, Vec<Entry>>,
    /// Prefix-length pairs in use, per family (false = v4), with policy counts.
    combos: [BTreeMap<(u8, u8), usize>; 2],
}

impl DirIndex {
    fn bucket_key(sel: &Selector) -> BucketKey {
        (
            sel.src_prefix,
            sel.dst_prefix,
            mask(sel.src, sel.src_prefix),
            mask(sel.dst, sel.dst_prefix),
        )
    }

    fn insert(&mut self, p: &Policy) {
        let e = Entry {
            order: p.order_key(),
            id: p.id,
            sel: p.sel,
        };
        let b = self.buckets.entry(Self::bucket_key(&p.sel)).or_default();
        let pos = b.partition_point(|x| x.order < e.order);
        b.insert(pos, e);
        *self.combos[usize::from(p.sel.src.is_ipv6())]
            .entry((p.sel.src_prefix, p.sel.dst_prefix))
            .or_insert(0) += 1;
    }

    fn remove(&mut self, p: &Policy) {
        let k = Self::bucket_key(&p.sel);
        if let Some(b) = self.buckets.get_mut(&k) {
            b.retain(|e| e.id != p.id);
            if b.is_empty() {
                self.buckets.remove(&k);
            }
        }
        let fam = usize::from(p.sel.src.is_ipv6());
        let c = (p.sel.src_prefix, p.sel.dst_prefix);
        if let Some(n) = self.combos[fam].get_mut(&c) {
            *n -= 1;
            if *n == 0 {
                self.combos[fam].remove(&c);
            }
        }
    }

    fn lookup(&self, p: &PacketSel) -> Option<u32> {
        if p.src.is_ipv4() != p.dst.is_ipv4() {
            return None;
        }
        let fam = usize::from(p.src.is_ipv6());
        let mut best: Option<&Entry> = None;
        for &(sp, dp) in self.combos[fam].keys() {
            let k = (sp, dp, mask(p.src, sp), mask(p.dst, dp));
            if let Some(b) = self.buckets.get(&k) {
                if let Some(e) = b.iter().find(|e| e.sel.matches_upper(p)) {
                    if best.map_or(true, |x| e.order < x.order) {
                        best = Some(e);
                    }
                }
            }
        }
        best.map(|e| e.id)
    }
}

/// The SPD.
#[derive(Debug)]
pub struct Spd {
    policies: crate::fasthash::FastMap<u32, Policy>,
    by_sel: crate::fasthash::FastMap<(Dir, Selector), u32>,
    index: [DirIndex; 3],
    idx_generator: u32,
    reqid_generator: u32,
    next_serial: u64,
    max_entries: usize,
}

impl Default for Spd {
    fn default() -> Self {
        Spd::new(1 << 20)
    }
}

impl Spd {
    pub fn new(max_entries: usize) -> Self {
        Spd {
            policies: Default::default(),
            by_sel: Default::default(),
            index: Default::default(),
            idx_generator: 0,
            reqid_generator: IPSEC_MANUAL_REQID_MAX,
            next_serial: 0,
            max_entries,
        }
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    pub fn get(&self, id: u32) -> Option<&Policy> {
        self.policies.get(&id)
    }

    pub fn get_by_selector(&self, dir: Dir, sel: &Selector) -> Option<&Policy> {
        self.by_sel
            .get(&(dir, *sel))
            .and_then(|id| self.policies.get(id))
    }

    /// Linux `xfrm_gen_index`: ids step by 8 and carry the xfrm direction in the
    /// low 3 bits; 0 is never used.
    fn gen_id(&mut self, dir: Dir) -> u32 {
        loop {
            let mut idx = self.idx_generator | dir.xfrm();
            self.idx_generator = self.idx_generator.wrapping_add(8);
            if idx == 0 {
                idx = 8;
            }
            if !self.policies.contains_key(&idx) {
                return idx;
            }
        }
    }

    /// Linux `gen_reqid`: the next reqid above `IPSEC_MANUAL_REQID_MAX` that no
    /// policy uses. `None` when the space is exhausted.
    fn gen_reqid(&mut self) -> Option<u32> {
        let used: std::collections::HashSet<u32> = self
            .policies
            .values()
            .flat_map(|p| p.requests.iter().map(|r| r.reqid))
            .collect();
        let start = self.reqid_generator;
        loop {
            self.reqid_generator = self.reqid_generator.wrapping_add(1);
            if self.reqid_generator == 0 {
                self.reqid_generator = IPSEC_MANUAL_REQID_MAX + 1;
            }
            if !used.contains(&self.reqid_generator) {
                return Some(self.reqid_generator);
            }
            if self.reqid_generator == start {
                return None;
            }
        }
    }

    /// Validates a policy's action and requests and fills in automatic reqids
    /// (`unique` without a manual reqid, as Linux af_key does).
    fn prepare(&mut self, p: &mut Policy) -> Result<(), Errno> {
        p.sel.check()?;
        if p.action > IPSEC_POLICY_BYPASS {
            return Err(Errno::EINVAL);
        }
        if p.action != IPSEC_POLICY_IPSEC && !p.requests.is_empty() {
            return Err(Errno::EINVAL);
        }
        for i in 0..p.requests.len() {
            let r = p.requests[i];
            if !matches!(r.proto, 50 | 51 | 108) || r.mode > 2 || r.level > IPSEC_LEVEL_UNIQUE {
                return Err(Errno::EINVAL);
            }
            if r.mode == 2 {
                match r.tunnel {
                    Some((s, d)) if s.is_ipv4() == d.is_ipv4() => {}
                    _ => return Err(Errno::EINVAL),
                }
            }
            if r.level == IPSEC_LEVEL_UNIQUE && (r.reqid == 0 || r.reqid > IPSEC_MANUAL_REQID_MAX) {
                p.requests[i].reqid = self.gen_reqid().ok_or(Errno::ENOBUFS)?;
            }
        }
        Ok(())
    }

    /// X_SPDADD (`update == false`: EEXIST on a duplicate selector+dir) or
    /// X_SPDUPDATE (replaces the policy, keeping its id). Returns the policy as stored.
    pub fn add(&mut self, mut p: Policy, update: bool) -> Result<&Policy, Errno> {
        self.prepare(&mut p)?;
        let old = self.by_sel.get(&(p.dir, p.sel)).copied();
        match old {
            Some(_) if !update => return Err(Errno::EEXIST),
            Some(id) => {
                let prev = self.remove(id).ok_or(Errno::ENOENT)?;
                p.id = id;
                p.serial = prev.serial;
            }
            None => {
                if self.policies.len() >= self.max_entries {
                    return Err(Errno::ENOBUFS);
                }
                p.id = self.gen_id(p.dir);
                p.serial = self.next_serial;
                self.next_serial += 1;
            }
        }
        let id = p.id;
        self.index[p.dir.idx()].insert(&p);
        self.by_sel.insert((p.dir, p.sel), id);
        self.policies.insert(id, p);
        self.policies.get(&id).ok_or(Errno::ENOENT)
    }

    pub fn remove(&mut self, id: u32) -> Option<Policy> {
        let p = self.policies.remove(&id)?;
        self.index[p.dir.idx()].remove(&p);
        self.by_sel.remove(&(p.dir, p.sel));
        Some(p)
    }

    pub fn remove_by_selector(&mut self, dir: Dir, sel: &Selector) -> Option<Policy> {
        let id = *self.by_sel.get(&(dir, *sel))?;
        self.remove(id)
    }

    /// Removes every policy, returned in dump order.
    pub fn flush(&mut self) -> Vec<Policy> {
        let mut v: Vec<Policy> = self.policies.drain().map(|(_, p)| p).collect();
        self.by_sel.clear();
        self.index = Default::default();
        v.sort_by_key(|x| std::cmp::Reverse(x.serial));
        v
    }

    /// Policies in dump order: newest first, as Linux walks its list.
    pub fn dump(&self) -> Vec<&Policy> {
        let mut v: Vec<&Policy> = self.policies.values().collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.serial));
        v
    }

    /// The policy for a packet in direction `dir` (see the module docs for the rule).
    pub fn lookup(&self, dir: Dir, pkt: &PacketSel) -> Option<&Policy> {
        let id = self.index[dir.idx()].lookup(pkt)?;
        self.policies.get(&id)
    }

    /// Records a use of policy `id` (drives `usetime` lifetimes and LIFETIME_CURRENT).
    pub fn mark_used(&mut self, now: Now, id: u32) {
        if let Some(p) = self.policies.get_mut(&id) {
            p.last_use = Some(now.mono);
            p.current.usetime = now.wall;
        }
    }

    /// Ids of policies whose hard lifetime is over.
    pub fn expired(&self, now: Instant) -> Vec<u32> {
        let mut v: Vec<(u64, u32)> = self
            .policies
            .values()
            .filter(|p| p.expired(now))
            .map(|p| (p.serial, p.id))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, id)| id).collect()
    }

    /// The earliest policy add-time deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.policies
            .values()
            .filter_map(|p| {
                let h = p.hard.as_ref()?;
                let mut t: Option<Instant> = None;
                if h.addtime != 0 {
                    t = p
                        .added
                        .checked_add(std::time::Duration::from_secs(h.addtime));
                }
                if h.usetime != 0 {
                    if let Some(u) = p
                        .last_use
                        .unwrap_or(p.added)
                        .checked_add(std::time::Duration::from_secs(h.usetime))
                    {
                        t = Some(t.map_or(u, |x| x.min(u)));
                    }
                }
                t
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Now {
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        Now::new(*BASE.get_or_init(Instant::now), 1_700_000_000)
    }

    fn sel(src: &str, sp: u8, dst: &str, dp: u8) -> Selector {
        Selector {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            src_prefix: sp,
            dst_prefix: dp,
            sport: 0,
            dport: 0,
            proto: IPPROTO_ANY,
        }
    }

    fn pkt(src: &str, dst: &str, proto: u8, sport: u16, dport: u16) -> PacketSel {
        PacketSel {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto,
            sport,
            dport,
        }
    }

    fn pol(dir: Dir, s: Selector, prio: u32, action: u16) -> Policy {
        let mut p = Policy::new(dir, s, action, now());
        p.priority = prio;
        p
    }

    #[test]
    fn ids_encode_direction_like_linux() {
        let mut spd = Spd::default();
        let a = spd
            .add(
                pol(Dir::Out, sel("10.0.0.1", 32, "10.0.0.2", 32), 0, 1),
                false,
            )
            .unwrap()
            .id;
        let b = spd
            .add(
                pol(Dir::In, sel("10.0.0.2", 32, "10.0.0.1", 32), 0, 1),
                false,
            )
            .unwrap()
            .id;
        let c = spd
            .add(
                pol(Dir::Fwd, sel("10.0.0.2", 32, "10.0.0.1", 32), 0, 1),
                false,
            )
            .unwrap()
            .id;
        assert_eq!((a, b, c), (1, 8, 18));
        for (id, d) in [(a, Dir::Out), (b, Dir::In), (c, Dir::Fwd)] {
            assert_eq!(id % 8, d.xfrm());
        }
    }

    #[test]
    fn duplicate_add_update_delete() {
        let mut spd = Spd::default();
        let s = sel("10.0.0.0", 24, "10.0.1.0", 24);
        let id = spd.add(pol(Dir::Out, s, 0, 1), false).unwrap().id;
        assert_eq!(
            spd.add(pol(Dir::Out, s, 5, 0), false).err(),
            Some(Errno::EEXIST)
        );
        // same selector, other direction: fine
        spd.add(pol(Dir::In, s, 0, 1), false).unwrap();
        let p = spd.add(pol(Dir::Out, s, 5, 0), true).unwrap();
        assert_eq!((p.id, p.action, p.priority), (id, 0, 5));
        assert_eq!(spd.len(), 2);
        assert_eq!(spd.remove_by_selector(Dir::Out, &s).unwrap().id, id);
        assert!(spd.remove_by_selector(Dir::Out, &s).is_none());
        assert!(spd
            .lookup(Dir::Out, &pkt("10.0.0.5", "10.0.1.5", 6, 1, 2))
            .is_none());
    }

    #[test]
    fn lookup_priority_then_specificity() {
        let mut spd = Spd::default();
        let wide = spd
            .add(
                pol(Dir::Out, sel("0.0.0.0", 0, "0.0.0.0", 0), 100, 1),
                false,
            )
            .unwrap()
            .id;
        let net = spd
            .add(
                pol(Dir::Out, sel("10.0.0.0", 8, "10.1.0.0", 16), 100, 2),
                false,
            )
            .unwrap()
            .id;
        let mut s = sel("10.0.0.1", 32, "10.1.2.3", 32);
        s.proto = 6;
        s.dport = 80;
        let host = spd.add(pol(Dir::Out, s, 100, 0), false).unwrap().id;
        let p = |src, dst, pr, sp, dp| {
            spd.lookup(Dir::Out, &pkt(src, dst, pr, sp, dp))
                .map(|p| p.id)
        };
        assert_eq!(p("10.0.0.1", "10.1.2.3", 6, 1234, 80), Some(host));
        assert_eq!(p("10.0.0.1", "10.1.2.3", 6, 1234, 81), Some(net));
        assert_eq!(p("10.0.0.1", "10.1.2.3", 17, 1234, 80), Some(net));
        assert_eq!(p("10.9.0.1", "10.1.2.3", 17, 1, 1), Some(net));
        assert_eq!(p("11.0.0.1", "10.1.2.3", 17, 1, 1), Some(wide));
        assert!(spd
            .lookup(Dir::In, &pkt("10.0.0.1", "10.1.2.3", 6, 1, 80))
            .is_none());
        // IPv6 packets never match IPv4 policies
        assert_eq!(p("::1", "::2", 6, 1, 80), None);
        // a lower priority value beats specificity
        let any = spd
            .add(pol(Dir::Out, sel("10.0.0.0", 8, "0.0.0.0", 0), 1, 1), false)
            .unwrap()
            .id;
        assert_eq!(
            spd.lookup(Dir::Out, &pkt("10.0.0.1", "10.1.2.3", 6, 1234, 80))
                .map(|p| p.id),
            Some(any)
        );
    }

    #[test]
    fn lookup_ipv6_prefixes() {
        let mut spd = Spd::default();
        let id = spd
            .add(
                pol(Dir::In, sel("2001:db8::", 32, "2001:db8:1::", 48), 0, 2),
                false,
            )
            .unwrap()
            .id;
        let hit = spd.lookup(
            Dir::In,
            &pkt("2001:db8:ffff::1", "2001:db8:1:2::3", 58, 0, 0),
        );
        assert_eq!(hit.map(|p| p.id), Some(id));
        assert!(spd
            .lookup(Dir::In, &pkt("2001:db9::1", "2001:db8:1:2::3", 58, 0, 0))
            .is_none());
    }

    #[test]
    fn unique_reqids_are_auto_assigned_above_manual_range() {
        let mut spd = Spd::default();
        let mut p = pol(
            Dir::Out,
            sel("10.0.0.1", 32, "10.0.0.2", 32),
            0,
            IPSEC_POLICY_IPSEC,
        );
        p.requests.push(IpsecRequest {
            proto: 50,
            mode: 1,
            level: IPSEC_LEVEL_UNIQUE,
            reqid: 0,
            tunnel: None,
        });
        p.requests.push(IpsecRequest {
            proto: 51,
            mode: 1,
            level: IPSEC_LEVEL_UNIQUE,
            reqid: 7,
            tunnel: None,
        });
        let stored = spd.add(p, false).unwrap();
        assert!(stored.requests[0].reqid > IPSEC_MANUAL_REQID_MAX);
        assert_eq!(stored.requests[1].reqid, 7);
        let first = stored.requests[0].reqid;
        let mut q = pol(
            Dir::In,
            sel("10.0.0.2", 32, "10.0.0.1", 32),
            0,
            IPSEC_POLICY_IPSEC,
        );
        q.requests.push(IpsecRequest {
            proto: 50,
            mode: 1,
            level: IPSEC_LEVEL_UNIQUE,
            reqid: 0,
            tunnel: None,
        });
        let second = spd.add(q, false).unwrap().requests[0].reqid;
        assert_ne!(first, second);
    }

    #[test]
    fn invalid_policies_are_rejected() {
        let mut spd = Spd::default();
        let s = sel("10.0.0.1", 32, "10.0.0.2", 32);
        // tunnel mode without endpoints
        let mut p = pol(Dir::Out, s, 0, IPSEC_POLICY_IPSEC);
        p.requests.push(IpsecRequest {
            proto: 50,
            mode: 2,
            level: IPSEC_LEVEL_REQUIRE,
            reqid: 0,
            tunnel: None,
        });
        assert_eq!(spd.add(p, false).err(), Some(Errno::EINVAL));
        assert_eq!(
            spd.add(pol(Dir::Out, s, 0, 9), false).err(),
            Some(Errno::EINVAL)
        );
        let bad = sel("10.0.0.1", 33, "10.0.0.2", 32);
        assert_eq!(
            spd.add(pol(Dir::Out, bad, 0, 1), false).err(),
            Some(Errno::EINVAL)
        );
        let mixed = sel("10.0.0.1", 32, "::1", 128);
        assert_eq!(
            spd.add(pol(Dir::Out, mixed, 0, 1), false).err(),
            Some(Errno::EINVAL)
        );
        assert!(spd.is_empty());
    }

    #[test]
    fn hard_lifetime_expires_policies() {
        let t0 = now();
        let mut spd = Spd::default();
        let mut p = pol(Dir::Out, sel("10.0.0.1", 32, "10.0.0.2", 32), 0, 1);
        p.hard = Some(Lifetime {
            addtime: 10,
            ..Lifetime::default()
        });
        let id = spd.add(p, false).unwrap().id;
        assert!(spd.expired(t0.plus_secs(9).mono).is_empty());
        assert_eq!(spd.expired(t0.plus_secs(10).mono), vec![id]);
    }
}
