//! setkey-rs: the ipsec-tools setkey command language, PF_KEY client side
//! and output formats.
//!
//! Layers: [`lexer`] and [`parser`] turn a script into typed [`ast`] commands
//! (with [`policy`] for `-P` and [`resolve`] for addresses); the rest turns
//! commands into PF_KEY messages, talks to the engine and prints replies the
//! way ipsec-tools' setkey prints them.

pub mod algs;
pub mod ast;
pub mod build;
pub mod dump;
pub mod lexer;
pub mod parser;
pub mod policy;
pub mod resolve;
pub mod run;

/// Fuzz entry point (also replayed over the seed corpus by a unit test):
/// parse a script with a resolver that never touches the network and
/// Linux's algorithm table, build every command's messages, encode them and
/// print them back. Must never panic, loop or allocate without bound.
pub fn fuzz_script(data: &[u8]) {
    let r = resolve::StaticResolver::default();
    let sup = parser::Supported::linux_default();
    let mut p = parser::Parser::new(
        data,
        parser::ParseCtx {
            resolver: &r,
            supported: Some(&sup),
        },
    );
    let opts = build::BuildOpts {
        pid: 1,
        rfc_mode: true,
    };
    for _ in 0..100_000 {
        match p.next_stmt() {
            Ok(Some(stmt)) => {
                if let Ok(msgs) = build::build(&stmt.cmd, &opts) {
                    for m in msgs {
                        if let Ok(bytes) = m.encode() {
                            let mut s = String::new();
                            dump::kdebug(&mut s, &bytes);
                            let clock = dump::FixedClock(1);
                            dump::sadump(&mut s, &m, true, &clock);
                            dump::spdump(&mut s, &m, false, &clock);
                        }
                    }
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}
