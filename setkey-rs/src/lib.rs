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
