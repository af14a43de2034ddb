//! The typed commands a setkey script is made of (addresses already resolved).

use crate::policy::Policy;
use std::fmt;
use std::net::SocketAddr;
use zeroize::Zeroizing;

/// Key material; zeroized on drop, redacted in Debug.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(pub Zeroizing<Vec<u8>>);

impl Key {
    pub fn new(v: Vec<u8>) -> Self {
        Key(Zeroizing::new(v))
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(<{} bytes redacted>)", self.0.len())
    }
}

/// `-lh/-bh` or `-ls/-bs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetime {
    pub addtime: u64,
    pub bytes: u64,
}

/// `-ctx DOI ALG "label"` (label without the NUL setkey appends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecCtx {
    pub doi: u8,
    pub alg: u8,
    pub label: Vec<u8>,
}

/// `esp-udp [OA]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Natt {
    pub oa: Option<SocketAddr>,
}

/// Everything an SA command (add/update/get/delete/getspi) carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaSpec {
    pub satype: u8,
    pub src: Vec<SocketAddr>,
    pub dst: Vec<SocketAddr>,
    pub spi: u32,
    /// `sadb_sa_flags` (p_ext): CYCSEQ by default.
    pub flags: u32,
    pub mode: u8,
    pub reqid: u32,
    pub replay: u8,
    pub ealg: u8,
    pub aalg: u8,
    /// Encryption key; `Some(empty)` for `-E null` (setkey sends a 0-bit key).
    pub ekey: Option<Key>,
    pub akey: Option<Key>,
    pub hard: Lifetime,
    pub soft: Lifetime,
    pub sec_ctx: Option<SecCtx>,
    pub natt: Option<Natt>,
    pub esp_frag: Option<u16>,
}

/// An SPD command's selector and policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpdSpec {
    pub src: SocketAddr,
    pub src_prefix: u8,
    pub dst: SocketAddr,
    pub dst_prefix: u8,
    pub upper: u8,
    pub policy: Policy,
    pub sec_ctx: Option<SecCtx>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Add(SaSpec),
    /// NetBSD `update` (SADB_UPDATE).
    Update(SaSpec),
    Get(SaSpec),
    Delete(SaSpec),
    /// NetBSD `getspi` (SADB_GETSPI with SPIRANGE = SPI).
    GetSpi(SaSpec),
    DeleteAll {
        satype: u8,
        src: Vec<SocketAddr>,
        dst: Vec<SocketAddr>,
    },
    Flush(u8),
    Dump(u8),
    SpdAdd(SpdSpec),
    SpdUpdate(SpdSpec),
    SpdDelete(SpdSpec),
    SpdTagged {
        update: bool,
        tag: String,
        policy: Policy,
    },
    SpdFlush,
    SpdDump,
    Exit,
}

/// A command with the line setkey reports for it (the line of its `;`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stmt {
    pub cmd: Command,
    pub line: u32,
    /// Non-fatal diagnostics printed before the command runs.
    pub warnings: Vec<String>,
}
