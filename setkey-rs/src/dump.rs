//! Output formats of ipsec-tools setkey on Linux, byte for byte:
//! `-D` (pfkey_sadump), `-DP` (pfkey_spdump), `-D -l` (shortdump) and the
//! kdebug form of `-v`/`-x`.

use crate::algs;
use pfkey::{Message, SaType};
use std::fmt::Write as _;
use std::net::SocketAddr;

/// Wall-clock time and its `ctime()` rendering, injectable for tests.
pub trait Clock {
    /// Seconds since the epoch.
    fn now(&self) -> u64;
    /// `ctime()` characters 4..24 (`Mon dd hh:mm:ss yyyy`) of `t`, local time.
    fn date20(&self, t: u64) -> String;
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Civil date from days since 1970-01-01 (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Render `t + offset` seconds as ctime()[4..24].
pub fn date20_with_offset(t: u64, offset: i64) -> String {
    let t = (t.min(i64::MAX as u64) as i64).saturating_add(offset);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let mon = MONTHS[(m as usize).saturating_sub(1).min(11)];
    let mut s = format!(
        "{mon} {d:>2} {:02}:{:02}:{:02} {y}",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    );
    s.truncate(20);
    while s.len() < 20 {
        s.push(' ');
    }
    s
}

/// The system clock; local time via the C library's time zone rules.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    /// Local time offset from UTC at `t`, in seconds.
    pub fn utc_offset(t: u64) -> i64 {
        let tt = t.min(i64::MAX as u64) as libc::time_t;
        // SAFETY: localtime_r only writes into the tm we own; both pointers are valid.
        unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            if libc::localtime_r(&tt, &mut tm).is_null() {
                return 0;
            }
            tm.tm_gmtoff
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
    fn date20(&self, t: u64) -> String {
        date20_with_offset(t, Self::utc_offset(t))
    }
}

/// A fixed clock in UTC, for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0
    }
    fn date20(&self, t: u64) -> String {
        date20_with_offset(t, 0)
    }
}

/// `str_time()`: 20 spaces for 0.
fn str_time(c: &dyn Clock, t: u64) -> String {
    if t == 0 {
        " ".repeat(20)
    } else {
        c.date20(t)
    }
}

/// ipsec_hexdump(): a space before every 4-byte group, newline every 32 bytes.
pub fn hexdump(out: &mut String, b: &[u8]) {
    for (i, x) in b.iter().enumerate() {
        if i != 0 && i % 32 == 0 {
            out.push('\n');
        }
        if i % 4 == 0 {
            out.push(' ');
        }
        let _ = write!(out, "{x:02x}");
    }
}

/// getnameinfo(NI_NUMERICHOST).
pub fn str_ipaddr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => v.ip().to_string(),
        SocketAddr::V6(v) if v.scope_id() != 0 => format!("{}%{}", v.ip(), v.scope_id()),
        SocketAddr::V6(v) => v.ip().to_string(),
    }
}

fn name_or_num(name: Option<&str>, n: impl std::fmt::Display) -> String {
    match name {
        Some(s) => s.to_string(),
        None => n.to_string(),
    }
}

/// `setkey -D` for one SADB_DUMP/SADB_GET reply (pfkey_sadump1).
pub fn sadump(out: &mut String, m: &Message, withports: bool, clock: &dyn Clock) {
    let satype = m.header.satype.0;
    let natt = m.nat_t_type().is_some_and(|t| t.0 != 0);
    let Some(src) = m.addr_src() else {
        out.push_str("no ADDRESS_SRC extension.\n");
        return;
    };
    let addr = |out: &mut String, a: &SocketAddr, natport: Option<&u16>| {
        out.push_str(&str_ipaddr(a));
        if withports {
            let _ = write!(out, "[{}]", a.port());
        }
        if natt {
            if let Some(p) = natport {
                let _ = write!(out, "[{p}]");
            }
        }
        out.push(' ');
    };
    addr(out, &src.addr, m.nat_t_sport());
    let Some(dst) = m.addr_dst() else {
        out.push_str(" no ADDRESS_DST extension.\n");
        return;
    };
    addr(out, &dst.addr, m.nat_t_dport());
    let Some(sa) = m.sa() else {
        out.push_str("no SA extension.\n");
        return;
    };
    let Some(sa2) = m.sa2() else {
        out.push_str("no SA2 extension.\n");
        return;
    };
    out.push_str("\n\t");
    if natt && satype == SaType::ESP.0 {
        out.push_str("esp-udp ");
    } else {
        if natt {
            out.push_str("natt+");
        }
        out.push_str(&name_or_num(algs::satype_name(satype), satype));
        out.push(' ');
    }
    let _ = writeln!(
        out,
        "mode={} spi={}(0x{:08x}) reqid={}(0x{:08x})",
        name_or_num(algs::mode_name(sa2.mode.0), sa2.mode.0),
        sa.spi,
        sa.spi,
        sa2.reqid,
        sa2.reqid
    );
    if natt {
        if let Some(oa) = m.nat_t_oa() {
            let _ = writeln!(out, "\tNAT OA={}", str_ipaddr(&oa.addr));
        }
    }
    if satype == SaType::IPCOMP.0 {
        let _ = write!(
            out,
            "\tC: {} ",
            name_or_num(algs::calg_name(sa.encrypt.0), sa.encrypt.0)
        );
    } else if satype == SaType::ESP.0 {
        if let Some(k) = m.key_encrypt() {
            let _ = write!(
                out,
                "\tE: {} ",
                name_or_num(algs::ealg_name(sa.encrypt.0), sa.encrypt.0)
            );
            let n = (usize::from(k.bits()) / 8).min(k.bytes().len());
            hexdump(out, &k.bytes()[..n]);
            out.push('\n');
        }
    }
    if let Some(k) = m.key_auth() {
        let _ = write!(
            out,
            "\tA: {} ",
            name_or_num(algs::aalg_name(sa.auth.0), sa.auth.0)
        );
        let n = (usize::from(k.bits()) / 8).min(k.bytes().len());
        hexdump(out, &k.bytes()[..n]);
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\tseq=0x{:08x} replay={} flags=0x{:08x} state={} ",
        sa2.sequence,
        sa.replay,
        sa.flags.0,
        name_or_num(algs::state_name(sa.state.0), sa.state.0)
    );
    if let Some(c) = m.lifetime_current() {
        let now = clock.now();
        let h = m.lifetime_hard();
        let s = m.lifetime_soft();
        let _ = write!(out, "\tcreated: {}", str_time(clock, c.addtime));
        let _ = writeln!(out, "\tcurrent: {}", str_time(clock, now));
        let diff = if c.addtime == 0 {
            0
        } else {
            now.wrapping_sub(c.addtime)
        };
        let _ = write!(out, "\tdiff: {diff}(s)");
        let _ = write!(out, "\thard: {}(s)", h.map_or(0, |l| l.addtime));
        let _ = writeln!(out, "\tsoft: {}(s)", s.map_or(0, |l| l.addtime));
        let _ = write!(out, "\tlast: {}", str_time(clock, c.usetime));
        let _ = write!(out, "\thard: {}(s)", h.map_or(0, |l| l.usetime));
        let _ = writeln!(out, "\tsoft: {}(s)", s.map_or(0, |l| l.usetime));
        let _ = write!(out, "\tcurrent: {}(bytes)", c.bytes);
        let _ = write!(out, "\thard: {}(bytes)", h.map_or(0, |l| l.bytes));
        let _ = writeln!(out, "\tsoft: {}(bytes)", s.map_or(0, |l| l.bytes));
        let _ = write!(out, "\tallocated: {}", c.allocations);
        let _ = write!(out, "\thard: {}", h.map_or(0, |l| l.allocations));
        let _ = writeln!(out, "\tsoft: {}", s.map_or(0, |l| l.allocations));
    }
    if let Some(c) = m.sec_ctx() {
        sec_ctx_lines(out, c);
    }
    let _ = writeln!(
        out,
        "\tsadb_seq={} pid={} refcnt={}",
        m.header.seq, m.header.pid, m.header.reserved
    );
}

fn sec_ctx_lines(out: &mut String, c: &pfkey::SecCtx) {
    let _ = writeln!(out, "\tsecurity context doi: {}", c.doi);
    let _ = writeln!(out, "\tsecurity context algorithm: {}", c.alg);
    let _ = writeln!(out, "\tsecurity context length: {}", c.ctx.len());
    let text: Vec<u8> = c.ctx.iter().copied().take_while(|&b| b != 0).collect();
    let _ = writeln!(
        out,
        "\tsecurity context: {}",
        String::from_utf8_lossy(&text)
    );
}

fn str_prefport(a: &SocketAddr, pref: u8, port: u16, ulp: u8) -> String {
    let plen = if a.is_ipv4() { 32 } else { 128 };
    let mut s = String::new();
    if pref != plen {
        let _ = write!(s, "/{pref}");
    }
    match ulp {
        algs::IPPROTO_ICMP | algs::IPPROTO_ICMPV6 | algs::IPPROTO_MH | algs::IPPROTO_GRE => {}
        _ if port == 0 => s.push_str("[any]"),
        _ => {
            let _ = write!(s, "[{port}]");
        }
    }
    s
}

fn str_upperspec(out: &mut String, ulp: u8, p1: u16, p2: u16) {
    match algs::proto_by_number(ulp) {
        Some(n) => out.push_str(n),
        None => {
            let _ = write!(out, "{ulp}");
        }
    }
    if p1 == 0 && p2 == 0 {
        return;
    }
    match ulp {
        algs::IPPROTO_ICMP | algs::IPPROTO_ICMPV6 | algs::IPPROTO_MH => {
            let _ = write!(out, " {p1},{p2}");
        }
        algs::IPPROTO_GRE => {
            let _ = write!(out, " {}", (u32::from(p1) << 16) + u32::from(p2));
        }
        _ => {}
    }
}

/// ipsec_dump_policy() with Linux priorities; Err = ipsec_strerror text.
pub fn dump_policy(
    p: &pfkey::Policy,
    delim: &str,
    withports: bool,
) -> Result<String, &'static str> {
    use crate::policy::{PRIORITY_DEFAULT, PRIORITY_HIGH, PRIORITY_LOW};
    let (off, pstr) = if p.priority == 0 {
        (0i32, "")
    } else if p.priority < (PRIORITY_DEFAULT / 4) * 3 {
        (p.priority.wrapping_sub(PRIORITY_HIGH) as i32, "prio high")
    } else if p.priority < (PRIORITY_DEFAULT / 4) * 5 {
        (p.priority.wrapping_sub(PRIORITY_DEFAULT) as i32, "prio def")
    } else {
        (p.priority.wrapping_sub(PRIORITY_LOW) as i32, "prio low")
    };
    let mut off = off.wrapping_neg();
    let op = if off < 0 {
        off = off.wrapping_neg();
        '-'
    } else {
        '+'
    };
    let dir = match p.dir.0 {
        0 => "any",
        1 => "in",
        2 => "out",
        3 => "fwd",
        4 => "in(socket)",
        5 => "out(socket)",
        _ => return Err("Invalid direction"),
    };
    let action = match p.policy_type.0 {
        0 => "discard",
        1 => "none",
        2 => "ipsec",
        3 => "entrust",
        4 => "bypass",
        _ => return Err("Invalid security policy"),
    };
    let mut s = if off != 0 {
        format!("{dir} {pstr} {op} {} {action}", off as u32)
    } else if !pstr.is_empty() {
        format!("{dir} {pstr} {action}")
    } else {
        format!("{dir} {action}")
    };
    if p.policy_type.0 != 2 {
        return Ok(s);
    }
    for r in &p.requests {
        let proto = match r.proto.0 {
            50 => "esp",
            51 => "ah",
            108 => "ipcomp",
            _ => return Err("Invalid ipsec protocol"),
        };
        let mode = match r.mode.0 {
            0 => "any",
            1 => "transport",
            2 => "tunnel",
            _ => return Err("Invalid ipsec mode"),
        };
        let abuf = match &r.tunnel {
            None => String::new(),
            Some(e) => {
                let one = |a: &SocketAddr| {
                    if withports {
                        format!("{}[{}]", str_ipaddr(a), a.port())
                    } else {
                        str_ipaddr(a)
                    }
                };
                format!("{}-{}", one(&e.src), one(&e.dst))
            }
        };
        let level = match r.level.0 {
            0 => "default",
            1 => "use",
            2 => "require",
            3 => "unique",
            _ => return Err("Invalid ipsec level"),
        };
        s.push_str(delim);
        let _ = write!(s, "{proto}/{mode}/{abuf}/{level}");
        if r.reqid != 0 {
            let ch = if r.reqid > pfkey::IPSEC_MANUAL_REQID_MAX {
                '#'
            } else {
                ':'
            };
            let _ = write!(s, "{ch}{}", r.reqid);
        }
    }
    Ok(s)
}

/// `setkey -DP` for one SPD message (pfkey_spdump1, Linux build).
pub fn spdump(out: &mut String, m: &Message, withports: bool, clock: &dyn Clock) {
    let Some(xpl) = m.policy() else {
        out.push_str("no X_POLICY extension.\n");
        return;
    };
    if xpl.id % 8 >= 3 {
        out.push_str("(per-socket policy) ");
    } else if let (Some(s), Some(d)) = (m.addr_src(), m.addr_dst()) {
        let _ = write!(
            out,
            "{}{} ",
            str_ipaddr(&s.addr),
            str_prefport(&s.addr, s.prefixlen, s.addr.port(), s.proto)
        );
        let _ = write!(
            out,
            "{}{} ",
            str_ipaddr(&d.addr),
            str_prefport(&d.addr, d.prefixlen, d.addr.port(), s.proto)
        );
        if s.proto != d.proto {
            out.push_str("upper layer protocol mismatched.\n");
            return;
        }
        str_upperspec(out, s.proto, s.addr.port(), d.addr.port());
    } else {
        out.push_str("(no selector, probably per-socket policy) ");
    }
    match dump_policy(xpl, "\n\t", withports) {
        Ok(d) => {
            let _ = writeln!(out, "\n\t{d}");
        }
        Err(e) => {
            let _ = writeln!(out, "\n\tPolicy:[{e}]");
        }
    }
    if let Some(c) = m.lifetime_current() {
        let _ = write!(out, "\tcreated: {}  ", str_time(clock, c.addtime));
        let _ = writeln!(out, "lastused: {}", str_time(clock, c.usetime));
    }
    if let Some(h) = m.lifetime_hard() {
        let _ = write!(out, "\tlifetime: {}(s) ", h.addtime);
        let _ = writeln!(out, "validtime: {}(s)", h.usetime);
    }
    if let Some(c) = m.sec_ctx() {
        sec_ctx_lines(out, c);
    }
    let _ = writeln!(
        out,
        "\tspid={} seq={} pid={}",
        xpl.id, m.header.seq, m.header.pid
    );
    let _ = writeln!(out, "\trefcnt={}", m.header.reserved);
}

/// Header of `setkey -D -l`.
pub fn shortdump_hdr(out: &mut String) {
    // "%-4s %-3s %-1s %-8s %-7s %s -> %s\n"
    out.push_str("time p   s spi      ltime   src -> dst\n");
}

fn ipproto_short(p: u8) -> String {
    const T: [Option<&str>; 61] = {
        let mut t: [Option<&str>; 61] = [None; 61];
        t[0] = Some("ip");
        t[1] = Some("icmp");
        t[2] = Some("igmp");
        t[3] = Some("ggp");
        t[4] = Some("ip4");
        t[6] = Some("tcp");
        t[8] = Some("egp");
        t[17] = Some("udp");
        t[22] = Some("idp");
        t[29] = Some("tp");
        t[41] = Some("ip6");
        t[43] = Some("rt6");
        t[44] = Some("frag6");
        t[46] = Some("rsvp");
        t[47] = Some("gre");
        t[50] = Some("esp");
        t[51] = Some("ah");
        t[58] = Some("icmp6");
        t[59] = Some("none");
        t[60] = Some("dst6");
        t
    };
    match T.get(usize::from(p)).copied().flatten() {
        Some(s) => s.to_string(),
        None => format!("#{p}"),
    }
}

/// One row of `setkey -D -l` (shortdump).
pub fn shortdump(out: &mut String, m: &Message, now: u64) {
    let _ = write!(out, "{:02}{:02}", (now % 3600) / 60, now % 60);
    let st = match m.header.satype.0 {
        2 => "ah".to_string(),
        3 => "esp".to_string(),
        n => format!("#{n}"),
    };
    let _ = write!(out, " {st:<3}");
    match m.sa() {
        Some(sa) => {
            let s = match sa.state.0 {
                0 => "L".to_string(),
                1 => "M".to_string(),
                2 => "D".to_string(),
                3 => "d".to_string(),
                n => format!("#{n}"),
            };
            let _ = write!(out, " {s:<1} {:08x}", sa.spi);
        }
        None => {
            let _ = write!(out, "{:<1} {:<8}", "?", "?");
        }
    }
    match (m.lifetime_soft(), m.lifetime_hard(), m.lifetime_current()) {
        (Some(_), Some(h), Some(c)) => {
            let t = if c.addtime == 0 {
                0
            } else {
                now.wrapping_sub(c.addtime) as u32 as u64
            };
            if t >= 1000 {
                out.push_str(" big/");
            } else {
                let _ = write!(out, " {t:>3}/");
            }
            let t = h.addtime as u32 as u64;
            if t >= 1000 {
                out.push_str("big");
            } else {
                let _ = write!(out, "{t:<3}");
            }
        }
        _ => out.push_str(" ???/???"),
    }
    out.push(' ');
    for (i, a) in [m.addr_src(), m.addr_dst()].into_iter().enumerate() {
        if i == 1 {
            out.push_str(" -> ");
        }
        match a {
            Some(a) => {
                if a.proto != 0 {
                    let _ = write!(out, "{} ", ipproto_short(a.proto));
                }
                out.push_str(&str_ipaddr(&a.addr));
                if a.addr.port() != 0 {
                    let _ = write!(out, "[{}]", a.addr.port());
                }
            }
            None => out.push('?'),
        }
    }
    out.push('\n');
}

/// A DEAD SA (skipped by `setkey -D` unless `-a`).
pub fn is_dead(m: &Message) -> bool {
    m.sa().is_some_and(|s| s.state.0 == 3)
}

/// kdebug_sockaddr(); returns the bytes consumed.
fn kdebug_sockaddr(out: &mut String, b: &[u8]) -> usize {
    if b.len() < 2 {
        out.push_str("sockaddr{ len=0 family=0 }\n");
        return b.len();
    }
    let fam = u16::from_ne_bytes([b[0], b[1]]);
    match fam {
        2 if b.len() >= 16 => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            let _ = writeln!(out, "sockaddr{{ len=16 family=2 port={port}");
            hexdump(out, &b[4..8]);
            out.push_str("  }\n");
            16
        }
        10 if b.len() >= 28 => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            let flow = u32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
            let scope = u32::from_ne_bytes([b[24], b[25], b[26], b[27]]);
            let _ = writeln!(out, "sockaddr{{ len=28 family=10 port={port}");
            let _ = writeln!(out, "  flowinfo=0x{flow:08x}, scope_id=0x{scope:08x}");
            hexdump(out, &b[8..24]);
            out.push_str("  }\n");
            28
        }
        _ => {
            let _ = writeln!(out, "sockaddr{{ len=0 family={fam}");
            out.push_str("  }\n");
            b.len()
        }
    }
}

fn u16ne(b: &[u8], o: usize) -> u16 {
    b.get(o..o + 2)
        .map_or(0, |x| u16::from_ne_bytes([x[0], x[1]]))
}
fn u32ne(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .map_or(0, |x| u32::from_ne_bytes([x[0], x[1], x[2], x[3]]))
}
fn u64ne(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8).map_or(0, |x| {
        let mut a = [0u8; 8];
        a.copy_from_slice(x);
        u64::from_ne_bytes(a)
    })
}

/// kdebug_sadb(): the `-v`/`-x` dump of one raw message. Bounds-checked;
/// malformed input is reported the way libipsec does and never read past.
pub fn kdebug(out: &mut String, buf: &[u8]) {
    if buf.len() < 16 {
        out.push_str("kdebug_sadb: message too short.\n");
        return;
    }
    let _ = writeln!(
        out,
        "sadb_msg{{ version={} type={} errno={} satype={}",
        buf[0], buf[1], buf[2], buf[3]
    );
    let len = u16ne(buf, 4);
    let _ = writeln!(
        out,
        "  len={} reserved={} seq={} pid={}",
        len,
        u16ne(buf, 6),
        u32ne(buf, 8),
        u32ne(buf, 12)
    );
    let total = (usize::from(len) * 8).min(buf.len());
    let mut off = 16;
    while off + 4 <= total {
        let elen = usize::from(u16ne(buf, off));
        let etype = u16ne(buf, off + 2);
        let _ = writeln!(out, "sadb_ext{{ len={elen} type={etype} }}");
        if elen == 0 {
            out.push_str("kdebug_sadb: invalid ext_len=0 was passed.\n");
            return;
        }
        if off + elen * 8 > total {
            out.push_str("kdebug_sadb: ext_len exceeds end of buffer.\n");
            return;
        }
        let e = &buf[off..off + elen * 8];
        match etype {
            1 => {
                let spi = e
                    .get(4..8)
                    .map_or(0, |x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]));
                let _ = writeln!(
                    out,
                    "sadb_sa{{ spi={spi} replay={} state={}",
                    e.get(8).copied().unwrap_or(0),
                    e.get(9).copied().unwrap_or(0)
                );
                let _ = writeln!(
                    out,
                    "  auth={} encrypt={} flags=0x{:08x} }}",
                    e.get(10).copied().unwrap_or(0),
                    e.get(11).copied().unwrap_or(0),
                    u32ne(e, 12)
                );
            }
            2..=4 => {
                let _ = writeln!(
                    out,
                    "sadb_lifetime{{ alloc={}, bytes={}",
                    u32ne(e, 4),
                    u64ne(e, 8) as u32
                );
                let _ = writeln!(
                    out,
                    "  addtime={}, usetime={} }}",
                    u64ne(e, 16) as u32,
                    u64ne(e, 24) as u32
                );
            }
            5..=7 | 23 => {
                let _ = writeln!(
                    out,
                    "sadb_address{{ proto={} prefixlen={} reserved=0x{:02x}{:02x} }}",
                    e.get(4).copied().unwrap_or(0),
                    e.get(5).copied().unwrap_or(0),
                    e.get(6).copied().unwrap_or(0),
                    e.get(7).copied().unwrap_or(0)
                );
                kdebug_sockaddr(out, e.get(8..).unwrap_or(&[]));
            }
            8 | 9 => {
                let bits = u16ne(e, 4);
                let _ = writeln!(out, "sadb_key{{ bits={bits} reserved={}", u16ne(e, 6));
                out.push_str("  key=");
                let have = e.len().saturating_sub(8);
                let want = usize::from(bits >> 3);
                if want > have {
                    let _ = writeln!(
                        out,
                        "kdebug_sadb_key: key length mismatch, bit:{want} len:{have}."
                    );
                }
                hexdump(out, &e[8..8 + want.min(have)]);
                out.push_str(" }\n");
            }
            10 | 11 | 12 | 13 | 16 | 17 => {
                // identities, sensitivity, proposals, spirange, kmprivate: not detailed
                if etype == 10 || etype == 11 {
                    let _ = writeln!(
                        out,
                        "sadb_ident_{}{{ type={} id={} }}",
                        if etype == 10 { "src" } else { "dst" },
                        u16ne(e, 4),
                        u64ne(e, 8)
                    );
                }
            }
            14 | 15 => {
                out.push_str("sadb_sup{\n");
                let mut o = 8;
                while o + 8 <= e.len() {
                    let _ = writeln!(
                        out,
                        "  {{ id={} ivlen={} min={} max={} }}",
                        e[o],
                        e[o + 1],
                        u16ne(e, o + 2),
                        u16ne(e, o + 4)
                    );
                    o += 8;
                }
                out.push_str("}\n");
            }
            18 => {
                let _ = writeln!(
                    out,
                    "sadb_x_policy{{ type={} dir={} id={:x} priority={} }}",
                    u16ne(e, 4),
                    e.get(6).copied().unwrap_or(0),
                    u32ne(e, 8),
                    u32ne(e, 12)
                );
                if u16ne(e, 4) == 2 {
                    let mut o = 16;
                    while o + 16 <= e.len() {
                        let rlen = usize::from(u16ne(e, o));
                        let _ = writeln!(
                            out,
                            " {{ len={} proto={} mode={} level={} reqid={}",
                            rlen,
                            u16ne(e, o + 2),
                            e[o + 4],
                            e[o + 5],
                            u32ne(e, o + 8)
                        );
                        if rlen > 16 && o + rlen <= e.len() {
                            let n = kdebug_sockaddr(out, &e[o + 16..o + rlen]);
                            kdebug_sockaddr(out, e.get(o + 16 + n..o + rlen).unwrap_or(&[]));
                        }
                        out.push_str(" }\n");
                        if rlen == 0 {
                            out.push_str("kdebug_sadb_x_policy: wrong policy struct.\n");
                            break;
                        }
                        if o + rlen > e.len() {
                            out.push_str("invalid ipsec policy length\n");
                            break;
                        }
                        o += rlen;
                    }
                }
            }
            19 => {
                let _ = writeln!(
                    out,
                    "sadb_x_sa2{{ mode={} reqid={}",
                    e.get(4).copied().unwrap_or(0),
                    u32ne(e, 12)
                );
                let _ = writeln!(
                    out,
                    "  reserved1={} reserved2={} sequence={} }}",
                    e.get(5).copied().unwrap_or(0),
                    u16ne(e, 6),
                    u32ne(e, 8)
                );
            }
            20 => {
                let _ = writeln!(
                    out,
                    "sadb_x_nat_t_type{{ type={} }}",
                    e.get(4).copied().unwrap_or(0)
                );
            }
            21 | 22 => {
                let p = e.get(4..6).map_or(0, |x| u16::from_be_bytes([x[0], x[1]]));
                let _ = writeln!(out, "sadb_x_nat_t_port{{ port={p} }}");
            }
            25 => {
                let r = e.get(4..8).unwrap_or(&[0, 0, 0, 0]);
                let _ = writeln!(
                    out,
                    "sadb_x_kmaddress{{ reserved=0x{:02x}{:02x}{:02x}{:02x} }}",
                    r[0], r[1], r[2], r[3]
                );
                let n = kdebug_sockaddr(out, &e[8..]);
                kdebug_sockaddr(out, e.get(8 + n..).unwrap_or(&[]));
            }
            _ => {
                let _ = writeln!(out, "kdebug_sadb: invalid ext_type {etype} was passed.");
                return;
            }
        }
        off += elen * 8;
    }
}
