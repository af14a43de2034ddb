//! Tokenizer for racoon.conf (see cftoken.l's rules as described in the reference).
//!
//! Unlike racoon's modal lexer this one produces generic tokens; the parser decides
//! which words are keywords in which block.

/// A token kind. Text is borrowed from the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok<'a> {
    /// Keyword, address, or any other bare word (letters, digits, `_ . : % -`).
    Word(&'a str),
    /// A run of decimal digits (value `None` if it does not fit in u64).
    Number(Option<u64>),
    /// `"…"` contents (no escapes; may span lines).
    Str(&'a str),
    /// `/N` prefix length (`None` if over three digits or too large).
    Prefix(Option<u32>),
    /// `[N]` (`None` when out of range).
    Port(Option<u32>),
    /// `[any]`
    PortAny,
    LBrace,
    RBrace,
    Semi,
    Comma,
    /// A string that never ends.
    UnterminatedStr,
    /// A character no rule accepts.
    Bad(char),
    Eof,
}

#[derive(Debug, Clone, Copy)]
pub struct Token<'a> {
    pub tok: Tok<'a>,
    pub start: usize,
    pub end: usize,
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':')
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'%' | b'-')
}

/// Split the whole source into tokens, ending with one `Eof`.
pub fn tokenize(src: &str) -> Vec<Token<'_>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\r' | b'\n' | b'\x0b' | b'\x0c' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'{' => {
                i += 1;
                Tok::LBrace
            }
            b'}' => {
                i += 1;
                Tok::RBrace
            }
            b';' => {
                i += 1;
                Tok::Semi
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'"' => match b[i + 1..].iter().position(|&x| x == b'"') {
                Some(n) => {
                    i += n + 2;
                    Tok::Str(&src[start + 1..i - 1])
                }
                None => {
                    i = b.len();
                    Tok::UnterminatedStr
                }
            },
            b'/' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i += 1;
                let ds = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let digits = &src[ds..i];
                Tok::Prefix(if digits.len() <= 3 {
                    digits.parse().ok()
                } else {
                    None
                })
            }
            b'[' => {
                let close = b[i + 1..].iter().take(12).position(|&x| x == b']');
                match close {
                    Some(n) => {
                        let inner = &src[i + 1..i + 1 + n];
                        if inner == "any" {
                            i += n + 2;
                            Tok::PortAny
                        } else if !inner.is_empty() && inner.bytes().all(|x| x.is_ascii_digit()) {
                            i += n + 2;
                            Tok::Port(inner.parse::<u32>().ok().filter(|&p| p <= 65535))
                        } else {
                            i += 1;
                            Tok::Bad('[')
                        }
                    }
                    None => {
                        i += 1;
                        Tok::Bad('[')
                    }
                }
            }
            b'-' if b
                .get(i + 1)
                .is_some_and(|&x| x.is_ascii_hexdigit() || x == b':') =>
            {
                i += 1;
                while i < b.len() && is_word_char(b[i]) {
                    i += 1;
                }
                Tok::Word(&src[start..i])
            }
            c if is_word_start(c) => {
                while i < b.len() && is_word_char(b[i]) {
                    i += 1;
                }
                let w = &src[start..i];
                if w.bytes().all(|x| x.is_ascii_digit()) {
                    Tok::Number(w.parse().ok())
                } else {
                    Tok::Word(w)
                }
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
                i += ch.len_utf8();
                Tok::Bad(ch)
            }
        };
        out.push(Token { tok, start, end: i });
    }
    out.push(Token {
        tok: Tok::Eof,
        start: b.len(),
        end: b.len(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok<'_>> {
        tokenize(s).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn basic_tokens() {
        assert_eq!(
            kinds("remote 10.0.0.1 [4500] { # c\n lifetime time 24 hour; }"),
            vec![
                Tok::Word("remote"),
                Tok::Word("10.0.0.1"),
                Tok::Port(Some(4500)),
                Tok::LBrace,
                Tok::Word("lifetime"),
                Tok::Word("time"),
                Tok::Number(Some(24)),
                Tok::Word("hour"),
                Tok::Semi,
                Tok::RBrace,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn prefixes_ranges_strings() {
        assert_eq!(
            kinds("10.0.0.0 /24 [any] 10.0.0.1-10.0.0.9 fe80::1%eth0 \"a\nb\" /1234 [70000]"),
            vec![
                Tok::Word("10.0.0.0"),
                Tok::Prefix(Some(24)),
                Tok::PortAny,
                Tok::Word("10.0.0.1-10.0.0.9"),
                Tok::Word("fe80::1%eth0"),
                Tok::Str("a\nb"),
                Tok::Prefix(None),
                Tok::Port(None),
                Tok::Eof
            ]
        );
        assert_eq!(kinds("\"open"), vec![Tok::UnterminatedStr, Tok::Eof]);
        assert_eq!(kinds("é"), vec![Tok::Bad('é'), Tok::Eof]);
        assert_eq!(
            kinds("99999999999999999999999"),
            vec![Tok::Number(None), Tok::Eof]
        );
    }
}
