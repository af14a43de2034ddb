//! `racoonctl`: racoon's admin client, same commands, options, output and
//! exit codes, plus `--json` for `show-sa`.
//!
//! ```text
//! racoonctl [-l]... [-d] [-s SOCKET] [--json] COMMAND [ARGS]...
//! ```
//! Exit 0 on success; 1 on an error reply (silently, as racoon), except
//! EEXIST (already established) which is 0. No command: usage, exit 0.
//!
//! Deviation: address arguments also accept `addr[port]` and
//! `addr/prefix[port]` (broken in racoon 0.8.2).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use clap::{ArgAction, Parser};
use pfkey::Message;
use serde_json::json;

use crate::admin::{self as proto, EvtRecord, Indexes, Ph1Dump, Proto, Reply, Request};
use crate::daemon::core::EventCode;

pub const DEFAULT_ADMINSOCK: &str = "/var/racoon/racoon.sock";

#[derive(Debug, Parser)]
#[command(
    name = "racoonctl",
    about = "racoon-rs admin client",
    disable_version_flag = true,
    disable_help_subcommand = true
)]
pub struct CtlArgs {
    /// Longer output (mainly for show-sa; repeatable).
    #[arg(short = 'l', action = ArgAction::Count)]
    pub long: u8,
    /// Hex-dump the admin message before sending it.
    #[arg(short = 'd')]
    pub debug: bool,
    /// Admin socket.
    #[arg(short = 's', value_name = "SOCKET", default_value = DEFAULT_ADMINSOCK)]
    pub socket: PathBuf,
    /// show-sa: print JSON instead of racoon's tables (not in racoon).
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

const USAGE: &str = "Usage:
  racoonctl [opts] reload-config
  racoonctl [opts] show-schedule
  racoonctl [opts] show-sa <protocol>
  racoonctl [opts] flush-sa <protocol>
  racoonctl [opts] delete-sa <saopts>
  racoonctl [opts] establish-sa [-u identity] [-n remoteconf] [-w] <saopts>
  racoonctl [opts] vpn-connect [-u identity] vpn_gateway
  racoonctl [opts] vpn-disconnect vpn_gateway
  racoonctl [opts] show-event
  racoonctl [opts] logout-user login

General options:
  -d\t\tDebug: hexdump admin messages before sending
  -l\t\tIncrease output verbosity (mainly for show-sa)
  -s <socket>\tSpecify adminport socket to use (default: /var/racoon/racoon.sock)
  --json\tshow-sa output as JSON (racoon-rs)

Parameter specifications:
    <protocol>: \"isakmp\", \"esp\" or \"ah\".
        In the case of \"show-sa\" or \"flush-sa\", you can use \"ipsec\".

    <saopts>: \"isakmp\" <family> <src> <dst>
            : {\"esp\",\"ah\"} <family> <src/prefixlen/port> <dst/prefixlen/port>
                              <ul_proto>
    <family>: \"inet\" or \"inet6\"
    <ul_proto>: \"icmp\", \"tcp\", \"udp\", \"gre\" or \"any\"
";

/// A command-line problem: message and exit status.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// What to wait for after the first reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    None,
    /// show-event: print every event, forever.
    Forever,
    /// Print this event and stop.
    Event(u32),
}

/// A built request and how to treat its replies.
#[derive(Debug)]
pub struct Plan {
    pub request: Request,
    pub wait: Wait,
}

fn errx(s: impl Into<String>) -> Usage {
    Usage(s.into())
}

fn family(s: &str) -> Result<bool, Usage> {
    match s {
        "inet" => Ok(false),
        "inet6" => Ok(true),
        _ => Err(errx("kmpstat: Address family not supported by protocol")),
    }
}

fn ulproto(s: &str) -> Result<u8, Usage> {
    Ok(match s {
        "any" => 0,
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        _ => return Err(errx("kmpstat: Invalid argument")),
    })
}

/// `addr[/prefix][[port]]` → (address, prefix).
pub fn parse_index_addr(s: &str, v6: bool) -> Result<(SocketAddr, Option<u8>), Usage> {
    let bad = || errx("kmpstat: Invalid argument");
    let (rest, port) = match s.find('[') {
        Some(i) => {
            let p = s[i + 1..].strip_suffix(']').ok_or_else(bad)?;
            (&s[..i], Some(p.parse::<u16>().map_err(|_| bad())?))
        }
        None => (s, None),
    };
    let (name, pref) = match rest.split_once('/') {
        Some((n, p)) => (n, Some(p.parse::<u8>().map_err(|_| bad())?)),
        None => (rest, None),
    };
    if name.is_empty() {
        return Err(bad());
    }
    let port = port.unwrap_or(0);
    let addr = if let Ok(ip) = name.parse::<IpAddr>() {
        SocketAddr::new(ip, port)
    } else {
        (name, port)
            .to_socket_addrs()
            .map_err(|_| bad())?
            .find(|a| a.is_ipv6() == v6)
            .ok_or_else(bad)?
    };
    if addr.is_ipv6() != v6 {
        return Err(bad());
    }
    Ok((addr, pref))
}

fn index(args: &[String]) -> Result<Indexes, Usage> {
    if args.len() != 3 && args.len() != 4 {
        return Err(errx("kmpstat: Invalid argument"));
    }
    let v6 = family(&args[0])?;
    let (src, ps) = parse_index_addr(&args[1], v6)?;
    let (dst, pd) = parse_index_addr(&args[2], v6)?;
    let ul = match args.get(3) {
        Some(u) => ulproto(u)?,
        None => 0,
    };
    Ok(Indexes {
        prefs: ps.unwrap_or(32),
        prefd: pd.unwrap_or(32),
        ul_proto: ul,
        src,
        dst,
    })
}

fn proto_arg(s: &str) -> Result<Proto, Usage> {
    Proto::from_name(s).ok_or_else(|| errx(format!("unknown protocol {s}")))
}

fn proto_index(args: &[String]) -> Result<(Proto, Indexes), Usage> {
    let p = proto_arg(args.first().ok_or_else(|| errx("insufficient arguments"))?)?;
    match p {
        Proto::Isakmp | Proto::Esp | Proto::Ah => Ok((p, index(&args[1..])?)),
        _ => Err(errx("kmpstat: Protocol not supported")),
    }
}

/// The local address the kernel would use towards `gw` (vpn-connect).
fn source_for(gw: SocketAddr) -> Result<IpAddr, Usage> {
    let bind: SocketAddr = if gw.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let s = std::net::UdpSocket::bind(bind).map_err(|_| errx("cannot find source address"))?;
    s.connect(gw)
        .map_err(|_| errx("cannot find source address"))?;
    Ok(s.local_addr()
        .map_err(|_| errx("cannot find source address"))?
        .ip())
}

/// Build the request for a command line (after the options).
/// `password` is asked for `-u`.
pub fn plan(cmd: &[String], password: &mut dyn FnMut() -> String) -> Result<Plan, Usage> {
    let Some((name, args)) = cmd.split_first() else {
        return Err(Usage(String::new()));
    };
    let one_proto = |args: &[String]| -> Result<Proto, Usage> {
        if args.len() != 1 {
            return Err(errx("insufficient arguments"));
        }
        proto_arg(&args[0])
    };
    let request = match name.as_str() {
        "reload-config" | "rc" => Request::ReloadConfig,
        "show-schedule" | "sc" => Request::ShowSchedule,
        "show-event" | "se" => {
            if !args.is_empty() {
                return Err(errx("too many arguments"));
            }
            return Ok(Plan {
                request: Request::ShowEvent,
                wait: Wait::Forever,
            });
        }
        "show-sa" | "ss" => Request::ShowSa(one_proto(args)?),
        "flush-sa" | "fs" => Request::FlushSa(one_proto(args)?),
        "delete-sa" | "ds" => {
            let (p, i) = proto_index(args)?;
            Request::DeleteSa(p, i)
        }
        "get-cert" | "gc" => Request::GetSaCert(index(args)?),
        "establish-sa" | "es" => return establish(args, password),
        "vpn-connect" | "vc" => {
            let mut a = args.to_vec();
            let mut nav: Vec<String> = Vec::new();
            if a.first().map(String::as_str) == Some("-u") {
                if a.len() < 2 {
                    return Err(errx("-u require an argument"));
                }
                nav.extend(a.drain(..2));
            }
            let gw = a.first().ok_or_else(|| errx("VPN gateway required"))?;
            let gwaddr = (gw.as_str(), 4500)
                .to_socket_addrs()
                .ok()
                .and_then(|mut i| i.find(|a| a.is_ipv4()))
                .ok_or_else(|| errx("Cannot resolve destination address"))?;
            let src = source_for(gwaddr)?;
            nav.extend([
                "isakmp".to_string(),
                "inet".into(),
                src.to_string(),
                gwaddr.ip().to_string(),
            ]);
            let mut p = establish(&nav, password)?;
            p.wait = Wait::Event(EventCode::PHASE1_MODE_CFG.0);
            return Ok(p);
        }
        "vpn-disconnect" | "vd" => {
            let gw = args.first().ok_or_else(|| errx("VPN gateway required"))?;
            let nav = [
                "isakmp".to_string(),
                "inet".into(),
                "0.0.0.0".into(),
                gw.clone(),
            ];
            let (p, i) = proto_index(&nav)?;
            return Ok(Plan {
                request: Request::DeleteAllSaDst(p, i),
                wait: Wait::Event(EventCode::PHASE1_DOWN.0),
            });
        }
        "logout-user" | "lu" => {
            let u = args.first().ok_or_else(|| errx("insufficient arguments"))?;
            if u.len() > 255 {
                return Err(errx("bad login (too long?)"));
            }
            Request::LogoutUser(u.clone())
        }
        other => return Err(Usage(format!("Invalid command [{other}]"))),
    };
    Ok(Plan {
        request,
        wait: Wait::None,
    })
}

fn establish(args: &[String], password: &mut dyn FnMut() -> String) -> Result<Plan, Usage> {
    let mut a = args;
    if a.is_empty() {
        return Err(errx("insufficient arguments"));
    }
    let mut xauth = None;
    if a[0] == "-u" {
        if a.len() < 2 {
            return Err(errx("-u require an argument"));
        }
        xauth = Some((a[1].clone(), password()));
        a = &a[2..];
    }
    let mut remote_name = None;
    if a.len() >= 2 && a[0] == "-n" {
        remote_name = Some(a[1].clone());
        a = &a[2..];
    }
    let mut wait = false;
    if a.first().map(String::as_str) == Some("-w") {
        wait = true;
        a = &a[1..];
    }
    let (p, index) = proto_index(a)?;
    let wait = if wait {
        Wait::Event(match p {
            Proto::Isakmp => EventCode::PHASE1_MODE_CFG.0,
            _ => EventCode::PHASE2_UP.0,
        })
    } else {
        Wait::None
    };
    Ok(Plan {
        request: Request::EstablishSa {
            proto: p,
            index,
            remote_name: if xauth.is_none() && p == Proto::Isakmp {
                remote_name
            } else {
                None
            },
            xauth,
        },
        wait,
    })
}

/// racoon's `fixed_addr`: `addr.port` left-justified in `len` columns.
pub fn fixed_addr(addr: &str, port: &str, len: usize) -> String {
    let mut s: String = addr
        .chars()
        .take(len.saturating_sub(port.len() + 1))
        .collect();
    s.push('.');
    s.push_str(port);
    let mut s: String = s.chars().take(len).collect();
    while s.len() < len {
        s.push(' ');
    }
    s
}

fn addr_cell(a: &Option<SocketAddr>, len: usize) -> String {
    match a {
        Some(a) => fixed_addr(&a.ip().to_string(), &a.port().to_string(), len),
        None => fixed_addr("", "", len),
    }
}

/// Local time `%Y-%m-%d %T`.
fn tstamp(t: i64) -> String {
    crate::daemon::log::local_timestamp(t)
}

fn cookies(c: &[u8; 16]) -> String {
    let h = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!("{}:{}", h(&c[..8]), h(&c[8..]))
}

const ESTR: [&str; 6] = ["", "B", "M", "U", "A", "I"];

/// `show-sa isakmp` table.
pub fn print_isakmp(out: &mut String, payload: &[u8], long: u8) {
    use std::fmt::Write as _;
    let header = match long {
        0 => "Destination            Cookies                           Created",
        1 => "Destination            Cookies                           ST S  V E Created             Phase2",
        _ => "Source                                        Destination                                   Cookies                           ST S  V E Created             Phase2",
    };
    let _ = writeln!(out, "{header}");
    if payload.len() % proto::PH1DUMP_LEN != 0 {
        let _ = writeln!(out, "invalid length {}", payload.len());
    }
    let w = if long >= 2 { 45 } else { 22 };
    for c in payload.chunks_exact(proto::PH1DUMP_LEN) {
        let Ok(p) = Ph1Dump::decode(c) else {
            let _ = writeln!(out, "invalid record");
            continue;
        };
        if long >= 2 {
            let _ = write!(out, "{} ", addr_cell(&p.local, w));
        }
        let _ = write!(out, "{} ", addr_cell(&p.remote, w));
        let _ = write!(out, "{} ", cookies(&p.cookies));
        if long >= 1 {
            let _ = write!(
                out,
                "{:2} {} {:2x} ",
                p.status,
                if p.side == 0 { 'I' } else { 'R' },
                p.version
            );
            if let Some(e) = ESTR.get(usize::from(p.etype)) {
                let _ = write!(out, "{e} ");
            }
        }
        if p.created != 0 {
            let _ = write!(out, "{} ", tstamp(p.created));
        } else {
            let _ = write!(out, "{} ", " ".repeat(19));
        }
        if long >= 1 {
            let _ = write!(out, "{:6} ", p.ph2cnt);
        }
        let _ = writeln!(out);
    }
}

fn isakmp_json(payload: &[u8]) -> serde_json::Value {
    let rows: Vec<_> = payload
        .chunks_exact(proto::PH1DUMP_LEN)
        .filter_map(|c| Ph1Dump::decode(c).ok())
        .map(|p| {
            json!({
                "source": p.local.map(|a| a.to_string()),
                "destination": p.remote.map(|a| a.to_string()),
                "cookies": cookies(&p.cookies),
                "status": p.status,
                "established": p.status == 9,
                "side": if p.side == 0 { "initiator" } else { "responder" },
                "version": p.version,
                "exchange": ESTR.get(usize::from(p.etype)).copied().unwrap_or(""),
                "created": p.created,
                "phase2": p.ph2cnt,
            })
        })
        .collect();
    serde_json::Value::Array(rows)
}

/// Split back-to-back PF_KEY messages (bounded by the payload).
pub fn split_pfkey(payload: &[u8]) -> Vec<Result<Message, String>> {
    let mut out = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let Some((_, len)) = pfkey::Header::peek(rest) else {
            out.push(Err("truncated PF_KEY message".into()));
            break;
        };
        if len < 16 || len > rest.len() {
            out.push(Err("bad PF_KEY message length".into()));
            break;
        }
        out.push(Message::decode_lenient(&rest[..len]).map_err(|e| e.to_string()));
        rest = &rest[len..];
    }
    out
}

/// `show-sa esp|ah|ipsec`: setkey -D blocks.
pub fn print_sad(out: &mut String, payload: &[u8], clock: &dyn setkey_rs::dump::Clock) {
    use std::fmt::Write as _;
    for m in split_pfkey(payload) {
        match m {
            Ok(m) if m.header.errno == 2 => {
                match m.header.msg_type {
                    pfkey::MsgType::DELETE | pfkey::MsgType::GET => {
                        let _ = writeln!(out, "No entry.");
                    }
                    pfkey::MsgType::DUMP => {
                        let _ = writeln!(out, "No SAD entries.");
                    }
                    _ => {}
                }
                return;
            }
            Ok(m) if m.header.errno != 0 => {
                let _ = writeln!(out, "{}.", setkey_rs::run::strerror(m.header.errno));
                return;
            }
            Ok(m) => {
                setkey_rs::dump::sadump(out, &m, false, clock);
                if m.header.seq == 0 {
                    return;
                }
            }
            Err(e) => {
                let _ = writeln!(out, "{e}");
                return;
            }
        }
    }
}

fn sad_json(payload: &[u8]) -> serde_json::Value {
    let rows: Vec<_> = split_pfkey(payload)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|m| m.header.errno == 0)
        .map(|m| {
            let sa = m.sa();
            json!({
                "satype": m.header.satype.to_string(),
                "src": m.addr_src().map(|a| a.addr.ip().to_string()),
                "dst": m.addr_dst().map(|a| a.addr.ip().to_string()),
                "spi": sa.map(|s| s.spi),
                "state": sa.map(|s| s.state.to_string()),
                "enc": sa.map(|s| s.encrypt.to_string()),
                "auth": sa.map(|s| s.auth.to_string()),
                "replay": sa.map(|s| s.replay),
                "mode": m.sa2().map(|s| s.mode.to_string()),
                "reqid": m.sa2().map(|s| s.reqid),
                "natt_sport": m.nat_t_sport().copied(),
                "natt_dport": m.nat_t_dport().copied(),
                "bytes": m.lifetime_current().map(|l| l.bytes),
                "added": m.lifetime_current().map(|l| l.addtime),
                "hard_lifetime": m.lifetime_hard().map(|l| l.addtime),
                "soft_lifetime": m.lifetime_soft().map(|l| l.addtime),
            })
        })
        .collect();
    serde_json::Value::Array(rows)
}

fn saddr(a: &Option<SocketAddr>) -> String {
    match a {
        Some(a) => proto::saddr2str(a),
        None => "unknown".into(),
    }
}

/// One `show-event` line.
pub fn evt_line(e: &EvtRecord) -> String {
    let head = match EventCode(e.code).text() {
        Some(t) => format!("{t} : "),
        None => format!("Event {}: ", e.code),
    };
    format!("{head}{} -> {}", saddr(&e.src), saddr(&e.dst))
}

/// `show-schedule` table.
pub fn print_schedule(out: &mut String, payload: &[u8]) {
    use std::fmt::Write as _;
    if payload.len() % proto::SCHED_LEN != 0 {
        let _ = writeln!(out, "invalid length {}", payload.len());
    }
    let _ = writeln!(out, "index    tick     xtime    created");
    for c in payload.chunks_exact(proto::SCHED_LEN) {
        if let Ok(s) = proto::SchedDump::decode(c) {
            let _ = writeln!(
                out,
                "{:<8} {:<8} {:<8} {}",
                s.id,
                s.tick,
                s.xtime,
                tstamp(s.created)
            );
        }
    }
}

fn read_reply(s: &mut UnixStream) -> std::io::Result<Reply> {
    let mut hdr = [0u8; proto::HEADER_LEN];
    s.read_exact(&mut hdr)?;
    let h = proto::Header::decode(&hdr).ok_or(std::io::ErrorKind::InvalidData)?;
    let total = h.total_len();
    if !(proto::HEADER_LEN..=proto::MAX_REPLY).contains(&total) {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    let mut buf = hdr.to_vec();
    buf.resize(total, 0);
    s.read_exact(&mut buf[proto::HEADER_LEN..])?;
    Reply::decode(&buf).map_err(|_| std::io::ErrorKind::InvalidData.into())
}

fn hexdump(b: &[u8]) -> String {
    let mut s = String::new();
    for (i, c) in b.chunks(16).enumerate() {
        s.push_str(&format!("{:08x}:", i * 16));
        for x in c {
            s.push_str(&format!(" {x:02x}"));
        }
        s.push('\n');
    }
    s
}

/// Format the reply of a request (not the event stream).
pub fn render(args: &CtlArgs, req: &Request, r: &Reply) -> String {
    let mut out = String::new();
    match req {
        Request::ShowSa(Proto::Isakmp) if args.json => {
            out = format!("{}\n", isakmp_json(&r.payload));
        }
        Request::ShowSa(Proto::Isakmp) => print_isakmp(&mut out, &r.payload, args.long),
        Request::ShowSa(Proto::Internal) => {
            out.push_str(if args.long > 0 {
                "Source                                        Destination                                  \n"
            } else {
                "Source                 Destination            \n"
            });
        }
        Request::ShowSa(_) if args.json => out = format!("{}\n", sad_json(&r.payload)),
        Request::ShowSa(_) => print_sad(&mut out, &r.payload, &setkey_rs::dump::SystemClock),
        Request::ShowSchedule => print_schedule(&mut out, &r.payload),
        _ => {}
    }
    out
}

/// Run with arguments; returns the exit status.
pub fn main_with(argv: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let args = match CtlArgs::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp) {
                return 0;
            }
            print!("{USAGE}");
            return 0;
        }
    };
    let mut ask = || {
        eprint!("Password: ");
        let mut s = String::new();
        let _ = std::io::stdin().read_line(&mut s);
        s.trim_end_matches(['\n', '\r']).to_string()
    };
    let plan = match plan(&args.command, &mut ask) {
        Ok(p) => p,
        Err(Usage(m)) if m.is_empty() => {
            print!("{USAGE}");
            return 0;
        }
        Err(Usage(m)) if m.starts_with("Invalid command") => {
            println!("{m}");
            eprintln!("racoonctl: kmpstat: Invalid argument");
            return 1;
        }
        Err(Usage(m)) => {
            eprintln!("racoonctl: {m}");
            return 1;
        }
    };
    let bytes = plan.request.encode();
    if args.debug {
        print!("{}", hexdump(&bytes));
    }
    let mut s = match UnixStream::connect(&args.socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("racoonctl: connect {}: {e}", args.socket.display());
            return 1;
        }
    };
    if let Err(e) = s.write_all(&bytes) {
        eprintln!("racoonctl: send: {e}");
        return 1;
    }
    let stdout = std::io::stdout();
    let mut first = true;
    loop {
        let r = match read_reply(&mut s) {
            Ok(r) => r,
            Err(e) => {
                if first || plan.wait != Wait::None {
                    eprintln!("racoonctl: recv: {e}");
                }
                return 1;
            }
        };
        if r.errno != 0 {
            // racoon: silent, exit 1, except "already established".
            return if r.errno == 17 { 0 } else { 1 };
        }
        if r.cmd == proto::CMD_SHOW_EVT {
            if r.payload.len() >= proto::EVT_LEN {
                if let Ok(e) = EvtRecord::decode(&r.payload) {
                    match plan.wait {
                        Wait::Event(c) if c == e.code => {
                            if c == EventCode::PHASE1_MODE_CFG.0 {
                                println!("VPN connexion established");
                            } else {
                                println!("{}", evt_line(&e));
                            }
                            return 0;
                        }
                        Wait::Event(_) => {}
                        _ => println!("{}", evt_line(&e)),
                    }
                }
            } else if !r.payload.is_empty() {
                eprintln!("racoonctl: Short buffer");
                return 1;
            }
        } else {
            let text = render(&args, &plan.request, &r);
            let _ = stdout.lock().write_all(text.as_bytes());
        }
        first = false;
        if plan.wait == Wait::None {
            return 0;
        }
        let _ = stdout.lock().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn nopw() -> String {
        "secret".into()
    }

    #[test]
    fn commands_build_racoonctl_requests() {
        let p = plan(&v(&["ss", "isakmp"]), &mut nopw).unwrap();
        assert_eq!(p.request, Request::ShowSa(Proto::Isakmp));
        assert_eq!(
            plan(&v(&["flush-sa", "ipsec"]), &mut nopw).unwrap().request,
            Request::FlushSa(Proto::Ipsec)
        );
        let p = plan(
            &v(&["delete-sa", "isakmp", "inet", "192.0.2.1", "192.0.2.2"]),
            &mut nopw,
        )
        .unwrap();
        let Request::DeleteSa(Proto::Isakmp, i) = p.request else {
            panic!()
        };
        assert_eq!((i.prefs, i.prefd, i.ul_proto), (32, 32, 0));
        assert_eq!(i.dst, "192.0.2.2:0".parse().unwrap());
        let p = plan(
            &v(&[
                "es",
                "-u",
                "bob",
                "-w",
                "esp",
                "inet",
                "10.0.0.0/24",
                "10.0.1.0/24[80]",
                "tcp",
            ]),
            &mut nopw,
        )
        .unwrap();
        assert_eq!(p.wait, Wait::Event(0x0201));
        let Request::EstablishSa {
            proto,
            index,
            xauth,
            ..
        } = p.request
        else {
            panic!()
        };
        assert_eq!(proto, Proto::Esp);
        assert_eq!((index.prefs, index.prefd, index.ul_proto), (24, 24, 6));
        assert_eq!(index.dst.port(), 80);
        assert_eq!(xauth, Some(("bob".into(), "secret".into())));
        let p = plan(&v(&["vd", "192.0.2.9"]), &mut nopw).unwrap();
        assert_eq!(p.wait, Wait::Event(0x0101));
        assert!(matches!(
            p.request,
            Request::DeleteAllSaDst(Proto::Isakmp, _)
        ));
        assert_eq!(plan(&v(&["se"]), &mut nopw).unwrap().wait, Wait::Forever);
    }

    #[test]
    fn bad_command_lines() {
        assert!(plan(&v(&[]), &mut nopw).unwrap_err().0.is_empty());
        assert_eq!(
            plan(&v(&["bogus"]), &mut nopw).unwrap_err().0,
            "Invalid command [bogus]"
        );
        assert!(plan(&v(&["show-sa"]), &mut nopw).is_err());
        assert!(plan(&v(&["show-sa", "foo"]), &mut nopw).is_err());
        assert!(plan(
            &v(&["ds", "esp", "inet6", "192.0.2.1", "192.0.2.2"]),
            &mut nopw
        )
        .is_err());
        assert!(plan(
            &v(&["ds", "esp", "inet", "192.0.2.1", "192.0.2.2", "sctp"]),
            &mut nopw
        )
        .is_err());
        assert!(plan(
            &v(&["ds", "esp", "inet", "192.0.2.1[", "192.0.2.2"]),
            &mut nopw
        )
        .is_err());
        assert!(plan(
            &v(&["ds", "ipsec", "inet", "192.0.2.1", "192.0.2.2"]),
            &mut nopw
        )
        .is_err());
    }

    #[test]
    fn isakmp_table_formats() {
        let p = Ph1Dump {
            cookies: [0x11; 16],
            status: 9,
            side: 0,
            remote: Some("192.0.2.2:500".parse().unwrap()),
            local: Some("192.0.2.1:500".parse().unwrap()),
            version: 0x10,
            etype: 2,
            created: 0,
            ph2cnt: 2,
        };
        let mut b = Vec::new();
        p.encode(&mut b);
        let mut s = String::new();
        print_isakmp(&mut s, &b, 0);
        assert_eq!(
            s,
            format!(
                "Destination            Cookies                           Created\n\
                 192.0.2.2.500          1111111111111111:1111111111111111 {} \n",
                " ".repeat(19)
            )
        );
        let mut s = String::new();
        print_isakmp(&mut s, &b, 1);
        let row = s.lines().nth(1).unwrap();
        assert!(
            row.starts_with("192.0.2.2.500          1111111111111111:1111111111111111  9 I 10 M "),
            "{row:?}"
        );
        assert!(row.ends_with("     2 "), "{row:?}");
        let mut s = String::new();
        print_isakmp(&mut s, &b, 2);
        let row = s.lines().nth(1).unwrap();
        assert_eq!(&row[..46], format!("{:<45} ", "192.0.2.1.500"));
        let j = isakmp_json(&b);
        assert_eq!(j[0]["destination"], "192.0.2.2:500");
        assert_eq!(j[0]["established"], true);
        assert_eq!(j[0]["exchange"], "M");
        assert_eq!(fixed_addr("2001:db8::1", "500", 8), "2001.500");
    }

    #[test]
    fn sad_output_matches_setkey() {
        use pfkey::{Address, EncAlg, Extension, MsgType, Sa, SaState, SaType};
        let m = Message::new(MsgType::DUMP, SaType::ESP)
            .with(Extension::Sa(Sa {
                spi: 0x1000,
                replay: 4,
                state: SaState::MATURE,
                encrypt: EncAlg::AES_CBC,
                ..Default::default()
            }))
            .with(Extension::AddressSrc(Address::host(
                "192.0.2.1:0".parse().unwrap(),
            )))
            .with(Extension::AddressDst(Address::host(
                "192.0.2.2:0".parse().unwrap(),
            )))
            .with(Extension::Sa2(pfkey::Sa2 {
                mode: pfkey::Mode::TUNNEL,
                sequence: 0,
                reqid: 7,
            }));
        let payload = m.encode().unwrap();
        let clock = setkey_rs::dump::FixedClock(1000);
        let mut ours = String::new();
        print_sad(&mut ours, &payload, &clock);
        let mut setkey = String::new();
        setkey_rs::dump::sadump(&mut setkey, &m, false, &clock);
        assert_eq!(ours, setkey);
        assert!(ours.starts_with("192.0.2.1 192.0.2.2"), "{ours}");
        let empty = Message::new(MsgType::DUMP, SaType::UNSPEC)
            .with_errno(2)
            .encode()
            .unwrap();
        let mut s = String::new();
        print_sad(&mut s, &empty, &clock);
        assert_eq!(s, "No SAD entries.\n");
        let j = sad_json(&payload);
        assert_eq!(j[0]["spi"], 0x1000);
        assert_eq!(j[0]["src"], "192.0.2.1");
        // Garbage payloads are reported, not fatal.
        let mut s = String::new();
        print_sad(&mut s, &[1, 2, 3], &clock);
        assert!(s.contains("truncated"));
    }

    #[test]
    fn event_lines() {
        let e = EvtRecord {
            code: 0x0100,
            timestamp: 0,
            src: Some("192.0.2.1:500".parse().unwrap()),
            dst: Some("192.0.2.2:500".parse().unwrap()),
            ph2_msgid: 0,
        };
        assert_eq!(
            evt_line(&e),
            "Phase 1 established : 192.0.2.1[500] -> 192.0.2.2[500]"
        );
        let e = EvtRecord {
            code: 0x0106,
            src: None,
            ..e
        };
        assert_eq!(evt_line(&e), "Event 262: unknown -> 192.0.2.2[500]");
    }
}
