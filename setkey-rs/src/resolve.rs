//! Address and port resolution as setkey does it with getaddrinfo(3):
//! host names may resolve to several addresses (all combined pairwise by the
//! caller), `-4`/`-6` restrict the family and `-n` allows numeric hosts only.
//! Error texts are glibc's gai_strerror() strings.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, ToSocketAddrs};

/// Address family restriction from `-4` / `-6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    #[default]
    Any,
    V4,
    V6,
}

pub const EAI_NONAME: &str = "Name or service not known";
pub const EAI_ADDRFAMILY: &str = "Address family for hostname not supported";
pub const EAI_SERVICE: &str = "Servname not supported for ai_socktype";

/// Most addresses taken from one name.
pub const MAX_ADDRS: usize = 64;

/// Resolves host names and services; tests use a fixed table.
pub trait Resolver {
    /// Resolve `host` (numeric or name) to addresses of `family`.
    fn resolve_host(
        &self,
        host: &str,
        family: Family,
        numeric: bool,
    ) -> Result<Vec<IpAddr>, String>;
    /// Resolve a UDP service name to a port.
    fn service(&self, name: &str) -> Option<u16>;
}

/// Parse a numeric IPv4 or IPv6 address (IPv6 may carry `%scope`).
pub fn parse_numeric_scoped(s: &str) -> Option<(IpAddr, u32)> {
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Some((IpAddr::V4(a), 0));
    }
    let (a, scope) = match s.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (s, None),
    };
    let a = a.parse::<Ipv6Addr>().ok()?;
    let scope = match scope {
        None => 0,
        Some(z) => match z.parse::<u32>() {
            Ok(n) => n,
            Err(_) => if_index(z)?,
        },
    };
    Some((IpAddr::V6(a), scope))
}

/// Numeric address without scope information.
pub fn parse_numeric(s: &str) -> Option<IpAddr> {
    parse_numeric_scoped(s).map(|(a, _)| a)
}

/// Interface index of a network interface, from sysfs.
fn if_index(name: &str) -> Option<u32> {
    if name.is_empty() || name.len() > 15 || name.contains('/') || name.starts_with('.') {
        return None;
    }
    let s = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex")).ok()?;
    s.trim().parse().ok()
}

/// Build a socket address, keeping an IPv6 scope id.
pub fn sockaddr(host: &str, ip: IpAddr, port: u16) -> SocketAddr {
    match ip {
        IpAddr::V6(a) => {
            let scope = parse_numeric_scoped(host).map(|(_, z)| z).unwrap_or(0);
            SocketAddr::V6(SocketAddrV6::new(a, port, 0, scope))
        }
        IpAddr::V4(_) => SocketAddr::new(ip, port),
    }
}

fn family_ok(a: &IpAddr, f: Family) -> bool {
    match f {
        Family::Any => true,
        Family::V4 => a.is_ipv4(),
        Family::V6 => a.is_ipv6(),
    }
}

/// The system resolver (getaddrinfo through std, `/etc/services`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve_host(
        &self,
        host: &str,
        family: Family,
        numeric: bool,
    ) -> Result<Vec<IpAddr>, String> {
        if let Some(a) = parse_numeric(host) {
            if !family_ok(&a, family) {
                return Err(EAI_ADDRFAMILY.into());
            }
            return Ok(vec![a]);
        }
        if numeric {
            return Err(EAI_NONAME.into());
        }
        let addrs = (host, 0u16)
            .to_socket_addrs()
            .map_err(|_| EAI_NONAME.to_string())?;
        let mut out: Vec<IpAddr> = Vec::new();
        let mut any = false;
        for a in addrs {
            any = true;
            let ip = a.ip();
            if family_ok(&ip, family) && !out.contains(&ip) && out.len() < MAX_ADDRS {
                out.push(ip);
            }
        }
        if out.is_empty() {
            return Err(if any { EAI_ADDRFAMILY } else { EAI_NONAME }.into());
        }
        Ok(out)
    }

    fn service(&self, name: &str) -> Option<u16> {
        let text = std::fs::read_to_string("/etc/services").ok()?;
        lookup_service(&text, name)
    }
}

/// Find a UDP service in `/etc/services` text.
pub fn lookup_service(text: &str, name: &str) -> Option<u16> {
    for line in text.lines().take(100_000) {
        let line = line.split('#').next().unwrap_or("");
        let mut it = line.split_whitespace();
        let (Some(svc), Some(pp)) = (it.next(), it.next()) else {
            continue;
        };
        let Some((port, proto)) = pp.split_once('/') else {
            continue;
        };
        if proto != "udp" {
            continue;
        }
        if svc == name || it.any(|al| al == name) {
            return port.parse().ok();
        }
    }
    None
}

/// Resolve a port string the way getaddrinfo's service argument works.
pub fn resolve_port(r: &dyn Resolver, port: &str) -> Result<u16, String> {
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
        return port.parse::<u16>().map_err(|_| EAI_SERVICE.to_string());
    }
    r.service(port).ok_or_else(|| EAI_SERVICE.to_string())
}

/// Resolve `host` with an optional port into socket addresses.
pub fn resolve(
    r: &dyn Resolver,
    host: &str,
    port: Option<&str>,
    family: Family,
    numeric: bool,
) -> Result<Vec<SocketAddr>, String> {
    let port = match port {
        Some(p) => resolve_port(r, p)?,
        None => 0,
    };
    let ips = r.resolve_host(host, family, numeric)?;
    Ok(ips.into_iter().map(|ip| sockaddr(host, ip, port)).collect())
}

/// A fixed table resolver for tests.
#[derive(Debug, Default, Clone)]
pub struct StaticResolver {
    pub hosts: Vec<(String, Vec<IpAddr>)>,
    pub services: Vec<(String, u16)>,
}

impl Resolver for StaticResolver {
    fn resolve_host(
        &self,
        host: &str,
        family: Family,
        numeric: bool,
    ) -> Result<Vec<IpAddr>, String> {
        if let Some(a) = parse_numeric(host) {
            if !family_ok(&a, family) {
                return Err(EAI_ADDRFAMILY.into());
            }
            return Ok(vec![a]);
        }
        if numeric {
            return Err(EAI_NONAME.into());
        }
        let Some((_, v)) = self.hosts.iter().find(|(h, _)| h == host) else {
            return Err(EAI_NONAME.into());
        };
        let out: Vec<IpAddr> = v.iter().copied().filter(|a| family_ok(a, family)).collect();
        if out.is_empty() {
            return Err(EAI_ADDRFAMILY.into());
        }
        Ok(out)
    }
    fn service(&self, name: &str) -> Option<u16> {
        self.services
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| *p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_and_names() {
        let r = StaticResolver {
            hosts: vec![(
                "gw".into(),
                vec!["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()],
            )],
            services: vec![("isakmp".into(), 500)],
        };
        assert_eq!(
            resolve(&r, "gw", Some("isakmp"), Family::Any, false)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            resolve(&r, "gw", None, Family::V6, false).unwrap(),
            vec!["[fd00::1]:0".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve(&r, "gw", None, Family::Any, true).unwrap_err(),
            EAI_NONAME
        );
        assert_eq!(
            resolve(&r, "10.0.0.1", None, Family::V6, false).unwrap_err(),
            EAI_ADDRFAMILY
        );
        assert_eq!(
            resolve(&r, "10.0.0.1", Some("99999"), Family::Any, false).unwrap_err(),
            EAI_SERVICE
        );
        let a = resolve(&r, "fe80::1%7", Some("4500"), Family::Any, true).unwrap();
        match a[0] {
            SocketAddr::V6(v) => assert_eq!((v.scope_id(), v.port()), (7, 4500)),
            SocketAddr::V4(_) => panic!("family"),
        }
    }

    #[test]
    fn services_file() {
        let t = "isakmp\t\t500/udp\n# x\nipsec-nat-t\t4500/udp  natt # c\nfoo 1/tcp\n";
        assert_eq!(lookup_service(t, "natt"), Some(4500));
        assert_eq!(lookup_service(t, "foo"), None);
    }
}
