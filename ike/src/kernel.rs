//! Phase-2 results as PF_KEY messages: algorithm numbers, KEYMAT lengths, and the exact
//! GETSPI / UPDATE / ADD / X_SPDUPDATE contents racoon sends.

use std::net::{IpAddr, SocketAddr};

use isakmp::{AuthAlgorithm, ProtocolId};
use pfkey::{
    Address, AuthAlg, EncAlg, Extension, Key, Lifetime, Message, Mode, MsgType, NatTType, Sa, Sa2,
    SaFlags, SaState, SaType, SpiRange,
};

use crate::error::{Error, Result};
use crate::proposal::Ph2Proto;

/// Kernel algorithms and key sizes for one negotiated protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaAlgs {
    /// SA type.
    pub satype: SaType,
    /// Authentication algorithm.
    pub auth: AuthAlg,
    /// Encryption (or compression) algorithm.
    pub enc: EncAlg,
    /// Encryption key bytes (incl. salt/nonce for GCM/CTR).
    pub enc_key: usize,
    /// Authentication key bytes.
    pub auth_key: usize,
}

fn auth_of(a: Option<AuthAlgorithm>) -> Result<(AuthAlg, usize)> {
    Ok(match a.map(|a| a.0) {
        None => (AuthAlg::NONE, 0),
        Some(1) => (AuthAlg::HMAC_MD5, 16),
        Some(2) => (AuthAlg::HMAC_SHA1, 20),
        Some(5) => (AuthAlg::HMAC_SHA256, 32),
        Some(6) => (AuthAlg::HMAC_SHA384, 48),
        Some(7) => (AuthAlg::HMAC_SHA512, 64),
        Some(_) => return Err(Error::NoProposalChosen),
    })
}

/// Maps a negotiated protocol to kernel numbers and key lengths.
pub fn sa_algs(p: &Ph2Proto) -> Result<SaAlgs> {
    let bits = |d: u16| usize::from(p.key_len.unwrap_or(d)) / 8;
    match p.proto {
        ProtocolId::IPSEC_ESP => {
            let (auth, auth_key) = auth_of(p.auth)?;
            let (enc, enc_key) = match p.transform_id {
                2 => (EncAlg::DES_CBC, 8),
                3 => (EncAlg::DES3_CBC, 24),
                6 => (EncAlg::CAST128_CBC, bits(128)),
                7 => (EncAlg::BLOWFISH_CBC, bits(128)),
                11 => (EncAlg::NULL, 0),
                12 => (EncAlg::AES_CBC, bits(128)),
                13 => (EncAlg::AES_CTR, bits(128) + 4),
                18 => (EncAlg::AES_GCM_8, bits(128) + 4),
                19 => (EncAlg::AES_GCM_12, bits(128) + 4),
                20 => (EncAlg::AES_GCM_16, bits(128) + 4),
                22 => (EncAlg::CAMELLIA_CBC, bits(128)),
                253 => (EncAlg::TWOFISH_CBC, bits(128)),
                _ => return Err(Error::NoProposalChosen),
            };
            Ok(SaAlgs {
                satype: SaType::ESP,
                auth,
                enc,
                enc_key,
                auth_key,
            })
        }
        ProtocolId::IPSEC_AH => {
            let (auth, auth_key) = match p.transform_id {
                2 => (AuthAlg::HMAC_MD5, 16),
                3 => (AuthAlg::HMAC_SHA1, 20),
                5 => (AuthAlg::HMAC_SHA256, 32),
                6 => (AuthAlg::HMAC_SHA384, 48),
                7 => (AuthAlg::HMAC_SHA512, 64),
                _ => return Err(Error::NoProposalChosen),
            };
            Ok(SaAlgs {
                satype: SaType::AH,
                auth,
                enc: EncAlg::NONE,
                enc_key: 0,
                auth_key,
            })
        }
        ProtocolId::IPCOMP => Ok(SaAlgs {
            satype: SaType::IPCOMP,
            auth: AuthAlg::NONE,
            enc: EncAlg(p.transform_id),
            enc_key: 0,
            auth_key: 0,
        }),
        _ => Err(Error::NoProposalChosen),
    }
}

/// The IPsec protocol number of an ISAKMP protocol id (for KEYMAT and SA types).
pub fn satype_of(p: ProtocolId) -> SaType {
    match p {
        ProtocolId::IPSEC_AH => SaType::AH,
        ProtocolId::IPCOMP => SaType::IPCOMP,
        _ => SaType::ESP,
    }
}

/// UDP encapsulation data for SAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NattSa {
    /// Encapsulation type (2 = ESP-in-UDP).
    pub kind: NatTType,
    /// Source port of the SA's packets.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

fn host(ip: IpAddr) -> Address {
    Address::host(SocketAddr::new(ip, 0))
}

fn push_natt(m: &mut Message, n: Option<NattSa>) {
    if let Some(n) = n {
        m.push(Extension::NatTType(n.kind));
        m.push(Extension::NatTSport(n.sport));
        m.push(Extension::NatTDport(n.dport));
    }
}

#[allow(clippy::too_many_arguments)]
/// GETSPI for an inbound SA `src -> dst` (no SPIRANGE except IPComp's 0x100-0xffff).
pub fn getspi(
    satype: SaType,
    src: IpAddr,
    dst: IpAddr,
    mode: Mode,
    reqid: u32,
    seq: u32,
    pid: u32,
    natt: Option<NattSa>,
) -> Message {
    let mut m = Message::new(MsgType::GETSPI, satype)
        .with_seq(seq)
        .with_pid(pid);
    m.push(Extension::Sa2(Sa2 {
        mode,
        sequence: 0,
        reqid,
    }));
    m.push(Extension::AddressSrc(host(src)));
    m.push(Extension::AddressDst(host(dst)));
    if satype == SaType::IPCOMP {
        m.push(Extension::SpiRange(SpiRange {
            min: 0x100,
            max: 0xffff,
        }));
    }
    push_natt(&mut m, natt);
    m
}

/// Everything an UPDATE or ADD carries.
pub struct Install<'a> {
    /// UPDATE (inbound, larval SA from GETSPI) or ADD (outbound).
    pub msg_type: MsgType,
    /// Algorithms.
    pub algs: SaAlgs,
    /// SPI (host order value).
    pub spi: u32,
    /// SA source.
    pub src: IpAddr,
    /// SA destination.
    pub dst: IpAddr,
    /// Mode.
    pub mode: Mode,
    /// Request id.
    pub reqid: u32,
    /// KEYMAT (encryption key first, then authentication key).
    pub keymat: &'a [u8],
    /// Lifetime in seconds (hard; soft is 80 %).
    pub lifetime: u64,
    /// PF_KEY sequence number.
    pub seq: u32,
    /// Our pid.
    pub pid: u32,
    /// UDP encapsulation.
    pub natt: Option<NattSa>,
}

/// Builds the UPDATE/ADD message.
pub fn install(i: &Install<'_>) -> Result<Message> {
    let a = i.algs;
    let mut m = Message::new(i.msg_type, a.satype)
        .with_seq(i.seq)
        .with_pid(i.pid);
    m.push(Extension::Sa(Sa {
        spi: i.spi,
        replay: if a.satype == SaType::IPCOMP { 0 } else { 4 },
        state: SaState::MATURE,
        auth: a.auth,
        encrypt: a.enc,
        flags: if a.satype == SaType::IPCOMP {
            SaFlags::RAWCPI
        } else {
            SaFlags::NONE
        },
    }));
    m.push(Extension::Sa2(Sa2 {
        mode: i.mode,
        sequence: 0,
        reqid: i.reqid,
    }));
    m.push(Extension::LifetimeHard(Lifetime {
        addtime: i.lifetime,
        ..Lifetime::default()
    }));
    m.push(Extension::LifetimeSoft(Lifetime {
        addtime: i.lifetime * 8 / 10,
        ..Lifetime::default()
    }));
    m.push(Extension::AddressSrc(host(i.src)));
    m.push(Extension::AddressDst(host(i.dst)));
    if i.keymat.len() < a.enc_key + a.auth_key {
        return Err(Error::Kernel("short KEYMAT".into()));
    }
    if a.enc_key > 0 {
        let k = Key::new(&i.keymat[..a.enc_key]).ok_or(Error::Kernel("key".into()))?;
        m.push(Extension::KeyEncrypt(k));
    }
    if a.auth_key > 0 {
        let k = Key::new(&i.keymat[a.enc_key..a.enc_key + a.auth_key])
            .ok_or(Error::Kernel("key".into()))?;
        m.push(Extension::KeyAuth(k));
    }
    push_natt(&mut m, i.natt);
    Ok(m)
}

/// DELETE of one SA.
pub fn delete(satype: SaType, spi: u32, src: IpAddr, dst: IpAddr, pid: u32) -> Message {
    Message::new(MsgType::DELETE, satype)
        .with_pid(pid)
        .with(Extension::Sa(Sa {
            spi,
            ..Sa::default()
        }))
        .with(Extension::AddressSrc(host(src)))
        .with(Extension::AddressDst(host(dst)))
}
