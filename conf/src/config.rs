//! The typed configuration produced by the parser, with racoon's code defaults.

use crate::algs::{AuthAlg, AuthMethod, CompAlg, DhGroup, EspEnc, IkeEnc, IkeHash, WithKeyLen};
use crate::diag::Span;
use std::fmt;
use std::net::IpAddr;

/// A numeric address as racoon accepts it (`fe80::1%eth0` keeps its scope).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Addr {
    pub ip: IpAddr,
    pub scope: Option<String>,
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            Some(s) => write!(f, "{}%{}", self.ip, s),
            None => write!(f, "{}", self.ip),
        }
    }
}

/// An address with a UDP port (default 500 where racoon defaults it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddrPort {
    pub addr: Addr,
    pub port: u16,
}

impl fmt::Display for AddrPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.addr, self.port)
    }
}

pub const ISAKMP_PORT: u16 = 500;

/// `path TYPE "value";`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub include: Option<String>,
    pub pre_shared_key: Option<String>,
    pub certificate: Option<String>,
    pub script: Option<String>,
    pub backupsa: Option<String>,
    /// Default `/var/run/racoon.pid`; a relative value is put under `/var/run/`.
    pub pidfile: String,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            include: None,
            pre_shared_key: None,
            certificate: None,
            script: None,
            backupsa: None,
            pidfile: "/var/run/racoon.pid".into(),
        }
    }
}

/// Join a relative file name to a `path` directory as racoon does (`dir/name`; a leading
/// `/` bypasses the directory).
pub fn join_path(dir: Option<&str>, name: &str) -> String {
    match dir {
        Some(d) if !name.starts_with('/') => format!("{}/{}", d.trim_end_matches('/'), name),
        _ => name.to_string(),
    }
}

/// A user or group as a quoted name or a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameOrId {
    Name(String),
    Id(u32),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Privsep {
    pub user: Option<NameOrId>,
    pub group: Option<NameOrId>,
    pub chroot: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    pub addr: AddrPort,
    /// `isakmp_natt` (UDP-encapsulation socket).
    pub natt: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminSock {
    Disabled,
    Path {
        path: String,
        owner: NameOrId,
        group: NameOrId,
        /// Effective mode after racoon's digit decoding (see `Listen::adminsock`).
        mode: u32,
    },
}

impl Default for AdminSock {
    fn default() -> Self {
        AdminSock::Path {
            path: "/var/racoon/racoon.sock".into(),
            owner: NameOrId::Id(0),
            group: NameOrId::Id(0),
            mode: 0o600,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listen {
    /// Empty = listen on every interface address (racoon's behaviour without `listen`).
    pub addrs: Vec<ListenAddr>,
    pub strict_address: bool,
    pub adminsock: AdminSock,
}

/// `timer { }` (seconds; code defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub counter: u32,
    pub interval: u64,
    pub persend: u32,
    pub phase1: u64,
    pub phase2: u64,
    pub natt_keepalive: u64,
}

impl Default for Timer {
    fn default() -> Self {
        Timer {
            counter: 5,
            interval: 10,
            persend: 1,
            phase1: 30,
            phase2: 30,
            natt_keepalive: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Padding {
    pub randomize: bool,
    pub randomize_length: bool,
    pub maximum_length: u32,
    pub exclusive_tail: bool,
    pub strict_check: bool,
}

impl Default for Padding {
    fn default() -> Self {
        Padding {
            randomize: true,
            randomize_length: false,
            maximum_length: 20,
            exclusive_tail: true,
            strict_check: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    Error = 1,
    Warning = 2,
    Notify = 3,
    #[default]
    Info = 4,
    Debug = 5,
    Debug2 = 6,
}

impl LogLevel {
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "error" => LogLevel::Error,
            "warning" => LogLevel::Warning,
            "notify" => LogLevel::Notify,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "debug2" => LogLevel::Debug2,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GssIdEnc {
    Latin1,
    #[default]
    Utf16Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeMode {
    Main,
    Aggressive,
    Base,
}

impl fmt::Display for ExchangeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExchangeMode::Main => "main",
            ExchangeMode::Aggressive => "aggressive",
            ExchangeMode::Base => "base",
        })
    }
}

/// `my_identifier` / `peers_identifier` / sainfo `from` values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// `address [A]`; `None` = the local endpoint's address.
    Address(Option<IpAddr>),
    Fqdn(String),
    UserFqdn(String),
    /// `keyid [file] "path"`: the file's contents are the ID.
    KeyIdFile(String),
    /// `keyid tag "s"`
    KeyIdTag(String),
    /// `asn1dn ["DN"]`; `None` = subject of our certificate.
    Asn1Dn(Option<String>),
    /// `subnet …`: racoon parses it but sends an empty identifier.
    Subnet(Option<String>),
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identifier::Address(None) => write!(f, "address"),
            Identifier::Address(Some(a)) => write!(f, "address {a}"),
            Identifier::Fqdn(s) => write!(f, "fqdn \"{s}\""),
            Identifier::UserFqdn(s) => write!(f, "user_fqdn \"{s}\""),
            Identifier::KeyIdFile(s) => write!(f, "keyid file \"{s}\""),
            Identifier::KeyIdTag(s) => write!(f, "keyid tag \"{s}\""),
            Identifier::Asn1Dn(None) => write!(f, "asn1dn"),
            Identifier::Asn1Dn(Some(s)) => write!(f, "asn1dn \"{s}\""),
            Identifier::Subnet(_) => write!(f, "subnet"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertType {
    X509 { cert: String, key: String },
    PlainRsa { key: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeersCert {
    X509(String),
    PlainRsa(String),
    Dnssec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProposalCheck {
    Obey,
    #[default]
    Strict,
    Claim,
    Exact,
}

/// `on`/`off`/`force` switches (nat_traversal, rekey, ike_frag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tristate {
    Off,
    On,
    Force,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeneratePolicy {
    #[default]
    Off,
    /// `on` / `require`
    On,
    Unique,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptEvent {
    Phase1Up,
    Phase1Down,
    Phase1Dead,
}

/// How a `remote` block was introduced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteSelector {
    /// `remote "name"`: address from `remote_address`, else matches like anonymous.
    Named,
    /// `remote A [P]`
    Address(AddrPort),
    /// `remote anonymous [P]`
    Anonymous { port: u16 },
}

/// One `proposal { }` of a remote (every field is mandatory; validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub encryption: WithKeyLen<IkeEnc>,
    pub hash: IkeHash,
    pub auth_method: AuthMethod,
    pub dh_group: DhGroup,
    /// Overrides the remote's lifetime when set (seconds).
    pub lifetime: Option<u64>,
    pub gss_id: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// Named form: its name; index forms: `A[port]` or `anonymous`.
    pub name: String,
    pub selector: RemoteSelector,
    pub inherit: Option<String>,
    pub remote_address: Option<AddrPort>,
    /// Non-empty after validation; the first is used as initiator.
    pub exchange_mode: Vec<ExchangeMode>,
    pub my_identifier: Identifier,
    pub xauth_login: Option<String>,
    pub peers_identifier: Vec<Identifier>,
    pub verify_identifier: bool,
    pub certificate_type: Option<CertType>,
    pub peers_certfile: Option<PeersCert>,
    pub ca_type: Option<String>,
    pub verify_cert: bool,
    pub send_cert: bool,
    pub send_cr: bool,
    pub match_empty_cr: bool,
    pub nonce_size: u32,
    /// Phase-1 lifetime in seconds (default 28800).
    pub lifetime: u64,
    pub proposal_check: ProposalCheck,
    pub passive: bool,
    pub initial_contact: bool,
    pub support_proxy: bool,
    pub generate_policy: GeneratePolicy,
    pub nat_traversal: Tristate,
    pub dpd: bool,
    pub dpd_delay: u32,
    pub dpd_retry: u32,
    pub dpd_maxfail: u32,
    pub rekey: Tristate,
    pub ike_frag: Tristate,
    pub esp_frag: Option<u32>,
    pub scripts: Vec<(ScriptEvent, String)>,
    pub mode_cfg: bool,
    pub weak_phase1_check: bool,
    pub ph1id: u32,
    pub proposals: Vec<Proposal>,
    /// The block's header.
    pub span: Span,
}

impl Remote {
    pub(crate) fn new(name: String, selector: RemoteSelector, span: Span) -> Self {
        Remote {
            name,
            selector,
            inherit: None,
            remote_address: None,
            exchange_mode: vec![],
            my_identifier: Identifier::Address(None),
            xauth_login: None,
            peers_identifier: vec![],
            verify_identifier: false,
            certificate_type: None,
            peers_certfile: None,
            ca_type: None,
            verify_cert: true,
            send_cert: true,
            send_cr: true,
            match_empty_cr: false,
            nonce_size: 16,
            lifetime: 28800,
            proposal_check: ProposalCheck::Strict,
            passive: false,
            initial_contact: true,
            support_proxy: false,
            generate_policy: GeneratePolicy::Off,
            nat_traversal: Tristate::Off,
            dpd: true,
            dpd_delay: 0,
            dpd_retry: 5,
            dpd_maxfail: 5,
            rekey: Tristate::On,
            ike_frag: Tristate::Off,
            esp_frag: None,
            scripts: vec![],
            mode_cfg: false,
            weak_phase1_check: false,
            ph1id: 0,
            proposals: vec![],
            span,
        }
    }

    /// The peer address this block applies to, if it names one.
    pub fn peer(&self) -> Option<&AddrPort> {
        match &self.selector {
            RemoteSelector::Address(a) => Some(a),
            _ => self.remote_address.as_ref(),
        }
    }

    /// Is this a catch-all block (anonymous, or named without remote_address)?
    pub fn is_anonymous(&self) -> bool {
        self.peer().is_none()
    }
}

/// Upper-layer protocol of a sainfo ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UlProto {
    Any,
    Number(u8),
}

impl UlProto {
    pub fn from_name(s: &str) -> Option<Self> {
        Some(UlProto::Number(match s {
            "any" => return Some(UlProto::Any),
            "icmp" => 1,
            "tcp" => 6,
            "udp" => 17,
            "gre" => 47,
            "esp" => 50,
            "ah" => 51,
            "icmp6" => 58,
            "ipcomp" => 108,
            _ => return None,
        }))
    }
    /// The ID payload protocol byte (0 = any).
    pub fn number(self) -> u8 {
        match self {
            UlProto::Any => 0,
            UlProto::Number(n) => n,
        }
    }
}

impl fmt::Display for UlProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UlProto::Any => f.write_str("any"),
            UlProto::Number(n) => write!(f, "{n}"),
        }
    }
}

/// A phase-2 identity of a sainfo header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SaId {
    /// IPV4_ADDR / IPV6_ADDR (no prefix or full-length prefix).
    Addr {
        addr: IpAddr,
        port: u16,
        proto: UlProto,
    },
    /// IPV4_SUBNET / IPV6_SUBNET.
    Subnet {
        addr: IpAddr,
        prefix: u8,
        port: u16,
        proto: UlProto,
    },
    /// IPV4_ADDR_RANGE / IPV6_ADDR_RANGE.
    Range {
        start: IpAddr,
        end: IpAddr,
        port: u16,
        proto: UlProto,
    },
    Fqdn(String),
    UserFqdn(String),
    KeyId(String),
}

impl SaId {
    /// The RFC 2407 ID type number.
    pub fn id_type(&self) -> u8 {
        let v6 = |a: &IpAddr| a.is_ipv6();
        match self {
            SaId::Addr { addr, .. } => {
                if v6(addr) {
                    5
                } else {
                    1
                }
            }
            SaId::Subnet { addr, .. } => {
                if v6(addr) {
                    6
                } else {
                    4
                }
            }
            SaId::Range { start, .. } => {
                if v6(start) {
                    8
                } else {
                    7
                }
            }
            SaId::Fqdn(_) => 2,
            SaId::UserFqdn(_) => 3,
            SaId::KeyId(_) => 11,
        }
    }
}

impl fmt::Display for SaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = |p: &u16| {
            if *p == 0 {
                "any".to_string()
            } else {
                p.to_string()
            }
        };
        match self {
            SaId::Addr {
                addr,
                port: p,
                proto,
            } => write!(f, "address {addr} [{}] {proto}", port(p)),
            SaId::Subnet {
                addr,
                prefix,
                port: p,
                proto,
            } => {
                write!(f, "subnet {addr}/{prefix} [{}] {proto}", port(p))
            }
            SaId::Range {
                start,
                end,
                port: p,
                proto,
            } => {
                write!(f, "address {start}-{end} [{}] {proto}", port(p))
            }
            SaId::Fqdn(s) => write!(f, "fqdn \"{s}\""),
            SaId::UserFqdn(s) => write!(f, "user_fqdn \"{s}\""),
            SaId::KeyId(s) => write!(f, "keyid \"{s}\""),
        }
    }
}

/// One side of a sainfo header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SaSelector {
    Anonymous,
    /// Remote side only: the peer's address or mode-cfg address.
    ClientAddr,
    Id(SaId),
}

impl fmt::Display for SaSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaSelector::Anonymous => f.write_str("anonymous"),
            SaSelector::ClientAddr => f.write_str("clientaddr"),
            SaSelector::Id(id) => write!(f, "{id}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaInfo {
    pub local: SaSelector,
    pub remote: SaSelector,
    /// `from IDTYPE [VALUE]`
    pub from: Option<Identifier>,
    /// `group "name"` (xauth group)
    pub group: Option<String>,
    pub encryption: Vec<WithKeyLen<EspEnc>>,
    pub authentication: Vec<AuthAlg>,
    pub compression: Vec<CompAlg>,
    pub pfs_group: Option<DhGroup>,
    /// Seconds (default 28800).
    pub lifetime: u64,
    pub remoteid: u32,
    pub span: Span,
}

impl SaInfo {
    /// racoon's matching priority (higher first; ties keep file order).
    pub fn priority(&self) -> u32 {
        let mut p = 0;
        if self.remoteid != 0 {
            p += 3;
        }
        if self.from.is_some() {
            p += 3;
        }
        if self.local != SaSelector::Anonymous {
            p += 1;
        }
        if self.remote != SaSelector::Anonymous {
            p += 1;
        }
        p
    }

    /// The header as written (`anonymous`, `address … any`, …).
    pub fn header(&self) -> String {
        let mut s = if self.local == SaSelector::Anonymous && self.remote == SaSelector::Anonymous {
            "anonymous".to_string()
        } else {
            format!("{} {}", self.local, self.remote)
        };
        if let Some(id) = &self.from {
            s.push_str(&format!(" from {id}"));
        }
        if let Some(g) = &self.group {
            s.push_str(&format!(" group \"{g}\""));
        }
        s
    }
}

/// `mode_cfg { }` as parsed; not used by the daemon yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModeCfg {
    /// Directive name and its raw words, in file order.
    pub directives: Vec<(String, Vec<String>)>,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub paths: Paths,
    pub privsep: Option<Privsep>,
    pub listen: Listen,
    pub timer: Timer,
    pub padding: Padding,
    pub log: LogLevel,
    /// KB; 0 = leave the OS value.
    pub pfkey_buffer: u32,
    pub gss_id_enc: GssIdEnc,
    /// Code default on.
    pub complex_bundle: bool,
    pub remotes: Vec<Remote>,
    /// In file order (see [`Config::sainfos_by_priority`]).
    pub sainfos: Vec<SaInfo>,
    pub mode_cfg: Option<ModeCfg>,
    /// Files pulled in by `include`, in order.
    pub included: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            paths: Paths::default(),
            privsep: None,
            listen: Listen::default(),
            timer: Timer::default(),
            padding: Padding::default(),
            log: LogLevel::default(),
            pfkey_buffer: 0,
            gss_id_enc: GssIdEnc::default(),
            complex_bundle: true,
            remotes: vec![],
            sainfos: vec![],
            mode_cfg: None,
            included: vec![],
        }
    }
}

impl Config {
    pub fn remote_by_name(&self, name: &str) -> Option<&Remote> {
        self.remotes.iter().find(|r| r.name == name)
    }

    /// sainfos in racoon's matching order: priority descending, ties in file order.
    pub fn sainfos_by_priority(&self) -> Vec<&SaInfo> {
        let mut v: Vec<&SaInfo> = self.sainfos.iter().collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.priority()));
        v
    }
}
