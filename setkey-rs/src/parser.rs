//! The setkey grammar (ipsec-tools `parse.y`) as a recursive-descent parser.
//!
//! Statements are produced one at a time so the caller can send each command
//! before the next one is parsed, as setkey does. Validation that setkey does
//! while parsing (address resolution, key lengths against the REGISTER reply,
//! the `-P` policy) happens here too, with setkey's messages.

use crate::algs::{self, *};
use crate::ast::*;
use crate::lexer::{Lexer, Tok, Token};
use crate::policy;
use crate::resolve::{self, Family, Resolver};
use std::fmt;
use std::net::SocketAddr;

/// One `sadb_alg` of a SUPPORTED extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgRange {
    pub id: u8,
    pub ivlen: u8,
    pub min_bits: u16,
    pub max_bits: u16,
}

/// The algorithms the kernel (engine) announced in its REGISTER reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Supported {
    pub auth: Vec<AlgRange>,
    pub enc: Vec<AlgRange>,
}

impl Supported {
    /// The table a Linux kernel announces (used by tests and `-n` without a
    /// reachable engine).
    pub fn linux_default() -> Self {
        let r = |id, ivlen, min_bits, max_bits| AlgRange {
            id,
            ivlen,
            min_bits,
            max_bits,
        };
        Supported {
            auth: vec![
                r(AALG_NULL, 0, 0, 0),
                r(AALG_MD5HMAC, 0, 128, 128),
                r(AALG_SHA1HMAC, 0, 160, 160),
                r(AALG_SHA2_256, 0, 256, 256),
                r(AALG_SHA2_384, 0, 384, 384),
                r(AALG_SHA2_512, 0, 512, 512),
                r(AALG_RIPEMD160HMAC, 0, 160, 160),
                r(AALG_AES_XCBC_MAC, 0, 128, 128),
                r(AALG_MD5, 0, 128, 128),
                r(AALG_SHA, 0, 160, 160),
            ],
            enc: vec![
                r(EALG_NULL, 0, 0, 0),
                r(EALG_DESCBC, 8, 64, 64),
                r(EALG_3DESCBC, 8, 192, 192),
                r(EALG_CAST128CBC, 8, 40, 128),
                r(EALG_BLOWFISHCBC, 8, 40, 448),
                r(EALG_AESCBC, 16, 128, 256),
                r(EALG_CAMELLIACBC, 16, 128, 256),
                r(EALG_TWOFISHCBC, 16, 128, 256),
                r(EALG_AESCTR, 8, 160, 288),
                r(EALG_AES_GCM16, 8, 160, 288),
                r(EALG_AES_GMAC, 8, 160, 288),
            ],
        }
    }

    /// ipsec_check_keylen(): `bits` against the announced range.
    fn check(&self, auth: bool, id: u8, bits: u64) -> Result<(), &'static str> {
        let list = if auth { &self.auth } else { &self.enc };
        let Some(a) = list.iter().find(|a| a.id == id) else {
            return Err("Not supported");
        };
        if bits < u64::from(a.min_bits) || bits > u64::from(a.max_bits) {
            return Err("Invalid key length");
        }
        Ok(())
    }
}

/// What went wrong, printed as `line N: <msg> at [<token>]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {msg} at [{token}]")]
pub struct ParseError {
    pub line: u32,
    pub col: u32,
    pub msg: String,
    pub token: String,
    /// A lexical error (illegal character): setkey exits at once, even in `-c`.
    pub fatal: bool,
}

/// Parser context: resolution and algorithm knowledge.
pub struct ParseCtx<'a> {
    pub resolver: &'a dyn Resolver,
    /// `None` = REGISTER not done ("Must get supported algorithms list first").
    pub supported: Option<&'a Supported>,
}

/// Most tokens in one statement (bounds work on hostile input).
const MAX_STMT_TOKENS: usize = 4096;

pub struct Parser<'a> {
    lex: Lexer<'a>,
    ctx: ParseCtx<'a>,
    peeked: Option<Token>,
    /// yytext: the most recently lexed token.
    last_text: String,
    last_col: u32,
    tokens_in_stmt: usize,
    warnings: Vec<String>,
    done: bool,
}

type R<T> = Result<T, ParseError>;

struct AddrOpts {
    family: Family,
    numeric: bool,
}

impl<'a> Parser<'a> {
    pub fn new(src: &'a [u8], ctx: ParseCtx<'a>) -> Self {
        Parser {
            lex: Lexer::new(src),
            ctx,
            peeked: None,
            last_text: String::new(),
            last_col: 1,
            tokens_in_stmt: 0,
            warnings: Vec::new(),
            done: false,
        }
    }

    /// flex's `lineno` now.
    pub fn line(&self) -> u32 {
        self.lex.line()
    }

    fn peek(&mut self) -> R<&Token> {
        if self.peeked.is_none() {
            let t = self.lex.next_token().map_err(|e| ParseError {
                line: self.lex.line(),
                col: e.col,
                msg: "Syntax error".into(),
                token: e.text,
                fatal: true,
            })?;
            self.tokens_in_stmt += 1;
            if self.tokens_in_stmt > MAX_STMT_TOKENS {
                return Err(ParseError {
                    line: self.lex.line(),
                    col: t.col,
                    msg: "statement too long".into(),
                    token: t.text,
                    fatal: true,
                });
            }
            self.last_text = t.text.clone();
            self.last_col = t.col;
            self.peeked = Some(t);
        }
        match &self.peeked {
            Some(t) => Ok(t),
            None => unreachable!("peeked was just filled"),
        }
    }

    fn bump(&mut self) -> R<Token> {
        self.peek()?;
        Ok(self.peeked.take().expect("peeked"))
    }

    fn err(&self, msg: impl Into<String>) -> ParseError {
        ParseError {
            line: self.lex.line(),
            col: self.last_col,
            msg: msg.into(),
            token: self.last_text.clone(),
            fatal: false,
        }
    }

    fn syntax(&mut self) -> ParseError {
        let _ = self.peek();
        self.err("syntax error")
    }

    fn expect(&mut self, want: &Tok) -> R<Token> {
        if &self.peek()?.tok == want {
            self.bump()
        } else {
            Err(self.syntax())
        }
    }

    /// The next statement, `Ok(None)` at end of input or after `exit`.
    pub fn next_stmt(&mut self) -> R<Option<Stmt>> {
        if self.done {
            return Ok(None);
        }
        self.tokens_in_stmt = 0;
        self.warnings.clear();
        let t = self.bump()?;
        let cmd = match t.tok {
            Tok::Eof => {
                self.done = true;
                return Ok(None);
            }
            Tok::Add => Command::Add(self.sa_cmd(true)?),
            Tok::Update => Command::Update(self.sa_cmd(true)?),
            Tok::Get => Command::Get(self.sa_cmd(false)?),
            Tok::Delete => Command::Delete(self.sa_cmd(false)?),
            Tok::GetSpi => Command::GetSpi(self.sa_cmd(false)?),
            Tok::DeleteAll => self.deleteall()?,
            Tok::Flush => {
                let mut s = SaSpec::default();
                let satype = self.protocol_spec(&mut s)?;
                self.expect(&Tok::Eot)?;
                Command::Flush(satype)
            }
            Tok::Dump => {
                let mut s = SaSpec::default();
                let satype = self.protocol_spec(&mut s)?;
                self.expect(&Tok::Eot)?;
                Command::Dump(satype)
            }
            Tok::SpdAdd => self.spd_cmd(0)?,
            Tok::SpdUpdate => self.spd_cmd(1)?,
            Tok::SpdDelete => self.spd_cmd(2)?,
            Tok::SpdDump => {
                self.expect(&Tok::Eot)?;
                Command::SpdDump
            }
            Tok::SpdFlush => {
                self.expect(&Tok::Eot)?;
                Command::SpdFlush
            }
            Tok::Exit => {
                self.expect(&Tok::Eot)?;
                self.done = true;
                Command::Exit
            }
            _ => return Err(self.err("syntax error")),
        };
        Ok(Some(Stmt {
            cmd,
            line: self.lex.line(),
            warnings: std::mem::take(&mut self.warnings),
        }))
    }

    fn warn(&mut self, msg: &str) {
        let e = self.err(msg);
        self.warnings.push(e.to_string());
    }

    fn ipaddropts(&mut self) -> R<AddrOpts> {
        let mut o = AddrOpts {
            family: Family::Any,
            numeric: false,
        };
        while let Tok::FAiFlags(f) = &self.peek()?.tok {
            let f = f.clone();
            self.bump()?;
            for c in f.chars().skip(1) {
                match c {
                    '4' => o.family = Family::V4,
                    '6' => o.family = Family::V6,
                    'n' => o.numeric = true,
                    _ => return Err(self.err("invalid flag")),
                }
            }
        }
        Ok(o)
    }

    fn resolve(&mut self, o: &AddrOpts, host: &str, port: Option<&str>) -> R<Vec<SocketAddr>> {
        resolve::resolve(self.ctx.resolver, host, port, o.family, o.numeric)
            .map_err(|e| self.err(e))
    }

    /// `STRING` (ipaddr) for deleteall and esp-udp OA.
    fn ipaddr(&mut self, o: &AddrOpts) -> R<Vec<SocketAddr>> {
        let Tok::String(host) = self.peek()?.tok.clone() else {
            return Err(self.syntax());
        };
        self.bump()?;
        self.peek()?;
        self.resolve(o, &host, None)
    }

    /// `portstr`: `[any]`, `[N]`, `[service]`; None when absent.
    fn portstr(&mut self) -> R<Option<String>> {
        if self.peek()?.tok != Tok::Blcl {
            return Ok(None);
        }
        self.bump()?;
        let p = match self.bump()?.tok {
            Tok::Any => "0".to_string(),
            Tok::DecString(n) => n.to_string(),
            Tok::String(s) => s,
            _ => return Err(self.err("syntax error")),
        };
        self.expect(&Tok::Elcl)?;
        Ok(Some(p))
    }

    fn ipandport(&mut self, o: &AddrOpts) -> R<Vec<SocketAddr>> {
        let Tok::String(host) = self.peek()?.tok.clone() else {
            return Err(self.syntax());
        };
        self.bump()?;
        let port = self.portstr()?;
        if port.is_none() {
            self.peek()?;
        }
        self.resolve(o, &host, port.as_deref())
    }

    fn protocol_spec(&mut self, s: &mut SaSpec) -> R<u8> {
        let t = self.peek()?.tok.clone();
        let satype = match t {
            Tok::PrEsp(old) | Tok::PrAh(old) => {
                self.bump()?;
                if old {
                    s.flags |= EXT_OLD;
                } else {
                    s.flags &= !EXT_OLD;
                }
                if matches!(t, Tok::PrEsp(_)) {
                    SATYPE_ESP
                } else {
                    SATYPE_AH
                }
            }
            Tok::PrIpcomp => {
                self.bump()?;
                SATYPE_IPCOMP
            }
            Tok::PrEspUdp => {
                self.bump()?;
                s.flags &= !EXT_OLD;
                let mut natt = Natt { oa: None };
                if let Tok::String(_) = self.peek()?.tok {
                    let o = AddrOpts {
                        family: Family::Any,
                        numeric: false,
                    };
                    let a = self.ipaddr(&o)?;
                    natt.oa = a.first().copied();
                }
                s.natt = Some(natt);
                SATYPE_ESP
            }
            Tok::PrTcp => {
                self.bump()?;
                SATYPE_TCPSIGNATURE
            }
            _ => SATYPE_UNSPEC,
        };
        s.satype = satype;
        Ok(satype)
    }

    fn spi(&mut self) -> R<u32> {
        match self.bump()?.tok {
            // strtoul then assignment to u_int32_t: truncation.
            Tok::DecString(n) => Ok(n as u32),
            Tok::HexString(h) => match u64::from_str_radix(&h, 16) {
                Ok(v) if v <= 0xffff_ffff => Ok(v as u32),
                _ => Err(self.err("SPI too big.")),
            },
            _ => Err(self.err("syntax error")),
        }
    }

    fn decstring(&mut self) -> R<u64> {
        match self.bump()?.tok {
            Tok::DecString(n) => Ok(n),
            _ => Err(self.err("syntax error")),
        }
    }

    fn quoted(&mut self) -> R<Vec<u8>> {
        match self.bump()?.tok {
            Tok::QuotedString(v) => Ok(v),
            _ => Err(self.err("syntax error")),
        }
    }

    fn sec_ctx(&mut self) -> R<SecCtx> {
        let doi = self.decstring()? as u8;
        let alg = self.decstring()? as u8;
        let label = self.quoted()?;
        Ok(SecCtx { doi, alg, label })
    }

    fn extensions(&mut self, s: &mut SaSpec) -> R<()> {
        loop {
            match self.peek()?.tok.clone() {
                Tok::FExt => {
                    self.bump()?;
                    match self.bump()?.tok {
                        Tok::Extension(v) => s.flags |= v,
                        Tok::NoCyclicSeq => s.flags &= !EXT_CYCSEQ,
                        _ => return Err(self.err("syntax error")),
                    }
                }
                Tok::FMode => {
                    self.bump()?;
                    match self.bump()?.tok {
                        Tok::Mode(m) => s.mode = m,
                        Tok::Any => s.mode = MODE_ANY,
                        _ => return Err(self.err("syntax error")),
                    }
                }
                Tok::FReqid => {
                    self.bump()?;
                    s.reqid = self.decstring()? as u32;
                }
                Tok::FReplay => {
                    self.bump()?;
                    let n = self.decstring()?;
                    if s.flags & EXT_OLD != 0 {
                        return Err(self.err("replay prevention cannot be used with ah/esp-old"));
                    }
                    // sadb_sa_replay is 8 bits: setkey truncates.
                    s.replay = n as u8;
                }
                Tok::FLifetimeHard => {
                    self.bump()?;
                    s.hard.addtime = self.decstring()?;
                }
                Tok::FLifetimeSoft => {
                    self.bump()?;
                    s.soft.addtime = self.decstring()?;
                }
                Tok::FLifebyteHard => {
                    self.bump()?;
                    s.hard.bytes = self.decstring()?;
                }
                Tok::FLifebyteSoft => {
                    self.bump()?;
                    s.soft.bytes = self.decstring()?;
                }
                Tok::SecurityCtx => {
                    self.bump()?;
                    s.sec_ctx = Some(self.sec_ctx()?);
                }
                Tok::FEspFrag => {
                    self.bump()?;
                    let n = self.decstring()?;
                    if s.natt.is_none() {
                        return Err(self.err("esp_frag only with esp-udp"));
                    }
                    s.esp_frag = Some(n.min(u64::from(u16::MAX)) as u16);
                }
                _ => return Ok(()),
            }
        }
    }

    fn key_string(&mut self) -> R<Key> {
        match self.bump()?.tok {
            Tok::QuotedString(v) => Ok(Key::new(v)),
            Tok::HexString(h) => {
                let b = h.as_bytes();
                let mut out = Vec::with_capacity(b.len() / 2 + 1);
                let hexval = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                let mut i = 0;
                if b.len() % 2 == 1 {
                    out.push(hexval(b[0]));
                    i = 1;
                }
                while i + 1 < b.len() {
                    out.push(hexval(b[i]) << 4 | hexval(b[i + 1]));
                    i += 2;
                }
                Ok(Key::new(out))
            }
            _ => Err(self.err("syntax error")),
        }
    }

    fn check_keylen(&mut self, auth: bool, id: u8, len: usize) -> R<()> {
        let Some(sup) = self.ctx.supported else {
            return Err(self.err("Must get supported algorithms list first"));
        };
        sup.check(auth, id, (len as u64) * 8)
            .map_err(|m| self.err(m))
    }

    fn auth_alg(&mut self, s: &mut SaSpec) -> R<()> {
        match self.bump()?.tok {
            Tok::AlgAuth(id) => {
                let k = self.key_string()?;
                if id == AALG_TCP_MD5 {
                    if k.bytes().is_empty() || k.bytes().len() > 80 {
                        return Err(self.err("Invalid key length"));
                    }
                } else {
                    self.check_keylen(true, id, k.bytes().len())?;
                }
                s.aalg = id;
                s.akey = Some(k);
            }
            Tok::AlgAuthNoKey(id) => {
                s.aalg = id;
                s.akey = None;
            }
            _ => return Err(self.err("syntax error")),
        }
        Ok(())
    }

    fn enc_alg(&mut self, s: &mut SaSpec) -> R<()> {
        match self.bump()?.tok {
            Tok::AlgEncNoKey(id) => {
                s.ealg = id;
                self.check_keylen(false, id, 0)?;
                s.ekey = Some(Key::new(Vec::new()));
            }
            Tok::AlgEnc(id) => {
                s.ealg = id;
                let k = self.key_string()?;
                self.check_keylen(false, id, k.bytes().len())?;
                s.ekey = Some(k);
            }
            Tok::AlgEncOld(id) => {
                self.warn("WARNING: obsolete algorithm");
                s.ealg = id;
                self.check_keylen(false, id, 0)?;
                s.ekey = Some(Key::new(Vec::new()));
            }
            Tok::AlgEncDesDeriv(id) => {
                s.ealg = id;
                let k = self.key_string()?;
                if s.flags & EXT_OLD != 0 {
                    return Err(self.err("algorithm mismatched"));
                }
                s.flags |= EXT_DERIV;
                self.check_keylen(false, id, k.bytes().len())?;
                s.ekey = Some(k);
            }
            Tok::AlgEncDes32Iv(id) => {
                s.ealg = id;
                let k = self.key_string()?;
                if s.flags & EXT_OLD == 0 {
                    return Err(self.err("algorithm mismatched"));
                }
                s.flags |= EXT_IV4B;
                self.check_keylen(false, id, k.bytes().len())?;
                s.ekey = Some(k);
            }
            _ => return Err(self.err("syntax error")),
        }
        Ok(())
    }

    fn algorithm_spec(&mut self, s: &mut SaSpec) -> R<()> {
        match self.bump()?.tok {
            Tok::FEnc => {
                self.enc_alg(s)?;
                if self.peek()?.tok == Tok::FAuth {
                    self.bump()?;
                    self.auth_alg(s)?;
                }
            }
            Tok::FAuth => self.auth_alg(s)?,
            Tok::FComp => {
                match self.bump()?.tok {
                    Tok::AlgComp(c) => s.ealg = c,
                    _ => return Err(self.err("syntax error")),
                }
                if self.peek()?.tok == Tok::FRawCpi {
                    self.bump()?;
                    s.flags |= EXT_RAWCPI;
                }
            }
            _ => return Err(self.err("syntax error")),
        }
        Ok(())
    }

    fn sa_cmd(&mut self, with_algs: bool) -> R<SaSpec> {
        let mut s = SaSpec {
            flags: EXT_CYCSEQ,
            ..SaSpec::default()
        };
        let o = self.ipaddropts()?;
        s.src = self.ipandport(&o)?;
        s.dst = self.ipandport(&o)?;
        self.protocol_spec(&mut s)?;
        s.spi = self.spi()?;
        self.extensions(&mut s)?;
        if with_algs {
            self.algorithm_spec(&mut s)?;
        }
        self.expect(&Tok::Eot)?;
        if !with_algs && s.mode != MODE_ANY {
            self.warn("WARNING: mode is obsolete");
        }
        Ok(s)
    }

    fn deleteall(&mut self) -> R<Command> {
        let o = self.ipaddropts()?;
        let src = self.ipaddr(&o)?;
        let dst = self.ipaddr(&o)?;
        let mut s = SaSpec::default();
        let satype = self.protocol_spec(&mut s)?;
        self.expect(&Tok::Eot)?;
        Ok(Command::DeleteAll { satype, src, dst })
    }

    fn prefix(&mut self) -> R<Option<u64>> {
        if self.peek()?.tok != Tok::Slash {
            return Ok(None);
        }
        self.bump()?;
        Ok(Some(self.decstring()?))
    }

    fn policy_spec(&mut self) -> R<policy::Policy> {
        self.expect(&Tok::FPolicy)?;
        let Tok::PlRequests(text) = self.bump()?.tok else {
            return Err(self.err("syntax error"));
        };
        policy::parse(&text).map_err(|e| self.err(e.to_string()))
    }

    /// kind: 0 spdadd, 1 spdupdate, 2 spddelete
    fn spd_cmd(&mut self, kind: u8) -> R<Command> {
        if kind != 2 && self.peek()?.tok == Tok::Tagged {
            self.bump()?;
            let tag = self.quoted()?;
            let policy = self.policy_spec()?;
            self.expect(&Tok::Eot)?;
            return Ok(Command::SpdTagged {
                update: kind == 1,
                tag: String::from_utf8_lossy(&tag).into_owned(),
                policy,
            });
        }
        let o = self.ipaddropts()?;
        let Tok::String(src_host) = self.bump()?.tok else {
            return Err(self.err("syntax error"));
        };
        let sp = self.prefix()?;
        let mut sport = self.portstr()?.unwrap_or_else(|| "0".into());
        let Tok::String(dst_host) = self.bump()?.tok else {
            return Err(self.err("syntax error"));
        };
        let dp = self.prefix()?;
        let mut dport = self.portstr()?.unwrap_or_else(|| "0".into());
        // upper_spec
        let upper = match self.bump()?.tok {
            Tok::DecString(n) => n as u8,
            Tok::Any => ULPROTO_ANY,
            Tok::PrTcp => IPPROTO_TCP,
            Tok::String(name) => match algs::proto_by_name(&name) {
                Some(p) => p,
                None if name == "icmp6" => IPPROTO_ICMPV6,
                None if name == "ip4" => IPPROTO_IPV4,
                None => return Err(self.err("invalid upper layer protocol")),
            },
            _ => return Err(self.err("syntax error")),
        };
        // upper_misc_spec: icmp type,code / GRE key
        if let Tok::String(spec) = self.peek()?.tok.clone() {
            self.bump()?;
            let (a, b) = self.fix_portstr(upper, &spec)?;
            sport = a;
            dport = b;
        }
        let sec_ctx = if self.peek()?.tok == Tok::SecurityCtx {
            self.bump()?;
            Some(self.sec_ctx()?)
        } else {
            None
        };
        let policy = self.policy_spec()?;
        self.expect(&Tok::Eot)?;
        let src = self.resolve(&o, &src_host, Some(&sport))?;
        let dst = self.resolve(&o, &dst_host, Some(&dport))?;
        if src.len() > 1 || dst.len() > 1 {
            return Err(self.err("multiple address specified"));
        }
        let (src, dst) = (src[0], dst[0]);
        if src.is_ipv4() != dst.is_ipv4() {
            // setkey finds no pair of the same family and sends nothing.
            return Err(self.err("address family mismatch"));
        }
        let plen = if src.is_ipv4() { 32 } else { 128 };
        let spec = SpdSpec {
            src,
            src_prefix: sp.map_or(plen, |p| p as u8),
            dst,
            dst_prefix: dp.map_or(plen, |p| p as u8),
            upper,
            policy,
            sec_ctx,
        };
        Ok(match kind {
            0 => Command::SpdAdd(spec),
            1 => Command::SpdUpdate(spec),
            _ => Command::SpdDelete(spec),
        })
    }

    fn fix_portstr(&mut self, upper: u8, spec: &str) -> R<(String, String)> {
        let bad = |p: &Self| p.err("invalid an upper layer protocol spec");
        let num = |s: &str| s.parse::<i64>().ok();
        match upper {
            IPPROTO_ICMP | IPPROTO_ICMPV6 | IPPROTO_MH => {
                let mut it = spec.splitn(2, ',');
                let a = it.next().and_then(num).ok_or_else(|| bad(self))?;
                let b = match it.next() {
                    Some(x) => num(x).ok_or_else(|| bad(self))?,
                    None => 0,
                };
                Ok(((a as u16).to_string(), (b as u16).to_string()))
            }
            IPPROTO_GRE => {
                let parts: Vec<&str> = spec.split('.').collect();
                if parts.len() == 4 {
                    let v: Option<Vec<i64>> = parts.iter().map(|p| num(p)).collect();
                    let v = v.ok_or_else(|| bad(self))?;
                    Ok((
                        (((v[0] << 8) + v[1]) as u16).to_string(),
                        (((v[2] << 8) + v[3]) as u16).to_string(),
                    ))
                } else {
                    let u = spec.parse::<u64>().map_err(|_| bad(self))?;
                    Ok((
                        ((u >> 16) as u16).to_string(),
                        ((u & 0xffff) as u16).to_string(),
                    ))
                }
            }
            _ => Ok(("0".into(), "0".into())),
        }
    }
}

impl fmt::Debug for Parser<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parser")
            .field("line", &self.lex.line())
            .finish()
    }
}

/// Parse a whole script (for `-n`, tests and the fuzzer): every statement
/// up to the first error.
pub fn parse_all(src: &[u8], ctx: ParseCtx<'_>) -> (Vec<Stmt>, Option<ParseError>) {
    let mut p = Parser::new(src, ctx);
    let mut v = Vec::new();
    loop {
        match p.next_stmt() {
            Ok(Some(s)) => v.push(s),
            Ok(None) => return (v, None),
            Err(e) => return (v, Some(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::StaticResolver;

    fn parse(src: &str) -> (Vec<Stmt>, Option<ParseError>) {
        let r = StaticResolver::default();
        let sup = Supported::linux_default();
        parse_all(
            src.as_bytes(),
            ParseCtx {
                resolver: &r,
                supported: Some(&sup),
            },
        )
    }

    fn one(src: &str) -> Command {
        let (v, e) = parse(src);
        assert_eq!(e, None, "{src}");
        assert_eq!(v.len(), 1);
        v.into_iter().next().unwrap().cmd
    }

    #[test]
    fn add_esp() {
        let c = one("add 10.0.0.1 10.0.0.2 esp 0x1000 -m tunnel -u 5 -r 300\n -E 3des-cbc \"123456789012345678901234\" -A hmac-md5 0x00112233445566778899aabbccddeeff;");
        let Command::Add(s) = c else { panic!() };
        assert_eq!(s.satype, SATYPE_ESP);
        assert_eq!(s.spi, 0x1000);
        assert_eq!(s.mode, MODE_TUNNEL);
        assert_eq!(s.reqid, 5);
        assert_eq!(s.replay, 44); // 300 truncated to 8 bits
        assert_eq!(s.ealg, EALG_3DESCBC);
        assert_eq!(s.aalg, AALG_MD5HMAC);
        assert_eq!(s.akey.as_ref().unwrap().bytes()[15], 0xff);
        assert_eq!(s.flags, EXT_CYCSEQ);
    }

    #[test]
    fn errors_have_setkey_text() {
        let (v, e) = parse("flush;\nadd 10.0.0.1 10.0.0.2 esp 1 -E des-cbc \"short\";");
        assert_eq!(v.len(), 1);
        assert_eq!(
            e.unwrap().to_string(),
            "line 2: Invalid key length at [\"short\"]"
        );
        let (_, e) = parse("add 10.0.0.1 10.0.0.2 esp 1 -E null \"k\";");
        assert_eq!(e.unwrap().to_string(), "line 1: syntax error at [\"k\"]");
        let (_, e) = parse("add 10.0.0.1 10.0.0.2 esp 0x100000000 -E null;");
        assert_eq!(e.unwrap().msg, "SPI too big.");
        let (_, e) = parse("spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp;");
        assert_eq!(e.unwrap().msg, "Too few arguments");
        let (_, e) = parse("add 1.1.1.1 2.2.2.2 esp 1 -E null @;");
        let e = e.unwrap();
        assert!(e.fatal);
        assert_eq!(e.to_string(), "line 1: Syntax error at [@]");
        let (_, e) = parse("spdadd 10.0.0.1 10.0.0.2 foo -P out none;");
        assert_eq!(e.unwrap().msg, "invalid upper layer protocol");
    }

    #[test]
    fn spd_forms() {
        let c = one("spdadd 10.0.0.0/24[any] 10.0.1.0/24[500] udp -P out ipsec\n esp/tunnel/1.1.1.1-2.2.2.2/require;");
        let Command::SpdAdd(s) = c else { panic!() };
        assert_eq!((s.src_prefix, s.dst_prefix, s.upper), (24, 24, 17));
        assert_eq!(s.dst.port(), 500);
        let c = one("spdadd ::/0 ::/0 icmp6 135,0 -P out none;");
        let Command::SpdAdd(s) = c else { panic!() };
        assert_eq!((s.upper, s.src.port(), s.dst.port()), (58, 135, 0));
        let c = one("spdadd 1.1.1.1 2.2.2.2 gre 1.2.3.4 -P out none;");
        let Command::SpdAdd(s) = c else { panic!() };
        assert_eq!((s.src.port(), s.dst.port()), (0x102, 0x304));
        let c = one("spddelete 1.1.1.1 2.2.2.2 any -P out;");
        assert!(matches!(c, Command::SpdDelete(_)));
    }

    #[test]
    fn misc_commands() {
        let (v, e) = parse("# comment\nflush ;\nspdflush;dump esp;\nexit;\nadd garbage");
        assert_eq!(e, None);
        assert_eq!(v.len(), 4);
        assert_eq!(v[0].line, 2);
        assert!(matches!(v[3].cmd, Command::Exit));
        let c = one("add 1.1.1.1[4500] 2.2.2.2 esp-udp 3.3.3.3 0x10 -E null;");
        let Command::Add(s) = c else { panic!() };
        assert_eq!(s.src[0].port(), 4500);
        assert!(s.natt.unwrap().oa.is_some());
        let c = one("add 1.1.1.1 2.2.2.2 ipcomp 0x100 -C deflate -R;");
        let Command::Add(s) = c else { panic!() };
        assert_eq!((s.ealg, s.flags), (CALG_DEFLATE, EXT_CYCSEQ | EXT_RAWCPI));
        let (v, _) = parse("get 1.1.1.1 2.2.2.2 esp 1 -m tunnel;");
        assert_eq!(
            v[0].warnings,
            vec!["line 1: WARNING: mode is obsolete at [;]"]
        );
        let c = one("add 1.1.1.1 2.2.2.2 esp-old 1 -E des-32iv 0x0123456789abcdef;");
        let Command::Add(s) = c else { panic!() };
        assert_eq!(s.flags, EXT_CYCSEQ | EXT_OLD | EXT_IV4B);
        let (_, e) = parse("add 1.1.1.1 2.2.2.2 esp-old 1 -r 4 -E null;");
        assert_eq!(
            e.unwrap().msg,
            "replay prevention cannot be used with ah/esp-old"
        );
        let (_, e) = parse("add -4 ::1 ::2 esp 1 -E null;");
        assert_eq!(e.unwrap().msg, resolve::EAI_ADDRFAMILY);
    }

    #[test]
    fn odd_hex_key() {
        let r = StaticResolver::default();
        let sup = Supported {
            auth: vec![AlgRange {
                id: AALG_SHA1HMAC,
                ivlen: 0,
                min_bits: 0,
                max_bits: 2048,
            }],
            enc: vec![],
        };
        let (v, e) = parse_all(
            b"add 1.1.1.1 2.2.2.2 ah 1 -A hmac-sha1 0x12345;",
            ParseCtx {
                resolver: &r,
                supported: Some(&sup),
            },
        );
        assert_eq!(e, None);
        let Command::Add(s) = &v[0].cmd else { panic!() };
        assert_eq!(s.akey.as_ref().unwrap().bytes(), &[0x01, 0x23, 0x45]);
    }
}
