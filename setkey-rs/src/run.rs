//! Running setkey: sending messages, reading replies, printing them.

use crate::ast::{Command, SaSpec};
use crate::build::{self, BuildOpts};
use crate::dump::{self, Clock};
use crate::parser::{AlgRange, ParseCtx, ParseError, Parser, Supported};
use crate::resolve::Resolver;
use pfkey::{DecodeOptions, Message, MsgType, SaType};
use std::io;
use std::time::Duration;

/// Sends and receives raw PF_KEY messages (one message per packet).
pub trait Transport {
    fn send(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Next message; `Err` with `TimedOut`/`WouldBlock` when none arrives in time.
    fn recv(&mut self) -> io::Result<Vec<u8>>;
}

/// The unix SOCK_SEQPACKET socket served by `ipsecd`/`racoon`.
pub struct SocketTransport {
    client: pfkey::Client,
}

impl SocketTransport {
    pub fn connect(path: &std::path::Path) -> io::Result<Self> {
        let client = pfkey::Client::connect(path)?;
        // setkey waits one second for each reply (SO_RCVTIMEO).
        client.set_timeout(Some(Duration::from_secs(1)))?;
        Ok(SocketTransport { client })
    }
    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.client.set_timeout(t)
    }
}

fn cerr(e: pfkey::ClientError) -> io::Error {
    match e {
        pfkey::ClientError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl Transport for SocketTransport {
    fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        self.client.send_raw(buf).map_err(cerr)
    }
    fn recv(&mut self) -> io::Result<Vec<u8>> {
        self.client.recv_raw().map_err(cerr)
    }
}

/// Flags that change how replies are handled and printed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opts {
    pub pid: u32,
    /// `-f`: errors are prefixed with "The result of line N: ".
    pub script: bool,
    pub verbose: bool,
    pub hexdump: bool,
    pub all: bool,
    pub withports: bool,
    pub forever: bool,
    pub not_really: bool,
    pub rfc_mode: bool,
}

/// Most messages read for one request (a dump of a huge SAD included).
const MAX_REPLIES: usize = 16 << 20;

/// glibc strerror() text.
pub fn strerror(errno: u8) -> String {
    let s = io::Error::from_raw_os_error(i32::from(errno)).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Output sink and counters of one setkey run.
pub struct Runner<'a> {
    pub t: &'a mut dyn Transport,
    pub out: &'a mut dyn io::Write,
    pub clock: &'a dyn Clock,
    pub opts: Opts,
    /// Replies with errno set (our exit status deviation uses this).
    pub engine_errors: usize,
    /// Current statement line (for "The result of line N").
    pub line: u32,
    buf: String,
    /// Messages sent whose reply has not been read yet: (seq, line, type).
    inflight: std::collections::VecDeque<(u32, u32, MsgType)>,
    next_seq: u32,
}

/// How many single-reply messages may be outstanding at once. setkey waits
/// for each reply before sending the next message; the engine answers one
/// socket's messages in order, so keeping a window of them in flight gives
/// the same results and output while not paying one round trip per line.
const WINDOW: usize = 64;

impl<'a> Runner<'a> {
    pub fn new(
        t: &'a mut dyn Transport,
        out: &'a mut dyn io::Write,
        clock: &'a dyn Clock,
        opts: Opts,
    ) -> Self {
        Runner {
            t,
            out,
            clock,
            opts,
            engine_errors: 0,
            line: 0,
            buf: String::new(),
            inflight: std::collections::VecDeque::new(),
            next_seq: 0,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(self.buf.as_bytes())?;
            self.buf.clear();
        }
        Ok(())
    }

    pub fn print(&mut self, s: &str) -> io::Result<()> {
        self.buf.push_str(s);
        self.flush()
    }

    fn hex(&mut self, b: &[u8]) {
        use std::fmt::Write as _;
        for (i, x) in b.iter().enumerate() {
            if i % 16 == 0 {
                let _ = write!(self.buf, "{i:08x}: ");
            }
            let _ = write!(self.buf, "{x:02x} ");
            if i % 16 == 15 {
                self.buf.push('\n');
            }
        }
        if b.len() % 16 != 0 {
            self.buf.push('\n');
        }
    }

    /// SADB_REGISTER (satype UNSPEC) and the supported algorithm lists.
    pub fn register(&mut self) -> io::Result<Supported> {
        let m = Message::new(MsgType::REGISTER, SaType::UNSPEC).with_pid(self.opts.pid);
        let bytes = m.encode().map_err(|e| io::Error::other(e.to_string()))?;
        self.t.send(&bytes)?;
        for _ in 0..1024 {
            let r = self.t.recv()?;
            let Ok(msg) = Message::decode_with(&r, DecodeOptions::LENIENT) else {
                continue;
            };
            if msg.header.msg_type != MsgType::REGISTER || msg.header.pid != self.opts.pid {
                continue;
            }
            if msg.header.errno != 0 {
                return Err(io::Error::from_raw_os_error(i32::from(msg.header.errno)));
            }
            let conv = |s: Option<&pfkey::Supported>| -> Vec<AlgRange> {
                s.map(|s| {
                    s.algs
                        .iter()
                        .map(|a| AlgRange {
                            id: a.id,
                            ivlen: a.ivlen,
                            min_bits: a.minbits,
                            max_bits: a.maxbits,
                        })
                        .collect()
                })
                .unwrap_or_default()
            };
            return Ok(Supported {
                auth: conv(msg.supported_auth()),
                enc: conv(msg.supported_encrypt()),
            });
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, "no REGISTER reply"))
    }

    /// postproc(): print one reply. Returns false when the exchange ends.
    fn postproc(&mut self, msg: &Message) -> bool {
        use std::fmt::Write as _;
        let h = msg.header;
        if h.errno != 0 {
            let prefix = if self.opts.script {
                format!("The result of line {}: ", self.line)
            } else {
                String::new()
            };
            let text = if h.errno == 2 {
                match h.msg_type {
                    MsgType::DELETE | MsgType::GET | MsgType::X_SPDDELETE => "No entry".to_string(),
                    MsgType::DUMP => "No SAD entries".to_string(),
                    MsgType::X_SPDDUMP => "No SPD entries".to_string(),
                    _ => strerror(h.errno),
                }
            } else {
                strerror(h.errno)
            };
            let _ = writeln!(self.buf, "{prefix}{text}.");
            // An empty dump is not a failure of the command.
            if !(h.errno == 2 && matches!(h.msg_type, MsgType::DUMP | MsgType::X_SPDDUMP)) {
                self.engine_errors += 1;
            }
            return false;
        }
        let withports = self.opts.withports;
        match h.msg_type {
            MsgType::GET => dump::sadump(&mut self.buf, msg, withports, self.clock),
            MsgType::DUMP if self.opts.all || !dump::is_dead(msg) => {
                if self.opts.forever {
                    dump::shortdump(&mut self.buf, msg, self.clock.now());
                } else {
                    dump::sadump(&mut self.buf, msg, withports, self.clock);
                }
            }
            MsgType::X_SPDGET | MsgType::X_SPDDUMP => {
                dump::spdump(&mut self.buf, msg, withports, self.clock)
            }
            _ => {}
        }
        true
    }

    /// Whether `m` can be sent without waiting for its reply: a message with
    /// exactly one reply that prints nothing unless it carries an error.
    fn pipelinable(&self, m: &Message) -> bool {
        !(self.opts.verbose || self.opts.hexdump || self.opts.forever)
            && matches!(
                m.header.msg_type,
                MsgType::ADD
                    | MsgType::UPDATE
                    | MsgType::DELETE
                    | MsgType::X_SPDADD
                    | MsgType::X_SPDUPDATE
                    | MsgType::X_SPDDELETE
            )
    }

    /// Read replies until at most `keep` messages are in flight.
    pub fn drain(&mut self, keep: usize) -> io::Result<()> {
        let mut reads = 0usize;
        while self.inflight.len() > keep {
            reads += 1;
            let r = match self.t.recv() {
                Ok(r) if reads <= MAX_REPLIES => r,
                Ok(_) => {
                    self.flush()?;
                    eprintln!("recv: too many unrelated messages");
                    self.engine_errors += self.inflight.len();
                    self.inflight.clear();
                    return Ok(());
                }
                Err(e) => {
                    self.flush()?;
                    eprintln!("recv: {e}");
                    self.engine_errors += self.inflight.len();
                    self.inflight.clear();
                    return Ok(());
                }
            };
            let Ok(msg) = Message::decode_with(&r, DecodeOptions::LENIENT) else {
                continue;
            };
            let Some(&(seq, line, t)) = self.inflight.front() else {
                break;
            };
            if msg.header.pid != self.opts.pid || msg.header.seq != seq || msg.header.msg_type != t
            {
                continue;
            }
            self.inflight.pop_front();
            let saved = std::mem::replace(&mut self.line, line);
            self.postproc(&msg);
            self.line = saved;
        }
        self.flush()
    }

    /// sendkeymsg(): send one message and process replies until seq 0.
    pub fn sendkeymsg(&mut self, m: &Message) -> io::Result<()> {
        if self.opts.not_really {
            return Ok(());
        }
        if self.pipelinable(m) {
            self.next_seq = self.next_seq.wrapping_add(1).max(1);
            let seq = self.next_seq;
            let bytes = m
                .clone()
                .with_seq(seq)
                .encode()
                .map_err(|e| io::Error::other(e.to_string()))?;
            self.drain(WINDOW - 1)?;
            self.t.send(&bytes)?;
            self.inflight.push_back((seq, self.line, m.header.msg_type));
            return Ok(());
        }
        // Anything else waits for what is in flight, then runs alone.
        self.drain(0)?;
        let bytes = m.encode().map_err(|e| io::Error::other(e.to_string()))?;
        if self.opts.forever {
            dump::shortdump_hdr(&mut self.buf);
        }
        if self.opts.verbose {
            dump::kdebug(&mut self.buf, &bytes);
            self.buf.push('\n');
        }
        if self.opts.hexdump {
            self.hex(&bytes);
        }
        self.flush()?;
        self.t.send(&bytes)?;
        for _ in 0..MAX_REPLIES {
            let r = match self.t.recv() {
                Ok(r) => r,
                Err(e) => {
                    self.flush()?;
                    eprintln!("recv: {e}");
                    self.engine_errors += 1;
                    return Ok(());
                }
            };
            let Ok(msg) = Message::decode_with(&r, DecodeOptions::LENIENT) else {
                self.flush()?;
                eprintln!("setkey: invalid keymsg length");
                self.engine_errors += 1;
                return Ok(());
            };
            // Skip broadcasts meant for others (setkey reads whatever comes).
            if msg.header.pid != self.opts.pid || msg.header.msg_type != m.header.msg_type {
                continue;
            }
            if self.opts.verbose {
                dump::kdebug(&mut self.buf, &r);
                self.buf.push('\n');
            }
            let go_on = self.postproc(&msg);
            self.flush()?;
            if !go_on || msg.header.seq == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Linux deleteall: DUMP, then DELETE for every matching SPI.
    fn deleteall(&mut self, satype: u8, s: &SaSpec) -> io::Result<()> {
        self.drain(0)?;
        if self.opts.not_really {
            return Ok(());
        }
        let d = Message::new(MsgType::DUMP, SaType(satype)).with_pid(self.opts.pid);
        let bytes = d.encode().map_err(|e| io::Error::other(e.to_string()))?;
        if self.opts.verbose {
            dump::kdebug(&mut self.buf, &bytes);
            self.buf.push('\n');
        }
        self.flush()?;
        self.t.send(&bytes)?;
        let mut spis = Vec::new();
        for _ in 0..MAX_REPLIES {
            let Ok(r) = self.t.recv() else { break };
            let Ok(msg) = Message::decode_with(&r, DecodeOptions::LENIENT) else {
                break;
            };
            if msg.header.pid != self.opts.pid || msg.header.msg_type != MsgType::DUMP {
                continue;
            }
            if msg.header.errno != 0 {
                break;
            }
            let src_ok = msg.addr_src().is_some_and(|a| s.src.contains(&a.addr));
            let dst_ok = msg.addr_dst().is_some_and(|a| s.dst.contains(&a.addr));
            if msg.header.satype.0 == satype && src_ok && dst_ok {
                if let Some(sa) = msg.sa() {
                    spis.push(sa.spi);
                }
            }
            if msg.header.seq == 0 {
                break;
            }
        }
        let bo = self.build_opts();
        for spi in spis {
            let one = SaSpec {
                satype,
                spi,
                flags: crate::algs::EXT_CYCSEQ,
                ..s.clone()
            };
            for m in build::sa_addr(MsgType::DELETE, &one, true, &bo).unwrap_or_default() {
                self.sendkeymsg(&m)?;
            }
        }
        Ok(())
    }

    fn build_opts(&self) -> BuildOpts {
        BuildOpts {
            pid: self.opts.pid,
            rfc_mode: self.opts.rfc_mode,
        }
    }

    /// Execute one parsed command.
    pub fn exec(&mut self, cmd: &Command) -> io::Result<()> {
        if let Command::DeleteAll { satype, src, dst } = cmd {
            let s = SaSpec {
                src: src.clone(),
                dst: dst.clone(),
                ..SaSpec::default()
            };
            return self.deleteall(*satype, &s);
        }
        match build::build(cmd, &self.build_opts()) {
            Ok(msgs) => {
                for m in &msgs {
                    self.sendkeymsg(m)?;
                }
            }
            Err(e) => {
                self.print(&format!("line {}: {e}\n", self.line))?;
                self.engine_errors += 1;
            }
        }
        Ok(())
    }

    /// `setkey -D`, `-DP`, `-F`, `-FP` (sendkeyshort).
    pub fn short(&mut self, t: MsgType) -> io::Result<()> {
        let m = Message::new(t, SaType::UNSPEC).with_pid(self.opts.pid);
        self.sendkeymsg(&m)
    }

    /// Pretty-print raw PF_KEY messages read from a file (fileproc).
    pub fn fileproc(&mut self, data: &[u8]) -> io::Result<()> {
        let mut off = 0;
        while off + 16 <= data.len() {
            let len = usize::from(u16::from_ne_bytes([data[off + 4], data[off + 5]])) * 8;
            if len < 16 || off + len > data.len() {
                self.print("invalid keymsg length\n")?;
                break;
            }
            match Message::decode_with(&data[off..off + len], DecodeOptions::LENIENT) {
                Ok(m) => {
                    self.postproc(&m);
                }
                Err(e) => self.buf.push_str(&format!("{e}\n")),
            }
            self.flush()?;
            off += len;
        }
        Ok(())
    }

    /// `-x`: X_PROMISC, then print every message seen (kdebug, optional hex).
    pub fn promisc(&mut self, tflag: u8, max: Option<usize>) -> io::Result<()> {
        let m = Message::new(MsgType::X_PROMISC, SaType(1)).with_pid(self.opts.pid);
        let bytes = m.encode().map_err(|e| io::Error::other(e.to_string()))?;
        self.t.send(&bytes)?;
        let mut n = 0;
        loop {
            if max.is_some_and(|x| n >= x) {
                return Ok(());
            }
            let r = match self.t.recv() {
                Ok(r) => r,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            };
            n += 1;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let line = if tflag > 1 {
                format!("{}.{:06} \n", now.as_secs() as u32, now.subsec_micros())
            } else {
                let s = (now.as_secs() as i64 + local_offset(now.as_secs())).rem_euclid(86_400);
                format!(
                    "{:02}:{:02}:{:02}.{:06} \n",
                    s / 3600,
                    (s % 3600) / 60,
                    s % 60,
                    now.subsec_micros()
                )
            };
            self.buf.push_str(&line);
            if self.opts.hexdump {
                self.hex(&r);
            }
            let mut body: &[u8] = &r;
            if r.len() > 1 && r[1] == MsgType::X_PROMISC.0 {
                body = if r.len() > 16 { &r[16..] } else { &[] };
            }
            if !body.is_empty() {
                dump::kdebug(&mut self.buf, body);
                self.buf.push('\n');
            }
            self.flush()?;
        }
    }
}

fn local_offset(t: u64) -> i64 {
    dump::SystemClock::utc_offset(t)
}

/// Outcome of running a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptEnd {
    Done,
    /// Parse/validation error (exit 1).
    Failed(ParseError),
}

/// Parse and run a script statement by statement (`-f`). On a parse error the
/// error and `parse failed, line N.` are printed; earlier commands stay sent.
pub fn run_script(
    r: &mut Runner<'_>,
    src: &[u8],
    resolver: &dyn Resolver,
    supported: Option<&Supported>,
) -> io::Result<ScriptEnd> {
    let mut p = Parser::new(
        src,
        ParseCtx {
            resolver,
            supported,
        },
    );
    loop {
        match p.next_stmt() {
            Ok(None) => {
                r.drain(0)?;
                return Ok(ScriptEnd::Done);
            }
            Ok(Some(stmt)) => {
                for w in &stmt.warnings {
                    r.print(&format!("{w}\n"))?;
                }
                r.line = stmt.line;
                if stmt.cmd == Command::Exit {
                    r.drain(0)?;
                    return Ok(ScriptEnd::Done);
                }
                r.exec(&stmt.cmd)?;
            }
            Err(e) => {
                r.drain(0)?;
                r.print(&format!("{e}\n"))?;
                if !e.fatal {
                    r.print(&format!("parse failed, line {}.\n", e.line))?;
                }
                return Ok(ScriptEnd::Failed(e));
            }
        }
    }
}

/// `-c`: lines from stdin, `#` strips the rest of a line, lines are joined
/// until `;` and each statement is parsed on its own; parse errors are
/// printed and processing continues (an illegal character ends the run).
pub fn run_stdin(
    r: &mut Runner<'_>,
    input: &mut dyn io::BufRead,
    resolver: &dyn Resolver,
    supported: Option<&Supported>,
) -> io::Result<(usize, bool)> {
    let mut pending = String::new();
    let mut errors = 0;
    let mut line = String::new();
    loop {
        line.clear();
        // Bound a single line like setkey's 1024-byte buffer (but without truncation).
        if input.read_line(&mut line)? == 0 {
            r.drain(0)?;
            return Ok((errors, false));
        }
        let l = line.trim_end_matches(['\n', '\r']);
        let l = match l.find('#') {
            Some(i) => &l[..i],
            None => l,
        };
        if l.is_empty() {
            continue;
        }
        if !pending.is_empty() {
            pending.push(' ');
        }
        pending.push_str(l);
        if pending.len() > 1 << 20 {
            pending.clear();
            errors += 1;
            continue;
        }
        while let Some(i) = pending.find(';') {
            let stmt: String = pending[..=i].to_string();
            pending = pending[i + 1..].to_string();
            let mut p = Parser::new(
                stmt.as_bytes(),
                ParseCtx {
                    resolver,
                    supported,
                },
            );
            match p.next_stmt() {
                Ok(Some(s)) => {
                    for w in &s.warnings {
                        r.print(&format!("{w}\n"))?;
                    }
                    r.line = s.line;
                    if s.cmd == Command::Exit {
                        r.drain(0)?;
                        return Ok((errors, true));
                    }
                    r.exec(&s.cmd)?;
                }
                Ok(None) => {}
                Err(e) => {
                    r.print(&format!("{e}\n"))?;
                    errors += 1;
                    if e.fatal {
                        r.drain(0)?;
                        return Ok((errors, true));
                    }
                }
            }
        }
    }
}
