//! The setkey lexer.
//!
//! It reproduces the longest-match rules of ipsec-tools' `token.l`: keywords are
//! recognised anywhere (a word equal to a keyword is that keyword), `-A` and `-E`
//! switch to an algorithm-name state until an algorithm name is seen, and `-P`
//! switches to a policy state in which everything up to `;` made of the policy
//! characters is one token. Each token carries its line and column (1-based).

use crate::algs;

/// Which lexer state we are in (flex start conditions; all are inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Initial,
    Policy,
    AuthAlg,
    EncAlg,
}

/// Kinds of tokens, named after the grammar's terminals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// `;`
    Eot,
    /// `/`
    Slash,
    /// `[`
    Blcl,
    /// `]`
    Elcl,
    Add,
    Get,
    Delete,
    DeleteAll,
    Flush,
    Dump,
    Exit,
    /// NetBSD `update`
    Update,
    /// NetBSD `getspi`
    GetSpi,
    SpdAdd,
    SpdUpdate,
    SpdDelete,
    SpdDump,
    SpdFlush,
    Tagged,
    /// `-P`
    FPolicy,
    /// The policy text after `-P`.
    PlRequests(String),
    /// `-4`, `-6n`, ...
    FAiFlags(String),
    /// `esp` (false) / `esp-old` (true)
    PrEsp(bool),
    /// `ah` / `ah-old`
    PrAh(bool),
    PrEspUdp,
    PrIpcomp,
    PrTcp,
    /// `-A`
    FAuth,
    /// `-E`
    FEnc,
    /// authentication algorithm taking a key
    AlgAuth(u8),
    /// authentication algorithm without key (`null`)
    AlgAuthNoKey(u8),
    /// encryption algorithm taking a key
    AlgEnc(u8),
    /// `-E null`
    AlgEncNoKey(u8),
    /// `-E simple`
    AlgEncOld(u8),
    /// `-E des-deriv`
    AlgEncDesDeriv(u8),
    /// `-E des-32iv`
    AlgEncDes32Iv(u8),
    /// `-C`
    FComp,
    /// `oui`, `deflate`, `lzs`
    AlgComp(u8),
    /// `-R`
    FRawCpi,
    /// `-m`
    FMode,
    /// `transport` / `tunnel`
    Mode(u8),
    /// `-u`
    FReqid,
    /// `-f`
    FExt,
    /// `random-pad` / `seq-pad` / `zero-pad`
    Extension(u32),
    NoCyclicSeq,
    /// `-r`
    FReplay,
    FLifetimeHard,
    FLifetimeSoft,
    FLifebyteHard,
    FLifebyteSoft,
    /// `-ctx`
    SecurityCtx,
    /// NetBSD `-esp_frag`
    FEspFrag,
    Any,
    /// Decimal number (strtoul semantics: saturates).
    DecString(u64),
    /// `0x...` (digits without the prefix)
    HexString(String),
    /// `"..."` (contents)
    QuotedString(Vec<u8>),
    /// Word: address, host name, protocol name, icmp `type,code`.
    String(String),
    /// End of input.
    Eof,
}

/// A token with its text and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    /// The source text of the token (what setkey prints as `yytext`).
    pub text: String,
    /// Line where the token starts (1-based).
    pub line: u32,
    /// Column where the token starts (1-based, in bytes).
    pub col: u32,
    /// Line after the token (flex's `lineno` once the token was read).
    pub end_line: u32,
}

/// A fatal lexical error: an illegal character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub line: u32,
    pub col: u32,
    pub text: String,
}

/// Limits to keep hostile input bounded.
pub const MAX_TOKEN: usize = 64 * 1024;

pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
    col: u32,
    state: State,
}

const KEYWORDS: &[(&str, Tok)] = &[
    ("add", Tok::Add),
    ("delete", Tok::Delete),
    ("deleteall", Tok::DeleteAll),
    ("get", Tok::Get),
    ("flush", Tok::Flush),
    ("dump", Tok::Dump),
    ("exit", Tok::Exit),
    ("quit", Tok::Exit),
    ("bye", Tok::Exit),
    ("update", Tok::Update),
    ("getspi", Tok::GetSpi),
    ("spdadd", Tok::SpdAdd),
    ("spdupdate", Tok::SpdUpdate),
    ("spddelete", Tok::SpdDelete),
    ("spddump", Tok::SpdDump),
    ("spdflush", Tok::SpdFlush),
    ("tagged", Tok::Tagged),
];

fn is_s1_first(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b':'
}
fn is_s1_rest(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b':' | b'%' | b'.' | b'-')
}
fn is_pl_first(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, b':' | b'.' | b'-' | b'_' | b'/' | b' ' | b'\n' | b'\t')
}
fn is_pl_rest(c: u8) -> bool {
    is_pl_first(c) || matches!(c, b'%' | b'+' | b']' | b'[')
}

fn run(s: &[u8], first: impl Fn(u8) -> bool, rest: impl Fn(u8) -> bool) -> usize {
    match s.first() {
        Some(&c) if first(c) => 1 + s[1..].iter().take_while(|&&c| rest(c)).count(),
        _ => 0,
    }
}

fn keyword_in_state(word: &str, state: State) -> Option<Tok> {
    if let Some((_, t)) = KEYWORDS.iter().find(|(k, _)| *k == word) {
        return Some(t.clone());
    }
    let t = match word {
        "ah" => Tok::PrAh(false),
        "esp" => Tok::PrEsp(false),
        "ah-old" => Tok::PrAh(true),
        "esp-old" => Tok::PrEsp(true),
        "esp-udp" => Tok::PrEspUdp,
        "ipcomp" => Tok::PrIpcomp,
        "tcp" => Tok::PrTcp,
        _ => Tok::Eof,
    };
    if t != Tok::Eof {
        return Some(t);
    }
    if state == State::AuthAlg {
        if let Some(a) = algs::auth_by_name(word) {
            return Some(if a.nokey {
                Tok::AlgAuthNoKey(a.id)
            } else {
                Tok::AlgAuth(a.id)
            });
        }
    }
    if state == State::EncAlg {
        if let Some(e) = algs::enc_by_name(word) {
            return Some(match e.kind {
                algs::EncKind::Key => Tok::AlgEnc(e.id),
                algs::EncKind::NoKey => Tok::AlgEncNoKey(e.id),
                algs::EncKind::Old => Tok::AlgEncOld(e.id),
                algs::EncKind::DesDeriv => Tok::AlgEncDesDeriv(e.id),
                algs::EncKind::Des32Iv => Tok::AlgEncDes32Iv(e.id),
            });
        }
    }
    Some(match word {
        "oui" => Tok::AlgComp(algs::CALG_OUI),
        "deflate" => Tok::AlgComp(algs::CALG_DEFLATE),
        "lzs" => Tok::AlgComp(algs::CALG_LZS),
        "transport" => Tok::Mode(algs::MODE_TRANSPORT),
        "tunnel" => Tok::Mode(algs::MODE_TUNNEL),
        "random-pad" => Tok::Extension(algs::EXT_PRAND),
        "seq-pad" => Tok::Extension(algs::EXT_PSEQ),
        "zero-pad" => Tok::Extension(algs::EXT_PZERO),
        "nocyclic-seq" => Tok::NoCyclicSeq,
        "any" => Tok::Any,
        _ => return None,
    })
}

/// Hyphen options, longest first where one is a prefix of another.
const HYPHEN_OPTS: &[(&str, Tok)] = &[
    ("-esp_frag", Tok::FEspFrag),
    ("-ctx", Tok::SecurityCtx),
    ("-lh", Tok::FLifetimeHard),
    ("-ls", Tok::FLifetimeSoft),
    ("-bh", Tok::FLifebyteHard),
    ("-bs", Tok::FLifebyteSoft),
    ("-P", Tok::FPolicy),
    ("-A", Tok::FAuth),
    ("-E", Tok::FEnc),
    ("-C", Tok::FComp),
    ("-R", Tok::FRawCpi),
    ("-m", Tok::FMode),
    ("-u", Tok::FReqid),
    ("-f", Tok::FExt),
    ("-r", Tok::FReplay),
];

impl<'a> Lexer<'a> {
    pub fn new(src: &'a [u8]) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            col: 1,
            state: State::Initial,
        }
    }

    /// Current line (flex `lineno`).
    pub fn line(&self) -> u32 {
        self.line
    }

    fn advance(&mut self, n: usize) -> String {
        let end = (self.pos + n).min(self.src.len());
        let bytes = &self.src[self.pos..end];
        for &b in bytes {
            if b == b'\n' {
                self.line = self.line.saturating_add(1);
                self.col = 1;
            } else {
                self.col = self.col.saturating_add(1);
            }
        }
        self.pos = end;
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// Next token, or a fatal "Syntax error" for an illegal character.
    pub fn next_token(&mut self) -> Result<Token, LexError> {
        loop {
            let rest = &self.src[self.pos..];
            let (line, col) = (self.line, self.col);
            let Some(&c) = rest.first() else {
                return Ok(Token {
                    tok: Tok::Eof,
                    text: String::new(),
                    line,
                    col,
                    end_line: line,
                });
            };
            // Policy state: the policy text rule comes before nearly everything.
            if self.state == State::Policy {
                if c == b';' {
                    self.state = State::Initial;
                    let text = self.advance(1);
                    return Ok(self.mk(Tok::Eot, text, line, col));
                }
                let pl = run(rest, is_pl_first, is_pl_rest);
                if pl > 0 {
                    // A keyword of exactly the same length wins (earlier rule).
                    let w = run(rest, |c| c.is_ascii_alphabetic(), is_s1_rest);
                    if w == pl {
                        let word = std::str::from_utf8(&rest[..w]).unwrap_or("");
                        if let Some((_, t)) = KEYWORDS.iter().find(|(k, _)| *k == word) {
                            let text = self.advance(w);
                            return Ok(self.mk(t.clone(), text, line, col));
                        }
                    }
                    if pl > MAX_TOKEN {
                        return Err(LexError {
                            line,
                            col,
                            text: "policy too long".into(),
                        });
                    }
                    let text = self.advance(pl);
                    return Ok(self.mk(Tok::PlRequests(text.clone()), text, line, col));
                }
            }
            match c {
                b' ' | b'\t' | b'\r' => {
                    self.advance(1);
                    continue;
                }
                b'\n' => {
                    self.advance(1);
                    continue;
                }
                b'#' => {
                    let n = rest.iter().take_while(|&&b| b != b'\n').count();
                    self.advance(n);
                    continue;
                }
                b';' => {
                    let text = self.advance(1);
                    return Ok(self.mk(Tok::Eot, text, line, col));
                }
                b'/' => {
                    let text = self.advance(1);
                    return Ok(self.mk(Tok::Slash, text, line, col));
                }
                b'[' => {
                    let text = self.advance(1);
                    return Ok(self.mk(Tok::Blcl, text, line, col));
                }
                b']' => {
                    let text = self.advance(1);
                    return Ok(self.mk(Tok::Elcl, text, line, col));
                }
                b'"' => {
                    let Some(end) = rest[1..].iter().position(|&b| b == b'"') else {
                        // An unterminated quote: flex falls back to `.` on `"`.
                        let text = self.advance(1);
                        return Err(LexError { line, col, text });
                    };
                    if end > MAX_TOKEN {
                        return Err(LexError {
                            line,
                            col,
                            text: "string too long".into(),
                        });
                    }
                    let content = rest[1..1 + end].to_vec();
                    let text = self.advance(end + 2);
                    return Ok(self.mk(Tok::QuotedString(content), text, line, col));
                }
                b'-' => {
                    let flags = 1 + rest[1..]
                        .iter()
                        .take_while(|&&b| matches!(b, b'n' | b'4' | b'6'))
                        .count();
                    let mut best: Option<(usize, Tok)> = None;
                    for (k, t) in HYPHEN_OPTS {
                        if rest.starts_with(k.as_bytes()) {
                            best = Some((k.len(), t.clone()));
                            break;
                        }
                    }
                    if flags > 1 && !matches!(best, Some((l, _)) if flags <= l) {
                        let text = self.advance(flags);
                        return Ok(self.mk(Tok::FAiFlags(text.clone()), text, line, col));
                    }
                    if let Some((l, t)) = best {
                        match t {
                            Tok::FPolicy => self.state = State::Policy,
                            Tok::FAuth => self.state = State::AuthAlg,
                            Tok::FEnc => self.state = State::EncAlg,
                            _ => {}
                        }
                        let text = self.advance(l);
                        return Ok(self.mk(t, text, line, col));
                    }
                    let text = self.advance(1);
                    return Err(LexError { line, col, text });
                }
                _ => {}
            }
            // Words and numbers: longest match, ties to the earliest rule
            // (decstring, hexstring, keyword... before the generic STRING rules).
            let s1 = run(rest, is_s1_first, is_s1_rest);
            let s2 = run(
                rest,
                |c| c.is_ascii_digit() || c == b',',
                |c| c.is_ascii_digit() || c == b',',
            );
            let dec = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let hex = if rest.len() > 2
                && rest[0] == b'0'
                && (rest[1] == b'x' || rest[1] == b'X')
                && rest[2].is_ascii_hexdigit()
            {
                2 + rest[2..]
                    .iter()
                    .take_while(|b| b.is_ascii_hexdigit())
                    .count()
            } else {
                0
            };
            let max = s1.max(s2).max(dec).max(hex);
            if max == 0 {
                let text = self.advance(1);
                return Err(LexError { line, col, text });
            }
            if max > MAX_TOKEN {
                return Err(LexError {
                    line,
                    col,
                    text: "token too long".into(),
                });
            }
            if s1 == max {
                let word = std::str::from_utf8(&rest[..s1]).unwrap_or("");
                if let Some(t) = keyword_in_state(word, self.state) {
                    match t {
                        Tok::AlgAuth(_)
                        | Tok::AlgAuthNoKey(_)
                        | Tok::AlgEnc(_)
                        | Tok::AlgEncNoKey(_)
                        | Tok::AlgEncOld(_)
                        | Tok::AlgEncDesDeriv(_)
                        | Tok::AlgEncDes32Iv(_) => self.state = State::Initial,
                        _ => {}
                    }
                    let text = self.advance(s1);
                    return Ok(self.mk(t, text, line, col));
                }
            }
            if dec == max {
                let text = self.advance(dec);
                // strtoul: saturate on overflow.
                let v = text.parse::<u64>().unwrap_or(u64::MAX);
                return Ok(self.mk(Tok::DecString(v), text, line, col));
            }
            if hex == max {
                let text = self.advance(hex);
                return Ok(self.mk(Tok::HexString(text[2..].to_string()), text, line, col));
            }
            let n = if s1 == max { s1 } else { s2 };
            let text = self.advance(n);
            return Ok(self.mk(Tok::String(text.clone()), text, line, col));
        }
    }

    fn mk(&self, tok: Tok, text: String, line: u32, col: u32) -> Token {
        Token {
            tok,
            text,
            line,
            col,
            end_line: self.line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        let mut l = Lexer::new(s.as_bytes());
        let mut v = Vec::new();
        loop {
            let t = l.next_token().expect("lex");
            if t.tok == Tok::Eof {
                return v;
            }
            v.push(t.tok);
        }
    }

    #[test]
    fn keywords_and_words() {
        assert_eq!(
            toks("add addx esp-udp esp-udpx 10 10.0.0.1 0x1f 8,0 any anyx"),
            vec![
                Tok::Add,
                Tok::String("addx".into()),
                Tok::PrEspUdp,
                Tok::String("esp-udpx".into()),
                Tok::DecString(10),
                Tok::String("10.0.0.1".into()),
                Tok::HexString("1f".into()),
                Tok::String("8,0".into()),
                Tok::Any,
                Tok::String("anyx".into()),
            ]
        );
    }

    #[test]
    fn alg_states() {
        assert_eq!(
            toks("-E 3des-cbc \"k\" -A hmac-md5 0x00 hmac-md5"),
            vec![
                Tok::FEnc,
                Tok::AlgEnc(3),
                Tok::QuotedString(b"k".to_vec()),
                Tok::FAuth,
                Tok::AlgAuth(2),
                Tok::HexString("00".into()),
                Tok::String("hmac-md5".into()),
            ]
        );
    }

    #[test]
    fn policy_state() {
        let v = toks("-P out ipsec\n esp/transport//require ;x");
        assert_eq!(v[0], Tok::FPolicy);
        assert_eq!(
            v[1],
            Tok::PlRequests(" out ipsec\n esp/transport//require ".into())
        );
        assert_eq!(v[2], Tok::Eot);
        assert_eq!(v[3], Tok::String("x".into()));
    }

    #[test]
    fn flags_and_errors() {
        assert_eq!(
            toks("-4n -6 -m -lh -ctx"),
            vec![
                Tok::FAiFlags("-4n".into()),
                Tok::FAiFlags("-6".into()),
                Tok::FMode,
                Tok::FLifetimeHard,
                Tok::SecurityCtx
            ]
        );
        let mut l = Lexer::new(b"add\n  @");
        l.next_token().unwrap();
        let e = l.next_token().unwrap_err();
        assert_eq!((e.line, e.col, e.text.as_str()), (2, 3, "@"));
    }
}
