//! Commands → PF_KEY messages, with setkey's extension order and defaults.

use crate::algs::*;
use crate::ast::{Command, SaSpec, SecCtx, SpdSpec};
use crate::policy::{Policy as AstPolicy, DIR_FWD, DIR_INBOUND, LEVEL_REQUIRE, LEVEL_UNIQUE};
use pfkey::{
    Address, AuthAlg, Dir, EncAlg, Endpoints, Extension, IpsecProto, IpsecRequest, Key, Level,
    Lifetime, Message, Mode, MsgType, NatTType, PolicyType, Sa, Sa2, SaFlags, SaState, SaType,
    SpiRange,
};
use std::net::SocketAddr;

/// Options that change the messages built.
#[derive(Debug, Clone, Copy)]
pub struct BuildOpts {
    /// `sadb_msg_pid` (setkey uses getpid()).
    pub pid: u32,
    /// Linux "RFC mode" (default; `-k` turns it off): every `in` policy is also
    /// installed as `fwd`, with `unique` turned into `require` on the first request.
    pub rfc_mode: bool,
}

/// Building failed (only for values PF_KEY cannot carry).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("key too long")]
    KeyTooLong,
    #[error("address family mismatch")]
    NoAddressPair,
}

fn header(t: MsgType, satype: u8, pid: u32) -> Message {
    Message::new(t, SaType(satype)).with_pid(pid)
}

fn key(k: &crate::ast::Key) -> Result<Key, BuildError> {
    Key::new(k.bytes()).ok_or(BuildError::KeyTooLong)
}

fn sec_ctx(c: &SecCtx) -> Extension {
    // setkey sends the label with its terminating NUL (len + 1).
    let mut ctx = c.label.clone();
    ctx.push(0);
    Extension::SecCtx(pfkey::SecCtx {
        alg: c.alg,
        doi: c.doi,
        ctx,
    })
}

fn sa_ext(s: &SaSpec) -> Extension {
    Extension::Sa(Sa {
        spi: s.spi,
        replay: s.replay,
        state: SaState::LARVAL,
        auth: AuthAlg(s.aalg),
        encrypt: EncAlg(s.ealg),
        flags: SaFlags(s.flags),
    })
}

fn sa2_ext(s: &SaSpec) -> Extension {
    Extension::Sa2(Sa2 {
        mode: Mode(s.mode),
        sequence: 0,
        reqid: s.reqid,
    })
}

fn pairs(src: &[SocketAddr], dst: &[SocketAddr]) -> Vec<(SocketAddr, SocketAddr)> {
    let mut v = Vec::new();
    for s in src {
        for d in dst {
            if s.is_ipv4() == d.is_ipv4() {
                v.push((*s, *d));
            }
        }
    }
    v
}

fn host(a: SocketAddr) -> Address {
    Address::host(a)
}

/// SADB_ADD / SADB_UPDATE (setkeymsg_add).
pub fn sa_add(t: MsgType, s: &SaSpec, o: &BuildOpts) -> Result<Vec<Message>, BuildError> {
    let mut base = header(t, s.satype, o.pid);
    if s.satype != SATYPE_IPCOMP {
        if let Some(k) = &s.ekey {
            base.push(Extension::KeyEncrypt(key(k)?));
        }
    }
    if let Some(k) = &s.akey {
        base.push(Extension::KeyAuth(key(k)?));
    }
    if s.hard.addtime != 0 || s.hard.bytes != 0 {
        base.push(Extension::LifetimeHard(Lifetime {
            allocations: 0,
            bytes: s.hard.bytes,
            addtime: s.hard.addtime,
            usetime: 0,
        }));
    }
    if s.soft.addtime != 0 || s.soft.bytes != 0 {
        base.push(Extension::LifetimeSoft(Lifetime {
            allocations: 0,
            bytes: s.soft.bytes,
            addtime: s.soft.addtime,
            usetime: 0,
        }));
    }
    if let Some(c) = &s.sec_ctx {
        if c.doi != 0 {
            base.push(sec_ctx(c));
        }
    }
    base.push(sa_ext(s));
    base.push(sa2_ext(s));
    if let Some(n) = &s.natt {
        base.push(Extension::NatTType(NatTType(NATT_TYPE_ESPINUDP)));
        if let Some(oa) = n.oa {
            base.push(Extension::NatTOa(host(SocketAddr::new(oa.ip(), 0))));
        }
    }
    let ps = pairs(&s.src, &s.dst);
    if ps.is_empty() {
        return Err(BuildError::NoAddressPair);
    }
    let mut out = Vec::with_capacity(ps.len());
    for (src, dst) in ps {
        let mut m = base.clone();
        m.push(Extension::AddressSrc(host(src)));
        m.push(Extension::AddressDst(host(dst)));
        if s.natt.is_some() {
            let port = |a: SocketAddr| if a.port() == 0 { NATT_PORT } else { a.port() };
            m.push(Extension::NatTSport(port(src)));
            m.push(Extension::NatTDport(port(dst)));
        }
        out.push(m);
    }
    Ok(out)
}

/// SADB_GET / SADB_DELETE (setkeymsg_addr); `spi: None` = no SA/SA2 ext.
pub fn sa_addr(
    t: MsgType,
    s: &SaSpec,
    with_spi: bool,
    o: &BuildOpts,
) -> Result<Vec<Message>, BuildError> {
    let mut base = header(t, s.satype, o.pid);
    if with_spi {
        base.push(sa_ext(s));
        base.push(sa2_ext(s));
    }
    let ps = pairs(&s.src, &s.dst);
    if ps.is_empty() {
        return Err(BuildError::NoAddressPair);
    }
    Ok(ps
        .into_iter()
        .map(|(src, dst)| {
            let mut m = base.clone();
            m.push(Extension::AddressSrc(host(src)));
            m.push(Extension::AddressDst(host(dst)));
            m
        })
        .collect())
}

/// NetBSD `getspi`: SADB_GETSPI asking for exactly the given SPI.
pub fn getspi(s: &SaSpec, o: &BuildOpts) -> Result<Vec<Message>, BuildError> {
    let mut base = header(MsgType::GETSPI, s.satype, o.pid);
    base.push(sa2_ext(s));
    let ps = pairs(&s.src, &s.dst);
    if ps.is_empty() {
        return Err(BuildError::NoAddressPair);
    }
    Ok(ps
        .into_iter()
        .map(|(src, dst)| {
            let mut m = base.clone();
            m.push(Extension::AddressSrc(host(src)));
            m.push(Extension::AddressDst(host(dst)));
            m.push(Extension::SpiRange(SpiRange {
                min: s.spi,
                max: s.spi,
            }));
            m
        })
        .collect())
}

/// The X_POLICY extension for a parsed policy.
pub fn policy_ext(p: &AstPolicy) -> pfkey::Policy {
    pfkey::Policy {
        policy_type: PolicyType(p.action),
        dir: Dir(p.dir),
        id: 0,
        priority: p.priority,
        requests: p
            .requests
            .iter()
            .map(|r| IpsecRequest {
                proto: IpsecProto(r.proto),
                mode: Mode(r.mode),
                level: Level(r.level),
                reqid: r.reqid,
                tunnel: r.tunnel.map(|(src, dst)| Endpoints { src, dst }),
            })
            .collect(),
    }
}

/// SPDADD / SPDUPDATE / SPDDELETE (setkeymsg_spdaddr), with the fwd copy.
pub fn spd(t: MsgType, s: &SpdSpec, o: &BuildOpts) -> Vec<Message> {
    let mut m = header(t, SATYPE_UNSPEC, o.pid);
    m.push(Extension::Policy(policy_ext(&s.policy)));
    m.push(Extension::AddressSrc(Address::new(
        s.src,
        s.src_prefix,
        s.upper,
    )));
    m.push(Extension::AddressDst(Address::new(
        s.dst,
        s.dst_prefix,
        s.upper,
    )));
    if let Some(c) = &s.sec_ctx {
        if c.doi != 0 {
            m.push(sec_ctx(c));
        }
    }
    let mut out = vec![m.clone()];
    if o.rfc_mode && s.policy.dir == DIR_INBOUND {
        let mut p = policy_ext(&s.policy);
        p.dir = Dir(DIR_FWD);
        if let Some(r) = p.requests.first_mut() {
            if r.level == Level(LEVEL_UNIQUE) {
                r.reqid = 0;
                r.level = Level(LEVEL_REQUIRE);
            }
        }
        m.set(Extension::Policy(p));
        out.push(m);
    }
    out
}

/// All messages of one command (DELETEALL on Linux needs a DUMP first and is
/// handled by the runner; here it is the BSD form without SA).
pub fn build(cmd: &Command, o: &BuildOpts) -> Result<Vec<Message>, BuildError> {
    Ok(match cmd {
        Command::Add(s) => sa_add(MsgType::ADD, s, o)?,
        Command::Update(s) => sa_add(MsgType::UPDATE, s, o)?,
        Command::Get(s) => sa_addr(MsgType::GET, s, true, o)?,
        Command::Delete(s) => sa_addr(MsgType::DELETE, s, true, o)?,
        Command::GetSpi(s) => getspi(s, o)?,
        Command::DeleteAll { satype, src, dst } => {
            let s = SaSpec {
                satype: *satype,
                src: src.clone(),
                dst: dst.clone(),
                ..SaSpec::default()
            };
            sa_addr(MsgType::DELETE, &s, false, o)?
        }
        Command::Flush(t) => vec![header(MsgType::FLUSH, *t, o.pid)],
        Command::Dump(t) => vec![header(MsgType::DUMP, *t, o.pid)],
        Command::SpdAdd(s) => spd(MsgType::X_SPDADD, s, o),
        Command::SpdUpdate(s) => spd(MsgType::X_SPDUPDATE, s, o),
        Command::SpdDelete(s) => spd(MsgType::X_SPDDELETE, s, o),
        Command::SpdTagged { update, policy, .. } => {
            // Linux has no SADB_X_EXT_TAG: setkey sends the policy alone.
            let t = if *update {
                MsgType::X_SPDUPDATE
            } else {
                MsgType::X_SPDADD
            };
            vec![header(t, SATYPE_UNSPEC, o.pid).with(Extension::Policy(policy_ext(policy)))]
        }
        Command::SpdFlush => vec![header(MsgType::X_SPDFLUSH, SATYPE_UNSPEC, o.pid)],
        Command::SpdDump => vec![header(MsgType::X_SPDDUMP, SATYPE_UNSPEC, o.pid)],
        Command::Exit => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{parse_all, ParseCtx, Supported};
    use crate::resolve::StaticResolver;

    fn msgs(src: &str, rfc: bool) -> Vec<Message> {
        let r = StaticResolver {
            hosts: vec![(
                "multi".into(),
                vec![
                    "10.0.0.1".parse().unwrap(),
                    "10.0.0.9".parse().unwrap(),
                    "fd00::1".parse().unwrap(),
                ],
            )],
            services: vec![],
        };
        let sup = Supported::linux_default();
        let (v, e) = parse_all(
            src.as_bytes(),
            ParseCtx {
                resolver: &r,
                supported: Some(&sup),
            },
        );
        assert_eq!(e, None);
        let o = BuildOpts {
            pid: 42,
            rfc_mode: rfc,
        };
        v.iter().flat_map(|s| build(&s.cmd, &o).unwrap()).collect()
    }

    #[test]
    fn add_order_and_values() {
        let m = msgs(
            "add 10.0.0.1 10.0.0.2 esp 0x1234 -m tunnel -u 3 -lh 100 -bs 7 -E aes-cbc 0x00112233445566778899aabbccddeeff -A hmac-sha1 \"01234567890123456789\";",
            true,
        );
        assert_eq!(m.len(), 1);
        let m = &m[0];
        assert_eq!(m.header.msg_type, MsgType::ADD);
        assert_eq!(m.header.satype, SaType::ESP);
        assert_eq!(m.header.pid, 42);
        let types: Vec<u16> = m.exts.iter().map(|e| e.ext_type().0).collect();
        assert_eq!(types, vec![9, 8, 3, 4, 1, 19, 5, 6]);
        let sa = m.sa().unwrap();
        assert_eq!(
            (sa.spi, sa.encrypt, sa.auth, sa.flags),
            (0x1234, EncAlg(12), AuthAlg(3), SaFlags(0x40))
        );
        assert_eq!(m.sa2().unwrap().reqid, 3);
        assert_eq!(m.lifetime_hard().unwrap().addtime, 100);
        assert_eq!(m.lifetime_soft().unwrap().bytes, 7);
        assert_eq!(m.key_encrypt().unwrap().bits(), 128);
        let bytes = m.encode().unwrap();
        assert_eq!(Message::decode(&bytes).unwrap(), *m);
    }

    #[test]
    fn pairs_natt_and_null() {
        let m = msgs("add multi 10.0.0.2[5000] esp-udp 0x10 -E null;", true);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].nat_t_type(), Some(&NatTType(2)));
        assert_eq!(m[0].nat_t_sport(), Some(&4500));
        assert_eq!(m[0].nat_t_dport(), Some(&5000));
        assert_eq!(m[0].key_encrypt().unwrap().bits(), 0);
        assert_eq!(m[1].addr_src().unwrap().addr, "10.0.0.9:0".parse().unwrap());
        let m = msgs("add 1.1.1.1 2.2.2.2 ipcomp 0x100 -C deflate;", true);
        assert!(m[0].key_encrypt().is_none());
        assert_eq!(m[0].sa().unwrap().encrypt, EncAlg(2));
    }

    #[test]
    fn spd_fwd_copy() {
        let m = msgs(
            "spdadd 10.0.0.0/8 10.1.0.0/16 any -P in ipsec esp/tunnel/1.1.1.1-2.2.2.2/unique:5 ah/transport//unique:6;",
            true,
        );
        assert_eq!(m.len(), 2);
        let p0 = m[0].policy().unwrap();
        let p1 = m[1].policy().unwrap();
        assert_eq!((p0.dir, p1.dir), (Dir::IN, Dir::FWD));
        assert_eq!(
            (p1.requests[0].level, p1.requests[0].reqid),
            (Level::REQUIRE, 0)
        );
        assert_eq!(
            (p1.requests[1].level, p1.requests[1].reqid),
            (Level::UNIQUE, 6)
        );
        assert_eq!(p0.requests[0].reqid, 5);
        assert_eq!(m[0].addr_src().unwrap().prefixlen, 8);
        assert_eq!(m[0].addr_dst().unwrap().proto, 255);
        let m = msgs("spdadd 10.0.0.0/8 10.1.0.0/16 any -P in none;", false);
        assert_eq!(m.len(), 1);
        let m = msgs("spdadd 10.0.0.0/8 10.1.0.0/16 tcp -P out none;", true);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].addr_src().unwrap().proto, 6);
        for x in &m {
            assert_eq!(Message::decode(&x.encode().unwrap()).unwrap(), *x);
        }
    }
}
