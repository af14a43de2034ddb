//! Recursive-descent parser for racoon.conf with error recovery at `;` and `}`.

use crate::algs::{
    AuthAlg, AuthMethod, CompAlg, DhGroup, EspEnc, IkeEnc, IkeHash, KeyLenRule, WithKeyLen,
};
use crate::config::*;
use crate::diag::{Diagnostic, SourceId, Sources, Span};
use crate::lexer::{tokenize, Tok, Token};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// Maximum `include` nesting depth (racoon's limit).
pub const MAX_INCLUDE_DEPTH: usize = 10;
/// Stop after this many errors.
pub const MAX_ERRORS: usize = 100;

/// Where `include` gets its files from. The pure [`crate::parse`] has none.
pub trait IncludeSource {
    /// Expand `pattern` (already joined to `path include`) and read every match in order:
    /// `(name, text)` pairs, or a message saying why not.
    fn read_glob(&mut self, pattern: &str) -> Result<Vec<(String, String)>, String>;
}

/// The `IncludeSource` of the pure parser: every include is an error.
pub struct NoIncludes;

impl IncludeSource for NoIncludes {
    fn read_glob(&mut self, _pattern: &str) -> Result<Vec<(String, String)>, String> {
        Err("include needs files: load the configuration with conf::load".into())
    }
}

type SaKey = (SaSelector, SaSelector, Option<Identifier>, u32);

/// State shared by the parsers of the main file and every included file.
pub(crate) struct State<'i> {
    pub cfg: Config,
    pub diags: Vec<Diagnostic>,
    pub sources: Sources,
    includes: &'i mut dyn IncludeSource,
    depth: usize,
    errors: usize,
    warned: HashSet<&'static str>,
    remote_idx: HashMap<String, usize>,
    sainfo_keys: HashMap<SaKey, Span>,
}

impl<'i> State<'i> {
    pub fn new(includes: &'i mut dyn IncludeSource) -> Self {
        State {
            cfg: Config::default(),
            diags: vec![],
            sources: Sources::new(),
            includes,
            depth: 0,
            errors: 0,
            warned: HashSet::new(),
            remote_idx: HashMap::new(),
            sainfo_keys: HashMap::new(),
        }
    }

    /// Parse one file's text into the shared state.
    pub fn parse_file(&mut self, name: &str, text: &str) {
        let id = self.sources.add(name, text);
        let mut p = Parser {
            toks: tokenize(text),
            pos: 0,
            src: id,
            st: self,
        };
        p.top();
    }

    fn error(&mut self, d: Diagnostic) {
        if self.errors < MAX_ERRORS {
            self.diags.push(d);
        } else if self.errors == MAX_ERRORS {
            let span = d.span;
            let mut d =
                Diagnostic::error_nowhere(format!("too many errors ({MAX_ERRORS}); giving up"));
            d.span = span;
            self.diags.push(d);
        }
        self.errors += 1;
    }

    fn warn_once(&mut self, feature: &'static str, span: Span, msg: impl Into<String>) {
        if self.warned.insert(feature) {
            self.diags.push(Diagnostic::warning(span, msg));
        }
    }
}

/// Marker: a diagnostic has been recorded; the caller recovers.
struct Reported;
type PR<T> = Result<T, Reported>;

struct Parser<'a, 's, 'i> {
    toks: Vec<Token<'a>>,
    pos: usize,
    src: SourceId,
    st: &'s mut State<'i>,
}

const TOP_KEYWORDS: &str =
    "path, include, privsep, listen, timer, padding, log, pfkey_buffer, gss_id_enc, complex_bundle, remote, sainfo, mode_cfg, ldapcfg, radiuscfg";
const ID_TYPES: &[&str] = &["address", "fqdn", "user_fqdn", "keyid", "asn1dn", "subnet"];

fn describe(t: &Tok<'_>) -> String {
    match t {
        Tok::Word(w) => format!("\"{w}\""),
        Tok::Number(Some(n)) => format!("number {n}"),
        Tok::Number(None) => "a number too large".into(),
        Tok::Str(s) => format!("string \"{}\"", s.chars().take(40).collect::<String>()),
        Tok::Prefix(_) => "a /prefix".into(),
        Tok::Port(_) => "a [port]".into(),
        Tok::PortAny => "[any]".into(),
        Tok::LBrace => "'{'".into(),
        Tok::RBrace => "'}'".into(),
        Tok::Semi => "';'".into(),
        Tok::Comma => "','".into(),
        Tok::UnterminatedStr => "an unterminated string".into(),
        Tok::Bad(c) => format!("unexpected character {c:?}"),
        Tok::Eof => "end of file".into(),
    }
}

/// Parse a numeric address, with an optional `%scope`.
fn parse_addr(s: &str) -> Option<Addr> {
    let (ip, scope) = match s.split_once('%') {
        Some((a, sc)) if !sc.is_empty() => (a, Some(sc.to_string())),
        Some(_) => return None,
        None => (s, None),
    };
    let ip: IpAddr = ip.parse().ok()?;
    if scope.is_some() && !ip.is_ipv6() {
        return None;
    }
    Some(Addr { ip, scope })
}

impl<'a, 's, 'i> Parser<'a, 's, 'i> {
    // ---------- token helpers ----------

    fn peek(&self) -> Token<'a> {
        self.toks[self.pos.min(self.toks.len() - 1)]
    }
    fn bump(&mut self) -> Token<'a> {
        let t = self.peek();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn span(&self, t: Token<'_>) -> Span {
        Span::new(self.src, t.start, t.end)
    }
    fn here(&self) -> Span {
        self.span(self.peek())
    }
    fn at_word(&self, w: &str) -> bool {
        matches!(self.peek().tok, Tok::Word(x) if x == w)
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if self.at_word(w) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn at(&self, t: Tok<'_>) -> bool {
        self.peek().tok == t
    }

    fn err<T>(&mut self, span: Span, msg: impl Into<String>) -> PR<T> {
        self.st.error(Diagnostic::error(span, msg));
        Err(Reported)
    }
    /// Record an error that does not stop the current statement.
    fn soft_err(&mut self, span: Span, msg: impl Into<String>) {
        self.st.error(Diagnostic::error(span, msg));
    }
    fn warn(&mut self, span: Span, msg: impl Into<String>) {
        self.st.diags.push(Diagnostic::warning(span, msg));
    }
    fn expected<T>(&mut self, what: &str) -> PR<T> {
        let t = self.peek();
        let msg = format!("expected {what}, found {}", describe(&t.tok));
        self.err(self.span(t), msg)
    }

    fn expect_semi(&mut self, after: &str) -> PR<()> {
        if self.at(Tok::Semi) {
            self.bump();
            Ok(())
        } else {
            self.expected(&format!("';' after {after}"))
        }
    }
    fn expect_lbrace(&mut self, what: &str) -> PR<Span> {
        if self.at(Tok::LBrace) {
            let t = self.bump();
            Ok(self.span(t))
        } else {
            self.expected(&format!("'{{' to open the {what} block"))
        }
    }

    /// Skip to the end of the current statement: past the next `;` or balanced `{…}` at
    /// this level, or up to (not past) a `}` that closes the enclosing block.
    fn recover(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.peek().tok {
                Tok::Eof => return,
                Tok::Semi if depth == 0 => {
                    self.bump();
                    return;
                }
                Tok::LBrace => depth += 1,
                Tok::RBrace => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                    if depth == 0 {
                        self.bump();
                        return;
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }

    /// `{ directive* }`: calls `f` with each directive keyword (already consumed).
    fn block(
        &mut self,
        what: &str,
        mut f: impl FnMut(&mut Self, &'a str, Span) -> PR<()>,
    ) -> PR<()> {
        let open = self.expect_lbrace(what)?;
        loop {
            let t = self.peek();
            match t.tok {
                Tok::RBrace => {
                    self.bump();
                    return Ok(());
                }
                Tok::Eof => {
                    // Point just after the last token rather than at an empty last line.
                    let end = self.toks[self.pos.saturating_sub(1)].end;
                    let d = Diagnostic::error(
                        Span::new(self.src, end, end),
                        format!("expected '}}' to close the {what} block, found end of file"),
                    )
                    .with_note(open, "block opened here");
                    self.st.error(d);
                    return Err(Reported);
                }
                Tok::Word(w) => {
                    self.bump();
                    if f(self, w, self.span(t)).is_err() {
                        self.recover();
                    }
                }
                _ => {
                    let _ = self.expected::<()>(&format!("a {what} directive or '}}'"));
                    self.bump();
                    self.recover();
                }
            }
        }
    }

    // ---------- value helpers ----------

    fn number(&mut self, what: &str) -> PR<u64> {
        let t = self.peek();
        match t.tok {
            Tok::Number(Some(n)) => {
                self.bump();
                Ok(n)
            }
            Tok::Number(None) => self.err(self.span(t), format!("{what}: number too large")),
            Tok::Word(w) if w.starts_with("0x") || w.starts_with("0X") => self.err(
                self.span(t),
                format!("expected {what} as a decimal number (racoon rejects hexadecimal here)"),
            ),
            _ => self.expected(what),
        }
    }
    fn number_u32(&mut self, what: &str) -> PR<u32> {
        let t = self.peek();
        let n = self.number(what)?;
        u32::try_from(n).or_else(|_| self.err(self.span(t), format!("{what}: number out of range")))
    }
    fn switch(&mut self, what: &str) -> PR<bool> {
        let t = self.peek();
        match t.tok {
            Tok::Word("on") => {
                self.bump();
                Ok(true)
            }
            Tok::Word("off") => {
                self.bump();
                Ok(false)
            }
            Tok::Word("yes" | "no") => self.err(
                self.span(t),
                format!("expected 'on' or 'off' for {what} (racoon does not accept yes/no)"),
            ),
            _ => self.expected(&format!("'on' or 'off' for {what}")),
        }
    }
    fn switch_stmt(&mut self, kw: &str) -> PR<bool> {
        let v = self.switch(kw)?;
        self.expect_semi(kw)?;
        Ok(v)
    }
    fn tristate_stmt(&mut self, kw: &str) -> PR<Tristate> {
        let v = if self.eat_word("force") {
            Tristate::Force
        } else if self.switch(&format!("{kw} (or 'force')"))? {
            Tristate::On
        } else {
            Tristate::Off
        };
        self.expect_semi(kw)?;
        Ok(v)
    }
    fn number_stmt(&mut self, kw: &str) -> PR<u32> {
        let v = self.number_u32(kw)?;
        self.expect_semi(kw)?;
        Ok(v)
    }
    fn string(&mut self, what: &str) -> PR<String> {
        let t = self.peek();
        match t.tok {
            Tok::Str(s) => {
                self.bump();
                Ok(s.to_string())
            }
            _ => self.expected(&format!("a quoted {what}")),
        }
    }
    /// `N UNIT` → seconds.
    fn duration(&mut self, what: &str) -> PR<u64> {
        let start = self.here();
        let n = self.number(what)?;
        let t = self.peek();
        let mult = match t.tok {
            Tok::Word("sec" | "secs" | "second" | "seconds") => 1,
            Tok::Word("min" | "mins" | "minute" | "minutes") => 60,
            Tok::Word("hour" | "hours") => 3600,
            _ => return self.expected("a time unit (sec, min, hour)"),
        };
        self.bump();
        n.checked_mul(mult).ok_or(()).or_else(|_| {
            self.err(
                start.to(self.span(t)),
                format!("{what}: duration too large"),
            )
        })
    }
    /// `lifetime time N UNIT;` (the `lifetime` keyword consumed).
    fn lifetime(&mut self, phase1: bool) -> PR<u64> {
        let t = self.peek();
        if self.eat_word("byte") {
            let msg = if phase1 {
                "byte lifetime support is deprecated in phase 1 (use 'lifetime time N unit')"
            } else {
                "byte lifetime support is deprecated (use 'lifetime time N unit')"
            };
            return self.err(self.span(t), msg);
        }
        if !self.eat_word("time") {
            return self.expected("'time' after lifetime");
        }
        let v = self.duration("lifetime")?;
        self.expect_semi("lifetime")?;
        Ok(v)
    }
    fn addr_word(&mut self, what: &str) -> PR<(Addr, Span)> {
        let t = self.peek();
        match t.tok {
            Tok::Word(w) => match parse_addr(w) {
                Some(a) => {
                    self.bump();
                    Ok((a, self.span(t)))
                }
                None => self.err(
                    self.span(t),
                    format!("expected {what} (a numeric IPv4 or IPv6 address), found \"{w}\""),
                ),
            },
            _ => self.expected(&format!("{what} (a numeric IPv4 or IPv6 address)")),
        }
    }
    fn opt_port(&mut self, default: u16) -> PR<u16> {
        let t = self.peek();
        match t.tok {
            Tok::Port(Some(p)) => {
                self.bump();
                Ok(p as u16)
            }
            Tok::Port(None) => self.err(self.span(t), "port number out of range (0-65535)"),
            _ => Ok(default),
        }
    }
    fn addr_port(&mut self, what: &str) -> PR<AddrPort> {
        let (addr, _) = self.addr_word(what)?;
        let port = self.opt_port(ISAKMP_PORT)?;
        Ok(AddrPort { addr, port })
    }
    fn name_or_id(&mut self, what: &str) -> PR<NameOrId> {
        let t = self.peek();
        match t.tok {
            Tok::Str(s) => {
                self.bump();
                Ok(NameOrId::Name(s.to_string()))
            }
            Tok::Number(_) => Ok(NameOrId::Id(self.number_u32(what)?)),
            _ => self.expected(&format!("a quoted {what} name or a number")),
        }
    }
    fn dh_group(&mut self, what: &str) -> PR<DhGroup> {
        let t = self.peek();
        let g = match t.tok {
            Tok::Word(w) => DhGroup::from_name(w),
            Tok::Number(Some(n)) => DhGroup::from_number(n),
            _ => {
                return self.expected(&format!(
                    "a DH group for {what} (modp768…modp8192, ecp256/384/521 or 1, 2, 5, 14-21)"
                ))
            }
        };
        match g {
            Some(g) => {
                self.bump();
                Ok(g)
            }
            None => self.err(
                self.span(t),
                format!(
                    "{what}: must be a DH group (modp768…modp8192, ecp256/384/521 or 1, 2, 5, 14-21), found {}",
                    describe(&t.tok)
                ),
            ),
        }
    }

    /// An algorithm name of one class, with an optional key length.
    fn algorithm<A: Copy>(
        &mut self,
        class: &str,
        lookup: fn(&str) -> Option<A>,
        names: &[&str],
        rule: fn(A) -> Option<KeyLenRule>,
    ) -> PR<(A, Option<u16>)> {
        let t = self.peek();
        let alg = match t.tok {
            Tok::Word(w) => match lookup(w) {
                Some(a) => a,
                None if crate::algs::is_any_algorithm(w) => {
                    return self.err(
                        self.span(t),
                        format!("algorithm mismatched: \"{w}\" is not {class}"),
                    )
                }
                None => {
                    return self.err(
                        self.span(t),
                        format!("expected {class} ({}), found \"{w}\"", names.join(", ")),
                    )
                }
            },
            _ => return self.expected(&format!("{class} ({})", names.join(", "))),
        };
        self.bump();
        let kt = self.peek();
        let explicit = match kt.tok {
            Tok::Number(Some(n)) => {
                self.bump();
                Some(n)
            }
            Tok::Number(None) => return self.err(self.span(kt), "key length too large"),
            _ => None,
        };
        let key_len = match (rule(alg), explicit) {
            (None, None) => None,
            (None, Some(_)) => {
                return self.err(self.span(kt), "keylen not allowed for this algorithm")
            }
            (Some(r), None) => r.default_len(),
            (Some(r), Some(n)) => match r.check(n) {
                Ok(k) => Some(k),
                Err(m) => return self.err(self.span(kt), format!("invalid keylen {n}: {m}")),
            },
        };
        Ok((alg, key_len))
    }

    /// A comma-separated algorithm list ending with `;`.
    fn algorithm_list<A: Copy>(
        &mut self,
        kw: &str,
        class: &str,
        lookup: fn(&str) -> Option<A>,
        names: &[&str],
        rule: fn(A) -> Option<KeyLenRule>,
    ) -> PR<Vec<(A, Option<u16>)>> {
        let mut v = vec![];
        loop {
            v.push(self.algorithm(class, lookup, names, rule)?);
            if v.len() > 64 {
                return self.err(self.here(), format!("{kw}: too many algorithms"));
            }
            if self.at(Tok::Comma) {
                self.bump();
                continue;
            }
            self.expect_semi(kw)?;
            return Ok(v);
        }
    }

    // ---------- top level ----------

    fn top(&mut self) {
        loop {
            let t = self.peek();
            let sp = self.span(t);
            let r = match t.tok {
                Tok::Eof => return,
                Tok::Word(w) => {
                    self.bump();
                    match w {
                        "path" => self.path_stmt(),
                        "include" => self.include_stmt(sp),
                        "privsep" => self.privsep_stmt(sp),
                        "listen" => self.listen_stmt(),
                        "timer" => self.timer_stmt(),
                        "padding" => self.padding_stmt(),
                        "log" => self.log_stmt(),
                        "pfkey_buffer" => self
                            .number_stmt("pfkey_buffer")
                            .map(|n| self.st.cfg.pfkey_buffer = n),
                        "gss_id_enc" => self.gss_id_enc_stmt(sp),
                        "complex_bundle" => self
                            .switch_stmt("complex_bundle")
                            .map(|b| self.st.cfg.complex_bundle = b),
                        "remote" => self.remote_stmt(sp),
                        "sainfo" => self.sainfo_stmt(sp),
                        "mode_cfg" => self.mode_cfg_stmt(sp),
                        "ldapcfg" | "radiuscfg" => self.ignored_block(w, sp),
                        _ => self.err(
                            sp,
                            format!("unknown statement \"{w}\" (expected one of {TOP_KEYWORDS})"),
                        ),
                    }
                }
                Tok::RBrace => {
                    self.bump();
                    self.soft_err(sp, "unexpected '}' (no block is open)");
                    Ok(())
                }
                _ => {
                    let r = self.expected(&format!("a statement ({TOP_KEYWORDS})"));
                    self.bump();
                    r
                }
            };
            if r.is_err() {
                self.recover();
            }
        }
    }

    fn path_stmt(&mut self) -> PR<()> {
        let t = self.peek();
        let kind =
            match t.tok {
                Tok::Word(
                    w @ ("include" | "pre_shared_key" | "certificate" | "script" | "backupsa"
                    | "pidfile"),
                ) => w,
                _ => return self.expected(
                    "a path type (include, pre_shared_key, certificate, script, backupsa, pidfile)",
                ),
            };
        self.bump();
        let v = self.string("path")?;
        self.expect_semi("path")?;
        let p = &mut self.st.cfg.paths;
        match kind {
            "include" => p.include = Some(v),
            "pre_shared_key" => p.pre_shared_key = Some(v),
            "certificate" => p.certificate = Some(v),
            "script" => p.script = Some(v),
            "backupsa" => p.backupsa = Some(v),
            _ => p.pidfile = join_path(Some("/var/run"), &v),
        }
        Ok(())
    }

    fn include_stmt(&mut self, kw: Span) -> PR<()> {
        let st = self.peek();
        let pattern = self.string("file name or glob")?;
        let span = kw.to(self.span(st));
        self.expect_semi("include")?;
        if self.st.depth >= MAX_INCLUDE_DEPTH {
            self.soft_err(
                span,
                format!("include nesting deeper than {MAX_INCLUDE_DEPTH} levels"),
            );
            return Ok(());
        }
        let full = join_path(self.st.cfg.paths.include.as_deref(), &pattern);
        let files = match self.st.includes.read_glob(&full) {
            Ok(f) => f,
            Err(m) => {
                // The statement is complete: report without skipping what follows.
                self.soft_err(span, format!("include \"{full}\": {m}"));
                return Ok(());
            }
        };
        for (name, text) in files {
            self.st.cfg.included.push(name.clone());
            self.st.depth += 1;
            self.st.parse_file(&name, &text);
            self.st.depth -= 1;
        }
        Ok(())
    }

    fn privsep_stmt(&mut self, kw: Span) -> PR<()> {
        self.st.warn_once("privsep", kw, "privsep is not implemented: the privsep block is ignored (racoon-rs runs unprivileged parts without a separate process)");
        let mut ps = Privsep::default();
        self.block("privsep", |p, w, sp| {
            match w {
                "user" => ps.user = Some(p.name_or_id("user")?),
                "group" => ps.group = Some(p.name_or_id("group")?),
                "chroot" => ps.chroot = Some(p.string("directory")?),
                _ => {
                    return p.err(
                        sp,
                        format!(
                        "unknown directive \"{w}\" in privsep block (expected user, group, chroot)"
                    ),
                    )
                }
            }
            p.expect_semi(w)
        })?;
        self.st.cfg.privsep = Some(ps);
        Ok(())
    }

    fn listen_stmt(&mut self) -> PR<()> {
        let mut l = std::mem::take(&mut self.st.cfg.listen);
        let r = self.block("listen", |p, w, sp| match w {
            "isakmp" | "isakmp_natt" => {
                let addr = p.addr_port("a listen address")?;
                p.expect_semi(w)?;
                l.addrs.push(ListenAddr { addr, natt: w == "isakmp_natt" });
                Ok(())
            }
            "strict_address" => {
                p.expect_semi(w)?;
                l.strict_address = true;
                Ok(())
            }
            "adminsock" => {
                if p.eat_word("disabled") {
                    p.expect_semi(w)?;
                    l.adminsock = AdminSock::Disabled;
                    return Ok(());
                }
                let path = p.string("socket path")?;
                let (owner, group, mode) = if p.at(Tok::Semi) {
                    (NameOrId::Id(0), NameOrId::Id(0), 0o600)
                } else {
                    let o = p.string("owner")?;
                    let g = p.string("group")?;
                    let mt = p.peek();
                    let m = p.number("socket mode")?;
                    if m > 777 || m % 10 > 7 || (m / 10) % 10 > 7 {
                        return p.err(p.span(mt), "socket mode must be three octal digits");
                    }
                    // racoon decodes each digit as read=4, write=2 and (bug) execute=1 as write.
                    let dig = |d: u64| (if d & 4 != 0 { 4 } else { 0 }) | (if d & 3 != 0 { 2 } else { 0 });
                    let mode = (dig(m / 100) << 6) | (dig((m / 10) % 10) << 3) | dig(m % 10);
                    let id = |s: String| s.parse::<u32>().map(NameOrId::Id).unwrap_or(NameOrId::Name(s));
                    (id(o), id(g), mode as u32)
                };
                p.expect_semi(w)?;
                l.adminsock = AdminSock::Path { path, owner, group, mode };
                Ok(())
            }
            "admin" => p.err(sp, "\"admin\" is not supported by racoon; use adminsock"),
            _ => p.err(sp, format!("unknown directive \"{w}\" in listen block (expected isakmp, isakmp_natt, strict_address, adminsock)")),
        });
        self.st.cfg.listen = l;
        r
    }

    fn timer_stmt(&mut self) -> PR<()> {
        let mut t = self.st.cfg.timer.clone();
        let r = self.block("timer", |p, w, sp| {
            match w {
                "counter" => t.counter = p.number_u32(w)?,
                "persend" => t.persend = p.number_u32(w)?,
                "interval" => t.interval = p.duration(w)?,
                "phase1" => t.phase1 = p.duration(w)?,
                "phase2" => t.phase2 = p.duration(w)?,
                "natt_keepalive" => t.natt_keepalive = p.duration(w)?,
                _ => {
                    return p.err(sp, format!("unknown directive \"{w}\" in timer block (expected counter, interval, persend, phase1, phase2, natt_keepalive)"))
                }
            }
            p.expect_semi(w)
        });
        self.st.cfg.timer = t;
        r
    }

    fn padding_stmt(&mut self) -> PR<()> {
        let mut pd = self.st.cfg.padding.clone();
        let r = self.block("padding", |p, w, sp| {
            match w {
                "randomize" => pd.randomize = p.switch(w)?,
                "randomize_length" => pd.randomize_length = p.switch(w)?,
                "maximum_length" => pd.maximum_length = p.number_u32(w)?,
                "exclusive_tail" => pd.exclusive_tail = p.switch(w)?,
                "strict_check" => pd.strict_check = p.switch(w)?,
                _ => {
                    return p.err(sp, format!("unknown directive \"{w}\" in padding block (expected randomize, randomize_length, maximum_length, exclusive_tail, strict_check)"))
                }
            }
            p.expect_semi(w)
        });
        self.st.cfg.padding = pd;
        r
    }

    fn log_stmt(&mut self) -> PR<()> {
        let t = self.peek();
        let lvl = match t.tok {
            Tok::Word(w) => LogLevel::from_name(w),
            _ => None,
        };
        let Some(lvl) = lvl else {
            return self.expected("a log level (error, warning, notify, info, debug, debug2)");
        };
        self.bump();
        self.expect_semi("log")?;
        self.st.cfg.log = lvl;
        Ok(())
    }

    fn gss_id_enc_stmt(&mut self, kw: Span) -> PR<()> {
        let enc = match self.peek().tok {
            Tok::Word("latin1") => GssIdEnc::Latin1,
            Tok::Word("utf-16le") => GssIdEnc::Utf16Le,
            _ => return self.expected("latin1 or utf-16le"),
        };
        self.bump();
        self.expect_semi("gss_id_enc")?;
        self.st.warn_once(
            "gssapi",
            kw,
            "GSSAPI is not implemented: gss_id_enc is ignored",
        );
        self.st.cfg.gss_id_enc = enc;
        Ok(())
    }

    /// Words up to `;` of one directive, for blocks we keep only as text.
    fn raw_words(&mut self) -> PR<Vec<String>> {
        let mut v = vec![];
        loop {
            let t = self.peek();
            match t.tok {
                Tok::Semi => {
                    self.bump();
                    return Ok(v);
                }
                Tok::Word(w) => v.push(w.to_string()),
                Tok::Str(s) => v.push(format!("\"{s}\"")),
                Tok::Number(Some(n)) => v.push(n.to_string()),
                Tok::Prefix(Some(n)) => v.push(format!("/{n}")),
                Tok::Port(Some(n)) => v.push(format!("[{n}]")),
                Tok::Comma => v.push(",".into()),
                _ => return self.expected("';'"),
            }
            if v.len() > 1024 {
                return self.err(self.span(t), "directive too long");
            }
            self.bump();
        }
    }

    fn mode_cfg_stmt(&mut self, kw: Span) -> PR<()> {
        const KNOWN: &[&str] = &[
            "network4",
            "netmask4",
            "dns4",
            "wins4",
            "nbns4",
            "split_network",
            "split_dns",
            "default_domain",
            "auth_source",
            "auth_groups",
            "group_source",
            "conf_source",
            "accounting",
            "pool_size",
            "pfs_group",
            "save_passwd",
            "banner",
            "auth_throttle",
        ];
        self.st.warn_once(
            "mode_cfg",
            kw,
            "mode_cfg is not implemented yet: the mode_cfg block is ignored",
        );
        let mut mc = ModeCfg::default();
        self.block("mode_cfg", |p, w, sp| {
            if !KNOWN.contains(&w) {
                return p.err(sp, format!("unknown directive \"{w}\" in mode_cfg block"));
            }
            let words = p.raw_words()?;
            mc.directives.push((w.to_string(), words));
            Ok(())
        })?;
        self.st.cfg.mode_cfg = Some(mc);
        Ok(())
    }

    fn ignored_block(&mut self, w: &str, kw: Span) -> PR<()> {
        let (w, what): (&'static str, &str) = if w == "ldapcfg" {
            ("ldapcfg", "LDAP")
        } else {
            ("radiuscfg", "RADIUS")
        };
        self.st.warn_once(
            w,
            kw,
            format!("{what} is not implemented: the {w} block is ignored"),
        );
        let known: &[&str] = if w == "ldapcfg" {
            &[
                "version",
                "host",
                "port",
                "base",
                "subtree",
                "bind_dn",
                "bind_pw",
                "attr_user",
                "attr_addr",
                "attr_mask",
                "attr_group",
                "attr_member",
            ]
        } else {
            &["auth", "acct", "timeout", "retries"]
        };
        self.block(w, |p, d, sp| {
            if !known.contains(&d) {
                return p.err(sp, format!("unknown directive \"{d}\" in {w} block"));
            }
            p.raw_words().map(|_| ())
        })
    }

    // ---------- remote ----------

    fn remote_index(&mut self) -> PR<(String, RemoteSelector)> {
        if self.eat_word("anonymous") {
            let port = self.opt_port(ISAKMP_PORT)?;
            return Ok(("anonymous".into(), RemoteSelector::Anonymous { port }));
        }
        let ap = self.addr_port("a remote address, \"name\" or anonymous")?;
        Ok((ap.to_string(), RemoteSelector::Address(ap)))
    }

    fn remote_stmt(&mut self, kw: Span) -> PR<()> {
        let t = self.peek();
        let named = matches!(t.tok, Tok::Str(_));
        let (name, selector) = if let Tok::Str(s) = t.tok {
            self.bump();
            (s.to_string(), RemoteSelector::Named)
        } else {
            self.remote_index()?
        };
        let header = kw.to(self.span(self.toks[self.pos.saturating_sub(1)]));
        if let Some(&i) = self.st.remote_idx.get(&name) {
            let prev = self.st.cfg.remotes[i].span;
            let what = if named {
                format!("named remote \"{name}\"")
            } else {
                format!("remote {name}")
            };
            self.st.error(
                Diagnostic::error(header, format!("{what} already exists"))
                    .with_note(prev, "first defined here"),
            );
            return Err(Reported);
        }
        let mut r = Remote::new(name.clone(), selector.clone(), header);
        if self.eat_word("inherit") {
            let pt = self.peek();
            let parent = if named {
                match pt.tok {
                    Tok::Str(s) => {
                        self.bump();
                        self.st
                            .remote_idx
                            .get(s)
                            .copied()
                            .ok_or(format!("named parent remote \"{s}\" does not exist"))
                    }
                    _ => return self.expected("a quoted parent remote name"),
                }
            } else if self.at_word("anonymous") {
                self.bump();
                let _ = self.opt_port(ISAKMP_PORT)?;
                Err("inherit by address cannot find anonymous blocks; name the parent (remote \"x\" inherit \"y\")".to_string())
            } else {
                let ap = self.addr_port("a parent remote address")?;
                self.st
                    .cfg
                    .remotes
                    .iter()
                    .position(|x| {
                        !x.is_anonymous()
                            && x.peer()
                                .is_some_and(|p| p.addr.ip == ap.addr.ip && p.port == ap.port)
                    })
                    .ok_or(format!("no remote for {ap} to inherit from"))
            };
            let sp = pt.start;
            let psp = Span::new(self.src, sp, self.toks[self.pos.saturating_sub(1)].end);
            let i = match parent {
                Ok(i) => i,
                Err(m) => return self.err(psp, m),
            };
            let parent = &self.st.cfg.remotes[i];
            let parent_name = parent.name.clone();
            r = parent.clone();
            r.name = name.clone();
            r.inherit = Some(parent_name);
            r.span = header;
            if !named {
                r.selector = selector;
                r.remote_address = None;
            } else {
                // racoon copies the parent's peer address, whichever form gave it.
                r.remote_address = parent.peer().cloned();
                r.selector = RemoteSelector::Named;
            }
            if self.at(Tok::Semi) {
                self.bump();
                return self.finish_remote(r);
            }
        }
        let before = self.st.errors;
        let res = self.block("remote", |p, w, sp| p.remote_directive(&mut r, w, sp));
        // Register even a block with inner errors so later references resolve, but
        // validate only a block that parsed cleanly (no follow-on errors).
        let clean = res.is_ok() && self.st.errors == before;
        self.register_remote(r, clean);
        res
    }

    fn finish_remote(&mut self, r: Remote) -> PR<()> {
        self.register_remote(r, true);
        Ok(())
    }

    fn register_remote(&mut self, r: Remote, validate: bool) {
        if validate {
            self.validate_remote(&r);
        }
        let idx = self.st.cfg.remotes.len();
        self.st.remote_idx.insert(r.name.clone(), idx);
        self.st.cfg.remotes.push(r);
    }

    fn validate_remote(&mut self, r: &Remote) {
        let what = match r.selector {
            RemoteSelector::Named => format!("remote \"{}\"", r.name),
            _ => format!("remote {}", r.name),
        };
        if r.exchange_mode.is_empty() {
            self.soft_err(r.span, format!("{what}: no exchange_mode specified"));
        }
        if r.proposals.is_empty() {
            self.soft_err(r.span, format!("{what}: no proposal specified"));
        }
        if r.my_identifier == Identifier::Asn1Dn(None)
            && !matches!(r.certificate_type, Some(CertType::X509 { .. }))
        {
            self.soft_err(r.span, format!("{what}: my_identifier asn1dn has no value and no x509 certificate_type is defined"));
        }
        if r.exchange_mode.contains(&ExchangeMode::Aggressive) {
            if let Some(first) = r.proposals.first() {
                if let Some(bad) = r.proposals.iter().find(|p| p.dh_group != first.dh_group) {
                    let d = Diagnostic::error(bad.span, format!("{what}: DH group must be equal in all proposals when aggressive mode is used"))
                        .with_note(first.span, format!("first proposal uses {}", first.dh_group));
                    self.st.error(d);
                } else if !first.dh_group.is_computable() {
                    self.soft_err(
                        first.span,
                        format!(
                            "{what}: DH group {} cannot be used (EC2N groups are not supported)",
                            first.dh_group
                        ),
                    );
                }
            }
        }
    }

    fn identifier(&mut self, what: &str) -> PR<Identifier> {
        let t = self.peek();
        let ty = match t.tok {
            Tok::Word(w) if ID_TYPES.contains(&w) => w,
            _ => {
                return self.expected(&format!(
                    "an identifier type for {what} (address, fqdn, user_fqdn, keyid, asn1dn)"
                ))
            }
        };
        self.bump();
        let qual = match self.peek().tok {
            Tok::Word(q @ ("file" | "tag")) => {
                let qt = self.bump();
                let qs = self.span(qt);
                if ty != "keyid" {
                    return self.err(qs, format!("qualifier \"{q}\" is only allowed with keyid"));
                }
                Some(q)
            }
            _ => None,
        };
        let vt = self.peek();
        let value: Option<&str> = match vt.tok {
            Tok::Str(s) | Tok::Word(s) => {
                self.bump();
                Some(s)
            }
            _ => None,
        };
        let vspan = self.span(vt);
        let need = |p: &mut Self, v: Option<&str>| -> PR<String> {
            match v {
                Some(s) => Ok(s.to_string()),
                None => p.err(vspan, format!("{what} {ty}: a value is required")),
            }
        };
        Ok(match ty {
            "address" => match value {
                None => Identifier::Address(None),
                Some(s) => match parse_addr(s) {
                    Some(a) => Identifier::Address(Some(a.ip)),
                    None => {
                        return self.err(
                            vspan,
                            format!("{what} address: \"{s}\" is not a numeric IP address"),
                        )
                    }
                },
            },
            "fqdn" => Identifier::Fqdn(need(self, value)?),
            "user_fqdn" => Identifier::UserFqdn(need(self, value)?),
            "keyid" => {
                let v = need(self, value)?;
                if qual == Some("tag") {
                    Identifier::KeyIdTag(v)
                } else {
                    Identifier::KeyIdFile(v)
                }
            }
            "asn1dn" => Identifier::Asn1Dn(value.map(str::to_string)),
            _ => {
                self.warn(
                    self.span(t),
                    format!("{what} subnet: racoon sends an empty identifier for this type"),
                );
                Identifier::Subnet(value.map(str::to_string))
            }
        })
    }

    fn remote_directive(&mut self, r: &mut Remote, w: &str, sp: Span) -> PR<()> {
        match w {
            "remote_address" => {
                let ap = self.addr_port("remote_address")?;
                if r.remote_address.is_some() || matches!(r.selector, RemoteSelector::Address(_)) {
                    return self.err(sp, "remote_address already specified");
                }
                r.remote_address = Some(ap);
                self.expect_semi(w)
            }
            "exchange_mode" => {
                let mut modes = vec![];
                loop {
                    let m = match self.peek().tok {
                        Tok::Word("main") => ExchangeMode::Main,
                        Tok::Word("aggressive") => ExchangeMode::Aggressive,
                        Tok::Word("base") => ExchangeMode::Base,
                        Tok::Comma => {
                            self.bump();
                            continue;
                        }
                        Tok::Semi if !modes.is_empty() => break,
                        _ => return self.expected("an exchange mode (main, aggressive, base)"),
                    };
                    self.bump();
                    if !modes.contains(&m) {
                        modes.push(m);
                    }
                }
                self.bump();
                r.exchange_mode = modes;
                Ok(())
            }
            "doi" => {
                if !self.eat_word("ipsec_doi") {
                    return self.expected("ipsec_doi");
                }
                self.expect_semi(w)
            }
            "situation" => {
                match self.peek().tok {
                    Tok::Word("identity_only") => {}
                    Tok::Word("secrecy" | "integrity") => {
                        let s = self.here();
                        self.warn(s, "situation secrecy/integrity is not implemented: identity_only is used");
                    }
                    _ => return self.expected("identity_only, secrecy or integrity"),
                }
                self.bump();
                self.expect_semi(w)
            }
            "my_identifier" => {
                r.my_identifier = self.identifier(w)?;
                self.expect_semi(w)
            }
            "peers_identifier" => {
                let id = self.identifier(w)?;
                r.peers_identifier.push(id);
                self.expect_semi(w)
            }
            "identifier" => self.err(sp, "\"identifier\" is obsolete; use my_identifier"),
            "xauth_login" => {
                let v = match self.peek().tok {
                    Tok::Str(s) | Tok::Word(s) => s.to_string(),
                    _ => return self.expected("a login"),
                };
                self.bump();
                self.st.warn_once("xauth", sp, "XAUTH is not implemented yet: xauth_login is ignored");
                r.xauth_login = Some(v);
                self.expect_semi(w)
            }
            "verify_identifier" => self.switch_stmt(w).map(|b| r.verify_identifier = b),
            "certificate_type" => {
                let ct = if self.eat_word("x509") {
                    let cert = self.string("certificate file")?;
                    let key = self.string("private key file")?;
                    CertType::X509 { cert, key }
                } else if self.eat_word("plain_rsa") {
                    let key = self.string("private key file")?;
                    r.send_cr = false;
                    r.send_cert = false;
                    r.verify_cert = false;
                    CertType::PlainRsa { key }
                } else {
                    return self.expected("x509 or plain_rsa");
                };
                if r.certificate_type.is_some() {
                    return self.err(sp, "certificate_type already defined");
                }
                r.certificate_type = Some(ct);
                self.expect_semi(w)
            }
            "peers_certfile" => {
                let pc = match self.peek().tok {
                    Tok::Word("x509") => {
                        self.bump();
                        PeersCert::X509(self.string("certificate file")?)
                    }
                    Tok::Word("plain_rsa") => {
                        self.bump();
                        PeersCert::PlainRsa(self.string("public key file")?)
                    }
                    Tok::Word("dnssec") => {
                        self.bump();
                        PeersCert::Dnssec
                    }
                    Tok::Str(s) => {
                        let s = s.to_string();
                        let ts = self.here();
                        self.bump();
                        self.warn(ts, format!("peers_certfile without a type is deprecated; write 'peers_certfile x509 \"{s}\";'"));
                        PeersCert::X509(s)
                    }
                    _ => return self.expected("x509, plain_rsa, dnssec or a quoted file name"),
                };
                if r.peers_certfile.is_some() {
                    return self.err(sp, "peers_certfile already defined");
                }
                r.peers_certfile = Some(pc);
                self.expect_semi(w)
            }
            "ca_type" => {
                if !self.eat_word("x509") {
                    return self.expected("x509");
                }
                let f = self.string("CA certificate file")?;
                if r.ca_type.is_some() {
                    return self.err(sp, "ca_type already defined");
                }
                r.ca_type = Some(f);
                self.expect_semi(w)
            }
            "verify_cert" => self.switch_stmt(w).map(|b| r.verify_cert = b),
            "send_cert" => self.switch_stmt(w).map(|b| r.send_cert = b),
            "send_cr" => self.switch_stmt(w).map(|b| r.send_cr = b),
            "match_empty_cr" => self.switch_stmt(w).map(|b| r.match_empty_cr = b),
            "nonce_size" => self.number_stmt(w).map(|n| r.nonce_size = n),
            "dh_group" => self.err(sp, "dh_group cannot be defined here (it belongs inside a proposal block)"),
            "lifetime" => self.lifetime(true).map(|s| r.lifetime = s),
            "proposal_check" => {
                let pc = match self.peek().tok {
                    Tok::Word("obey") => ProposalCheck::Obey,
                    Tok::Word("strict") => ProposalCheck::Strict,
                    Tok::Word("claim") => ProposalCheck::Claim,
                    Tok::Word("exact") => ProposalCheck::Exact,
                    _ => return self.expected("obey, strict, claim or exact"),
                };
                self.bump();
                r.proposal_check = pc;
                self.expect_semi(w)
            }
            "passive" => self.switch_stmt(w).map(|b| r.passive = b),
            "initial_contact" => self.switch_stmt(w).map(|b| r.initial_contact = b),
            "support_proxy" => self.switch_stmt(w).map(|b| r.support_proxy = b),
            "generate_policy" => {
                let g = match self.peek().tok {
                    Tok::Word("on" | "require") => GeneratePolicy::On,
                    Tok::Word("unique") => GeneratePolicy::Unique,
                    Tok::Word("off") => GeneratePolicy::Off,
                    _ => return self.expected("on, off, require or unique"),
                };
                self.bump();
                r.generate_policy = g;
                self.expect_semi(w)
            }
            "nat_traversal" => self.tristate_stmt(w).map(|t| r.nat_traversal = t),
            "dpd" => self.switch_stmt(w).map(|b| r.dpd = b),
            "dpd_delay" => self.number_stmt(w).map(|n| r.dpd_delay = n),
            "dpd_retry" => self.number_stmt(w).map(|n| r.dpd_retry = n),
            "dpd_maxfail" => self.number_stmt(w).map(|n| r.dpd_maxfail = n),
            "rekey" => self.tristate_stmt(w).map(|t| r.rekey = t),
            "ike_frag" => self.tristate_stmt(w).map(|t| r.ike_frag = t),
            "esp_frag" => self.number_stmt(w).map(|n| r.esp_frag = Some(n)),
            "script" => {
                let path = self.string("script path")?;
                let ev = match self.peek().tok {
                    Tok::Word("phase1_up") => ScriptEvent::Phase1Up,
                    Tok::Word("phase1_down") => ScriptEvent::Phase1Down,
                    Tok::Word("phase1_dead") => ScriptEvent::Phase1Dead,
                    _ => return self.expected("phase1_up, phase1_down or phase1_dead"),
                };
                self.bump();
                let full = join_path(self.st.cfg.paths.script.as_deref(), &path);
                r.scripts.retain(|(e, _)| *e != ev);
                r.scripts.push((ev, full));
                self.expect_semi(w)
            }
            "mode_cfg" => {
                let b = self.switch_stmt(w)?;
                if b {
                    self.st.warn_once("mode_cfg", sp, "mode_cfg is not implemented yet: 'mode_cfg on' is ignored");
                }
                r.mode_cfg = b;
                Ok(())
            }
            "weak_phase1_check" => self.switch_stmt(w).map(|b| r.weak_phase1_check = b),
            "ph1id" => self.number_stmt(w).map(|n| r.ph1id = n),
            "keepalive" => self.err(sp, "\"keepalive\" is not supported by racoon (use natt_keepalive in the timer block or dpd_delay)"),
            "proposal" => self.proposal(r, sp),
            _ => self.err(sp, format!("unknown directive \"{w}\" in remote block")),
        }
    }

    fn proposal(&mut self, r: &mut Remote, kw: Span) -> PR<()> {
        let mut enc = None;
        let mut hash = None;
        let mut auth = None;
        let mut dh = None;
        let mut lifetime = None;
        let mut gss: Option<(String, Span)> = None;
        let before = self.st.errors;
        let res = self.block("proposal", |p, w, sp| match w {
            "encryption_algorithm" => {
                let (alg, key_len) =
                    p.algorithm("a phase 1 encryption algorithm", IkeEnc::from_name, IkeEnc::names(), |a| Some(a.keylen_rule()))?;
                let key_len = if alg.keylen_rule() == KeyLenRule::Fixed { None } else { key_len };
                enc = Some(WithKeyLen { alg, key_len });
                p.expect_semi(w)
            }
            "hash_algorithm" => {
                if p.at_word("tiger") {
                    return p.err(p.here(), "hash algorithm tiger is not supported");
                }
                let (h, _) = p.algorithm("a hash algorithm", IkeHash::from_name, IkeHash::names(), |_| None)?;
                hash = Some(h);
                p.expect_semi(w)
            }
            "authentication_method" => {
                let at = p.here();
                let (m, _) = p.algorithm("an authentication method", AuthMethod::from_name, AuthMethod::names(), |_| None)?;
                match m {
                    AuthMethod::GssapiKrb => p.st.warn_once("gssapi", at, "GSSAPI is not implemented: proposals with gssapi_krb will never be chosen"),
                    AuthMethod::RsaEnc | AuthMethod::RsaRev => {
                        p.warn(at, format!("authentication method {m} is accepted by the parser but negotiation refuses it (as racoon)"))
                    }
                    AuthMethod::PreSharedKey | AuthMethod::RsaSig | AuthMethod::DssSig => {}
                    _ => p.st.warn_once("xauth", at, format!("XAUTH/hybrid authentication is not implemented yet: proposals with {m} will never be chosen")),
                }
                auth = Some(m);
                p.expect_semi(w)
            }
            "dh_group" => {
                dh = Some(p.dh_group(w)?);
                p.expect_semi(w)
            }
            "lifetime" => p.lifetime(true).map(|s| lifetime = Some(s)),
            "gss_id" | "gssapi_id" => {
                let s = p.string("GSS-API id")?;
                gss = Some((s, sp));
                p.expect_semi(w)
            }
            _ => p.err(sp, format!("unknown directive \"{w}\" in proposal block")),
        });
        if let Some((_, gsp)) = &gss {
            if auth != Some(AuthMethod::GssapiKrb) {
                self.soft_err(
                    *gsp,
                    "gss_id is only valid with authentication_method gssapi_krb",
                );
            }
        }
        let mut missing = vec![];
        if enc.is_none() {
            missing.push("encryption_algorithm");
        }
        if hash.is_none() {
            missing.push("hash_algorithm");
        }
        if auth.is_none() {
            missing.push("authentication_method");
        }
        if dh.is_none() {
            missing.push("dh_group");
        }
        match (enc, hash, auth, dh) {
            (Some(encryption), Some(hash), Some(auth_method), Some(dh_group)) => {
                r.proposals.push(Proposal {
                    encryption,
                    hash,
                    auth_method,
                    dh_group,
                    lifetime,
                    gss_id: gss.map(|g| g.0),
                    span: kw,
                });
            }
            _ if res.is_ok() && self.st.errors == before => self.soft_err(
                kw,
                format!("incomplete proposal: missing {}", missing.join(", ")),
            ),
            _ => {}
        }
        res
    }

    // ---------- sainfo ----------

    fn sa_id(&mut self) -> PR<SaId> {
        let t = self.peek();
        let Tok::Word(ty) = t.tok else {
            return self.expected("an identifier type");
        };
        self.bump();
        let vt = self.peek();
        let w = match vt.tok {
            Tok::Str(s) => {
                self.bump();
                return match ty {
                    "fqdn" => Ok(SaId::Fqdn(s.into())),
                    "user_fqdn" => Ok(SaId::UserFqdn(s.into())),
                    "keyid" => Ok(SaId::KeyId(s.into())),
                    "asn1dn" => self.err(self.span(t), "id type asn1dn is forbidden in sainfo"),
                    _ => self.err(
                        self.span(vt),
                        format!("{ty}: expected a numeric address, not a string"),
                    ),
                };
            }
            Tok::Word(w) if matches!(ty, "address" | "subnet") => w,
            _ => {
                return self.expected(&format!(
                    "{} after {ty}",
                    if matches!(ty, "address" | "subnet") {
                        "an address"
                    } else {
                        "a quoted string"
                    }
                ))
            }
        };
        // address A[-B] [/pfx] [port] ulproto
        self.bump();
        let vspan = self.span(vt);
        let (a_str, mut b_str) = match w.find('-').filter(|&i| i > 0) {
            Some(i) => (&w[..i], Some(&w[i + 1..])),
            None => (w, None),
        };
        if b_str.is_none() {
            if let Tok::Word(x) = self.peek().tok {
                if let Some(rest) = x.strip_prefix('-') {
                    self.bump();
                    b_str = Some(rest);
                }
            }
        }
        let bad = |p: &mut Self, s: &str| {
            p.err::<IpAddr>(
                vspan,
                format!("expected a numeric IPv4 or IPv6 address, found \"{s}\""),
            )
        };
        let a = match parse_addr(a_str) {
            Some(a) if a.scope.is_none() => a.ip,
            _ => bad(self, a_str)?,
        };
        let b = match b_str {
            None => None,
            Some(s) => match parse_addr(s) {
                Some(x) if x.scope.is_none() => Some(x.ip),
                _ => Some(bad(self, s)?),
            },
        };
        if let Some(b) = b {
            if a.is_ipv4() != b.is_ipv4() {
                return self.err(vspan, "address range mixes IPv4 and IPv6");
            }
        }
        let pt = self.peek();
        let prefix = match pt.tok {
            Tok::Prefix(Some(n)) => {
                self.bump();
                let max = if a.is_ipv4() { 32 } else { 128 };
                if n > max {
                    return self.err(
                        self.span(pt),
                        format!("prefix length /{n} is longer than {max}"),
                    );
                }
                if b.is_some() {
                    self.warn(
                        self.span(pt),
                        "a prefix after an address range is ignored (as racoon)",
                    );
                }
                Some(n as u8)
            }
            Tok::Prefix(None) => return self.err(self.span(pt), "invalid prefix length"),
            _ => None,
        };
        let portt = self.peek();
        let port = match portt.tok {
            Tok::PortAny => {
                self.bump();
                0
            }
            _ => self.opt_port(0)?,
        };
        let ut = self.peek();
        let proto = match ut.tok {
            Tok::Number(Some(n)) if n <= 255 => UlProto::Number(n as u8),
            Tok::Word(x) => match UlProto::from_name(x) {
                Some(u) => u,
                None => return self.expected("an upper-layer protocol (any, tcp, udp, icmp, icmp6, esp, ah, ipcomp, gre or a number)"),
            },
            _ => return self.expected("an upper-layer protocol (any, tcp, udp, icmp, icmp6, esp, ah, ipcomp, gre or a number)"),
        };
        self.bump();
        if matches!(proto, UlProto::Number(1 | 58)) && port != 0 {
            return self.err(
                self.span(portt),
                "port number must be \"any\" for icmp/icmp6",
            );
        }
        if (proto == UlProto::Number(58) && a.is_ipv4())
            || (proto == UlProto::Number(1) && a.is_ipv6())
        {
            return self.err(
                self.span(ut),
                "upper layer protocol mismatched (address family)",
            );
        }
        let full = if a.is_ipv4() { 32 } else { 128 };
        Ok(match (b, prefix) {
            (Some(end), _) => SaId::Range {
                start: a,
                end,
                port,
                proto,
            },
            (None, Some(p)) if p != full => SaId::Subnet {
                addr: a,
                prefix: p,
                port,
                proto,
            },
            _ => SaId::Addr {
                addr: a,
                port,
                proto,
            },
        })
    }

    fn at_id_type(&self) -> bool {
        matches!(self.peek().tok, Tok::Word(w) if ID_TYPES.contains(&w))
    }

    fn sainfo_stmt(&mut self, kw: Span) -> PR<()> {
        const REMOTE_SEL: &str =
            "a remote selector (anonymous, clientaddr, address, subnet, fqdn, user_fqdn, keyid)";
        let (local, remote) = if self.eat_word("anonymous") {
            if self.eat_word("clientaddr") {
                (SaSelector::Anonymous, SaSelector::ClientAddr)
            } else if self.at_id_type() {
                (SaSelector::Anonymous, SaSelector::Id(self.sa_id()?))
            } else {
                (SaSelector::Anonymous, SaSelector::Anonymous)
            }
        } else if self.at_id_type() {
            let l = SaSelector::Id(self.sa_id()?);
            if self.eat_word("anonymous") {
                (l, SaSelector::Anonymous)
            } else if self.eat_word("clientaddr") {
                (l, SaSelector::ClientAddr)
            } else if self.at_id_type() {
                (l, SaSelector::Id(self.sa_id()?))
            } else {
                return self.expected(REMOTE_SEL);
            }
        } else {
            return self.expected(
                "anonymous or a local selector (address, subnet, fqdn, user_fqdn, keyid)",
            );
        };
        let mut from = None;
        let mut group = None;
        if self.eat_word("from") {
            from = Some(self.identifier("from")?);
        } else if self.at_word("group") {
            let gt = self.bump();
            let gs = self.span(gt);
            group = Some(self.string("xauth group name")?);
            self.st.warn_once(
                "xauth",
                gs,
                "XAUTH is not implemented yet: sainfo group is ignored",
            );
        }
        let header = kw.to(self.span(self.toks[self.pos.saturating_sub(1)]));
        let mut s = SaInfo {
            local,
            remote,
            from,
            group,
            encryption: vec![],
            authentication: vec![],
            compression: vec![],
            pfs_group: None,
            lifetime: 28800,
            remoteid: 0,
            span: header,
        };
        let before = self.st.errors;
        let mut enc_span: Option<Span> = None;
        let res = self.block("sainfo", |p, w, sp| match w {
            "encryption_algorithm" => {
                enc_span = Some(sp);
                let v = p.algorithm_list(
                    w,
                    "a phase 2 encryption algorithm",
                    EspEnc::from_name,
                    EspEnc::names(),
                    |a| Some(a.keylen_rule()),
                )?;
                s.encryption = v
                    .into_iter()
                    .map(|(alg, key_len)| WithKeyLen { alg, key_len })
                    .collect();
                Ok(())
            }
            "authentication_algorithm" => {
                let v = p.algorithm_list(
                    w,
                    "a phase 2 authentication algorithm",
                    AuthAlg::from_name,
                    AuthAlg::names(),
                    |_| None,
                )?;
                s.authentication = v.into_iter().map(|x| x.0).collect();
                Ok(())
            }
            "compression_algorithm" => {
                let v = p.algorithm_list(
                    w,
                    "a compression algorithm",
                    CompAlg::from_name,
                    CompAlg::names(),
                    |_| None,
                )?;
                s.compression = v.into_iter().map(|x| x.0).collect();
                Ok(())
            }
            "pfs_group" => {
                s.pfs_group = Some(p.dh_group(w)?);
                p.expect_semi(w)
            }
            "lifetime" => p.lifetime(false).map(|l| s.lifetime = l),
            "remoteid" => p.number_stmt(w).map(|n| s.remoteid = n),
            _ => p.err(sp, format!("unknown directive \"{w}\" in sainfo block")),
        });
        let name = s.header();
        let any_aead = s.encryption.iter().any(|e| e.alg.is_aead());
        if any_aead && s.authentication.is_empty() && s.encryption.iter().all(|e| e.alg.is_aead()) {
            // racoon-rs extension: a combined-mode cipher needs no authentication algorithm
            s.authentication = vec![AuthAlg::NonAuth];
        }
        if res.is_ok() && self.st.errors == before {
            if any_aead
                && !s.authentication.is_empty()
                && !s.authentication.contains(&AuthAlg::NonAuth)
            {
                self.soft_err(
                    enc_span.unwrap_or(header),
                    format!(
                        "sainfo {name}: aes_gcm_16 authenticates by itself: \
                         authentication_algorithm must include non_auth (or be absent)"
                    ),
                );
            }
            for (empty, class) in [
                (s.encryption.is_empty(), "encryption"),
                (s.authentication.is_empty(), "authentication"),
                (s.compression.is_empty(), "compression"),
            ] {
                if empty {
                    self.soft_err(header, format!("sainfo {name}: no {class} algorithm"));
                }
            }
        }
        let key: SaKey = (
            s.local.clone(),
            s.remote.clone(),
            s.from.clone(),
            s.remoteid,
        );
        match self.st.sainfo_keys.get(&key) {
            Some(&prev) if s.local != SaSelector::Anonymous => {
                let d = Diagnostic::error(header, format!("duplicated sainfo: {name}"))
                    .with_note(prev, "first defined here");
                self.st.error(d);
            }
            Some(_) => {}
            None => {
                self.st.sainfo_keys.insert(key, header);
            }
        }
        self.st.cfg.sainfos.push(s);
        res
    }
}
