//! The ABI-dependent parts of the wire format, kept in one place.
//!
//! PF_KEY v2 differs between Linux and the BSDs in the `sockaddr` layout
//! (Linux: no `sa_len`, `sa_family` is a host-order u16; BSD: `sa_len` u8 +
//! `sa_family` u8), in the numbering of extensions 23–26 and in the size of
//! `sadb_x_ipsecrequest`. This crate implements the **Linux** ABI; everything
//! that would change for a BSD layout lives in this module ([`Layout`]), so a
//! `Layout::Bsd` can be added later without touching the codec.
//!
//! Byte order, Linux ABI (little-endian hosts here):
//!
//! | field | order |
//! |---|---|
//! | all `sadb_*` lengths, types, counts, lifetimes, reqids, ids, priorities, spirange, bits | host |
//! | `sadb_sa_spi` | network (big-endian) |
//! | `sadb_x_nat_t_port_port` | network |
//! | `sin_port` / `sin6_port`, `sin_addr` / `sin6_addr`, `sin6_flowinfo` | network |
//! | `sa_family`, `sin6_scope_id` | host |
//! | `sadb_x_filter_saddr/daddr` | raw address bytes (network) |
//! | sensitivity bitmaps (u64 words) | host |

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Linux `AF_INET`.
pub const AF_INET: u16 = 2;
/// Linux `AF_INET6`.
pub const AF_INET6: u16 = 10;
/// `sizeof(struct sockaddr_in)` on Linux.
pub const SOCKADDR_IN_LEN: usize = 16;
/// `sizeof(struct sockaddr_in6)` on Linux.
pub const SOCKADDR_IN6_LEN: usize = 28;
/// `sizeof(struct sadb_msg)`.
pub const MSG_HEADER_LEN: usize = 16;
/// `sizeof(struct sadb_x_ipsecrequest)` on Linux (32-bit reqid).
pub const IPSECREQUEST_LEN: usize = 16;
/// Largest message a u16 length in 64-bit words can describe.
pub const MAX_MSG_LEN: usize = 0xffff * 8;

/// Which kernel ABI a message uses. Only Linux is implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Layout {
    /// `<linux/pfkeyv2.h>` + `<linux/ipsec.h>`.
    #[default]
    Linux,
}

/// Why a sockaddr could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SockaddrError {
    /// Fewer bytes than the family's sockaddr size.
    #[error("sockaddr too short")]
    Short,
    /// Neither `AF_INET` nor `AF_INET6`.
    #[error("unsupported address family {0}")]
    Family(u16),
}

/// Round `n` up to a multiple of 8.
pub const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

impl Layout {
    /// The ABI this crate speaks.
    pub const CURRENT: Layout = Layout::Linux;

    /// Size of the sockaddr encoding `addr`.
    pub const fn sockaddr_len(self, addr: &SocketAddr) -> usize {
        match addr {
            SocketAddr::V4(_) => SOCKADDR_IN_LEN,
            SocketAddr::V6(_) => SOCKADDR_IN6_LEN,
        }
    }

    /// Address family number of a socket address.
    pub const fn family(self, addr: &SocketAddr) -> u16 {
        match addr {
            SocketAddr::V4(_) => AF_INET,
            SocketAddr::V6(_) => AF_INET6,
        }
    }

    /// Append the sockaddr for `addr` (unpadded).
    pub fn put_sockaddr(self, out: &mut Vec<u8>, addr: &SocketAddr) {
        match addr {
            SocketAddr::V4(a) => {
                out.extend_from_slice(&AF_INET.to_ne_bytes());
                out.extend_from_slice(&a.port().to_be_bytes());
                out.extend_from_slice(&a.ip().octets());
                out.extend_from_slice(&[0u8; 8]);
            }
            SocketAddr::V6(a) => {
                out.extend_from_slice(&AF_INET6.to_ne_bytes());
                out.extend_from_slice(&a.port().to_be_bytes());
                out.extend_from_slice(&a.flowinfo().to_be_bytes());
                out.extend_from_slice(&a.ip().octets());
                out.extend_from_slice(&a.scope_id().to_ne_bytes());
            }
        }
    }

    /// Read one sockaddr from the front of `b`; returns it and its size.
    pub fn get_sockaddr(self, b: &[u8]) -> Result<(SocketAddr, usize), SockaddrError> {
        let fam = match b {
            [x, y, ..] => u16::from_ne_bytes([*x, *y]),
            _ => return Err(SockaddrError::Short),
        };
        match fam {
            AF_INET => {
                let s = b.get(..SOCKADDR_IN_LEN).ok_or(SockaddrError::Short)?;
                let port = u16::from_be_bytes([s[2], s[3]]);
                let ip = Ipv4Addr::new(s[4], s[5], s[6], s[7]);
                Ok((SocketAddr::V4(SocketAddrV4::new(ip, port)), SOCKADDR_IN_LEN))
            }
            AF_INET6 => {
                let s = b.get(..SOCKADDR_IN6_LEN).ok_or(SockaddrError::Short)?;
                let port = u16::from_be_bytes([s[2], s[3]]);
                let flow = u32::from_be_bytes([s[4], s[5], s[6], s[7]]);
                let mut ip = [0u8; 16];
                ip.copy_from_slice(&s[8..24]);
                let scope = u32::from_ne_bytes([s[24], s[25], s[26], s[27]]);
                Ok((
                    SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope)),
                    SOCKADDR_IN6_LEN,
                ))
            }
            other => Err(SockaddrError::Family(other)),
        }
    }

    /// Wire number of `SADB_X_EXT_NAT_T_OA` etc. are fixed to Linux values in
    /// [`crate::ExtType`]; this returns the highest extension type known.
    pub const fn ext_max(self) -> u16 {
        26
    }

    /// Highest message type known (`SADB_MAX`).
    pub const fn msg_max(self) -> u8 {
        24
    }
}
