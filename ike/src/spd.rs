//! A private image of the kernel's SPD, kept from X_SPDDUMP replies and X_SPD* broadcasts
//! (racoon does the same): ACQUIRE names a policy by id, and the Quick Mode responder looks
//! for the inbound policy matching the peer's IDs.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use isakmp::{IdValue, Identification};
use pfkey::{Address, Dir, Extension, IpsecRequest, Message, MsgType, PolicyType};

use crate::error::{Error, Result};

/// Most policies kept in the image (more are ignored, with the kernel still enforcing them).
pub const MAX_POLICIES: usize = 1 << 16;

/// One side of a traffic selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sel {
    /// Address (network part).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
    /// Port (0 = any).
    pub port: u16,
}

impl Sel {
    fn max(&self) -> u8 {
        if self.addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// The ID payload for this selector with upper-layer protocol `proto` (255 = any).
    pub fn to_id(&self, proto: u8) -> Identification {
        let p = if proto == pfkey::IPSEC_ULPROTO_ANY {
            0
        } else {
            proto
        };
        let v = if self.prefix == self.max() {
            IdValue::Addr(self.addr)
        } else {
            IdValue::Subnet(self.addr, mask(self.addr, self.prefix))
        };
        Identification::new(&v, p, self.port)
    }

    /// A selector from a phase-2 ID payload (address, subnet, or a range that is a prefix).
    pub fn from_id(id: &Identification) -> Result<(Sel, u8)> {
        let proto = if id.protocol == 0 {
            pfkey::IPSEC_ULPROTO_ANY
        } else {
            id.protocol
        };
        let sel = match id.value() {
            IdValue::Addr(a) => Sel {
                addr: a,
                prefix: if a.is_ipv4() { 32 } else { 128 },
                port: id.port,
            },
            IdValue::Subnet(a, m) => {
                let prefix = prefix_of(m).ok_or(Error::InvalidId)?;
                Sel {
                    addr: apply_mask(a, prefix),
                    prefix,
                    port: id.port,
                }
            }
            IdValue::Range(a, b) => {
                let prefix = range_prefix(a, b).ok_or(Error::InvalidId)?;
                Sel {
                    addr: a,
                    prefix,
                    port: id.port,
                }
            }
            _ => return Err(Error::InvalidId),
        };
        Ok((sel, proto))
    }

    /// Does `ip` fall inside this selector?
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && apply_mask(ip, self.prefix) == self.addr
    }

    /// A host selector.
    pub fn host(ip: IpAddr) -> Sel {
        Sel {
            addr: ip,
            prefix: if ip.is_ipv4() { 32 } else { 128 },
            port: 0,
        }
    }

    fn from_address(a: &Address) -> Sel {
        Sel {
            addr: apply_mask(a.addr.ip(), a.prefixlen),
            prefix: a.prefixlen,
            port: a.addr.port(),
        }
    }

    /// The PF_KEY address extension value.
    pub fn to_address(&self, proto: u8) -> Address {
        Address::new(SocketAddr::new(self.addr, self.port), self.prefix, proto)
    }
}

fn bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

fn from_bits(v4: bool, b: u128) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(b as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(b))
    }
}

fn width(a: IpAddr) -> u32 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

/// The netmask for `prefix` in `a`'s family.
pub fn mask(a: IpAddr, prefix: u8) -> IpAddr {
    let w = width(a);
    let p = u32::from(prefix).min(w);
    let m = if p == 0 {
        0
    } else {
        (u128::MAX << (128 - p)) >> (128 - w)
    };
    from_bits(a.is_ipv4(), m)
}

fn apply_mask(a: IpAddr, prefix: u8) -> IpAddr {
    from_bits(a.is_ipv4(), bits(a) & bits(mask(a, prefix)))
}

fn prefix_of(m: IpAddr) -> Option<u8> {
    let w = width(m);
    let b = bits(m) << (128 - w);
    let ones = b.leading_ones();
    (b.checked_shl(ones).unwrap_or(0) == 0).then_some(ones.min(w) as u8)
}

fn range_prefix(a: IpAddr, b: IpAddr) -> Option<u8> {
    if a.is_ipv4() != b.is_ipv4() {
        return None;
    }
    let w = width(a);
    let (x, y) = (bits(a), bits(b));
    if y < x {
        return None;
    }
    let span = y - x;
    if span == u128::MAX {
        return (w == 128 && x == 0).then_some(0);
    }
    let n = span + 1;
    if !n.is_power_of_two() || x & span != 0 {
        return None;
    }
    Some((w - n.trailing_zeros()) as u8)
}

/// One policy of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpdEntry {
    /// Kernel policy id.
    pub id: u32,
    /// Direction.
    pub dir: Dir,
    /// Source selector.
    pub src: Sel,
    /// Destination selector.
    pub dst: Sel,
    /// Upper-layer protocol (255 = any).
    pub proto: u8,
    /// Action.
    pub policy_type: PolicyType,
    /// IPsec requests in order.
    pub requests: Vec<IpsecRequest>,
}

/// The SPD image.
#[derive(Debug, Default, Clone)]
pub struct SpdImage {
    map: BTreeMap<u32, SpdEntry>,
}

impl SpdImage {
    /// Applies an X_SPD* message (dump reply or broadcast). Messages with an errno are ignored.
    pub fn apply(&mut self, m: &Message) {
        if m.header.errno != 0 {
            return;
        }
        match m.header.msg_type {
            MsgType::X_SPDADD | MsgType::X_SPDUPDATE | MsgType::X_SPDDUMP => {
                if let Some(e) = entry_of(m) {
                    if self.map.len() < MAX_POLICIES || self.map.contains_key(&e.id) {
                        self.map.insert(e.id, e);
                    }
                }
            }
            MsgType::X_SPDDELETE | MsgType::X_SPDDELETE2 | MsgType::X_SPDEXPIRE => {
                if let Some(p) = m.policy() {
                    if p.id != 0 {
                        self.map.remove(&p.id);
                    } else if let Some(e) = entry_of(m) {
                        self.map
                            .retain(|_, x| !(x.dir == e.dir && x.src == e.src && x.dst == e.dst));
                    }
                }
            }
            MsgType::X_SPDFLUSH => self.map.clear(),
            _ => {}
        }
    }

    /// The policy with kernel id `id`.
    pub fn get(&self, id: u32) -> Option<&SpdEntry> {
        self.map.get(&id)
    }

    /// An `ipsec` policy in direction `dir` with exactly these selectors (proto must match,
    /// 255 matching anything).
    pub fn find(&self, dir: Dir, src: &Sel, dst: &Sel, proto: u8) -> Option<&SpdEntry> {
        self.map.values().find(|e| {
            e.dir == dir
                && e.policy_type == PolicyType::IPSEC
                && e.src == *src
                && e.dst == *dst
                && (e.proto == proto
                    || e.proto == pfkey::IPSEC_ULPROTO_ANY
                    || proto == pfkey::IPSEC_ULPROTO_ANY)
        })
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn entry_of(m: &Message) -> Option<SpdEntry> {
    let p = m.policy()?;
    let src = m.addr_src()?;
    let dst = m.addr_dst()?;
    let _ = Extension::Policy(p.clone());
    Some(SpdEntry {
        id: p.id,
        dir: p.dir,
        src: Sel::from_address(src),
        dst: Sel::from_address(dst),
        proto: src.proto,
        policy_type: p.policy_type,
        requests: p.requests.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_ranges() {
        let a: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(mask(a, 24), "255.255.255.0".parse::<IpAddr>().unwrap());
        assert_eq!(prefix_of("255.255.240.0".parse().unwrap()), Some(20));
        assert_eq!(prefix_of("255.0.255.0".parse().unwrap()), None);
        assert_eq!(
            range_prefix("10.0.0.0".parse().unwrap(), "10.0.0.255".parse().unwrap()),
            Some(24)
        );
        assert_eq!(
            range_prefix("10.0.0.1".parse().unwrap(), "10.0.0.255".parse().unwrap()),
            None
        );
        let s = Sel {
            addr: "10.1.0.0".parse().unwrap(),
            prefix: 16,
            port: 0,
        };
        let id = s.to_id(255);
        assert_eq!(id.protocol, 0);
        assert_eq!(Sel::from_id(&id).unwrap(), (s, 255));
        assert!(s.contains(a));
    }
}
