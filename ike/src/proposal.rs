//! Phase-1 and phase-2 proposals: building ours from the configuration, choosing one of the
//! peer's under racoon's `proposal_check` levels, and checking the peer's choice of ours.

use conf::{ProposalCheck, Remote, SaInfo};
use isakmp::{
    Attribute, AuthAlgorithm, EncapsulationMode, GroupDescription, HashAlgorithm, IkeAttrs,
    IpsecAttrs, LifeType, Lifetime, Proposal, ProtocolId, Sa, Transform, KEY_IKE,
};

use crate::crypto::{CipherAlg, DhGroup, HashAlg};
use crate::error::{Error, Result};

/// The phase-1 lifetime when the peer proposes none (RFC 2409 §4.5).
pub const DEFAULT_PH1_LIFETIME: u64 = 28800;

/// Negotiated phase-1 parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ph1Params {
    /// Cipher with key length.
    pub cipher: CipherAlg,
    /// Encryption attribute value.
    pub enc_id: u16,
    /// Key length attribute, as sent.
    pub key_bits: Option<u16>,
    /// Hash / PRF.
    pub hash: HashAlg,
    /// Hash attribute value.
    pub hash_id: u16,
    /// Authentication method.
    pub auth: u16,
    /// DH group.
    pub group: DhGroup,
    /// Lifetime in seconds.
    pub lifetime: u64,
}

impl Ph1Params {
    fn from_attrs(a: &IkeAttrs) -> Result<Ph1Params> {
        let enc = a.encryption.ok_or(Error::BadProposalSyntax)?.0;
        let hash_id = a.hash.ok_or(Error::BadProposalSyntax)?.0;
        let auth = a.auth_method.ok_or(Error::BadProposalSyntax)?.0;
        let g = a.group.ok_or(Error::BadProposalSyntax)?.0;
        if a.group_type.is_some_and(|t| t != 1) || a.prf.is_some() {
            return Err(Error::NoProposalChosen);
        }
        let cipher = CipherAlg::from_ike(enc, a.key_length).ok_or(Error::NoProposalChosen)?;
        let hash = HashAlg::from_ike(hash_id).ok_or(Error::NoProposalChosen)?;
        let group = DhGroup::from_id(g).ok_or(Error::NoProposalChosen)?;
        let mut lifetime = DEFAULT_PH1_LIFETIME;
        for l in &a.lifetimes {
            if l.kind == LifeType::SECONDS {
                lifetime = l.value.clamp(1, u64::from(u32::MAX));
            }
        }
        Ok(Ph1Params {
            cipher,
            enc_id: enc,
            key_bits: a.key_length,
            hash,
            hash_id,
            auth,
            group,
            lifetime,
        })
    }

    fn to_attrs(&self) -> IkeAttrs {
        IkeAttrs {
            encryption: Some(isakmp::EncryptionAlgorithm(self.enc_id)),
            hash: Some(HashAlgorithm(self.hash_id)),
            auth_method: Some(isakmp::AuthMethod(self.auth)),
            group: Some(GroupDescription(self.group.id())),
            key_length: self.key_bits,
            lifetimes: vec![Lifetime {
                kind: LifeType::SECONDS,
                value: self.lifetime,
            }],
            ..IkeAttrs::default()
        }
    }
}

/// Our phase-1 candidates from a remote block (unsupported ones skipped).
pub fn ph1_candidates(remote: &Remote) -> Vec<Ph1Params> {
    remote
        .proposals
        .iter()
        .filter_map(|p| {
            let a = IkeAttrs {
                encryption: Some(isakmp::EncryptionAlgorithm(p.encryption.alg.number())),
                hash: Some(HashAlgorithm(p.hash.number())),
                auth_method: Some(isakmp::AuthMethod(p.auth_method.number())),
                group: Some(GroupDescription(p.dh_group.number())),
                key_length: p.encryption.key_len.filter(|_| {
                    !matches!(
                        p.encryption.alg,
                        conf::algs::IkeEnc::Des | conf::algs::IkeEnc::TripleDes
                    )
                }),
                lifetimes: vec![Lifetime {
                    kind: LifeType::SECONDS,
                    value: p.lifetime.unwrap_or(remote.lifetime),
                }],
                ..IkeAttrs::default()
            };
            Ph1Params::from_attrs(&a).ok()
        })
        .collect()
}

/// The SA payload an initiator sends: one ISAKMP proposal, one transform per candidate.
pub fn ph1_sa(cands: &[Ph1Params]) -> Sa {
    let transforms = cands
        .iter()
        .enumerate()
        .map(|(i, c)| Transform {
            number: (i + 1).min(255) as u8,
            id: KEY_IKE,
            attributes: c.to_attrs().to_attributes(),
        })
        .collect();
    Sa::new(vec![Proposal {
        number: 1,
        protocol: ProtocolId::ISAKMP,
        spi: Vec::new(),
        transforms,
    }])
}

fn check_lifetime(level: ProposalCheck, peer: u64, mine: u64) -> Option<u64> {
    match level {
        ProposalCheck::Obey => Some(peer),
        ProposalCheck::Strict => (peer <= mine).then_some(peer),
        ProposalCheck::Claim => Some(peer.min(mine)),
        ProposalCheck::Exact => (peer == mine).then_some(peer),
    }
}

fn check_keylen(level: ProposalCheck, peer: Option<u16>, mine: Option<u16>) -> bool {
    match level {
        ProposalCheck::Obey => true,
        ProposalCheck::Strict | ProposalCheck::Claim => peer.unwrap_or(0) >= mine.unwrap_or(0),
        ProposalCheck::Exact => peer == mine,
    }
}

/// Responder: picks the first of the peer's transforms acceptable against our candidates
/// (racoon's checkisakmpsa). Returns the parameters and the SA payload to answer with.
pub fn ph1_select(peer: &Sa, cands: &[Ph1Params], level: ProposalCheck) -> Result<(Ph1Params, Sa)> {
    if peer.doi != isakmp::Doi::IPSEC || peer.situation != isakmp::SIT_IDENTITY_ONLY {
        return Err(Error::BadProposalSyntax);
    }
    let prop = match peer.proposals.as_slice() {
        [p] if p.protocol == ProtocolId::ISAKMP => p,
        _ => return Err(Error::BadProposalSyntax),
    };
    for t in &prop.transforms {
        if t.id != KEY_IKE {
            continue;
        }
        let Ok(attrs) = IkeAttrs::parse(&t.attributes) else {
            continue;
        };
        let Ok(p) = Ph1Params::from_attrs(&attrs) else {
            continue;
        };
        for c in cands {
            let same = p.enc_id == c.enc_id
                && p.hash_id == c.hash_id
                && p.auth == c.auth
                && p.group == c.group
                && (matches!(p.cipher, CipherAlg::Des | CipherAlg::TripleDes)
                    || check_keylen(
                        level,
                        Some(p.cipher.key_len() as u16 * 8),
                        Some(c.cipher.key_len() as u16 * 8),
                    ));
            if !same {
                continue;
            }
            let Some(lifetime) = check_lifetime(level, p.lifetime, c.lifetime) else {
                continue;
            };
            let mut chosen = p.clone();
            chosen.lifetime = lifetime;
            // Answer with the transform exactly as proposed (RFC 2409: the responder returns
            // the accepted transform unchanged).
            let sa = Sa::new(vec![Proposal {
                number: prop.number,
                protocol: ProtocolId::ISAKMP,
                spi: prop.spi.clone(),
                transforms: vec![t.clone()],
            }]);
            return Ok((chosen, sa));
        }
    }
    Err(Error::NoProposalChosen)
}

/// Initiator: the responder's answer must be exactly one of our transforms.
pub fn ph1_accept(reply: &Sa, cands: &[Ph1Params]) -> Result<Ph1Params> {
    let t = match reply.proposals.as_slice() {
        [p] if p.protocol == ProtocolId::ISAKMP && p.transforms.len() == 1 => &p.transforms[0],
        _ => return Err(Error::BadProposalSyntax),
    };
    let attrs = IkeAttrs::parse(&t.attributes).map_err(|_| Error::BadProposalSyntax)?;
    let p = Ph1Params::from_attrs(&attrs)?;
    cands
        .iter()
        .find(|c| {
            c.enc_id == p.enc_id
                && c.cipher == p.cipher
                && c.hash_id == p.hash_id
                && c.auth == p.auth
                && c.group == p.group
                && p.lifetime <= c.lifetime
        })
        .map(|_| p)
        .ok_or(Error::NoProposalChosen)
}

// ------------------------------------------------------------------ phase 2

/// One protocol of a chosen phase-2 proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ph2Proto {
    /// AH, ESP or IPCOMP.
    pub proto: ProtocolId,
    /// Transform id.
    pub transform_id: u8,
    /// Encapsulation mode attribute.
    pub encap: EncapsulationMode,
    /// Authentication attribute (ESP/AH).
    pub auth: Option<AuthAlgorithm>,
    /// Key length attribute (bits).
    pub key_len: Option<u16>,
    /// Lifetime in seconds.
    pub lifetime: u64,
    /// PFS group.
    pub group: Option<u16>,
    /// The SPI the peer chose (its inbound SA), filled from its proposal.
    pub peer_spi: Vec<u8>,
}

impl Ph2Proto {
    fn attrs(&self) -> IpsecAttrs {
        IpsecAttrs {
            lifetimes: vec![Lifetime {
                kind: LifeType::SECONDS,
                value: self.lifetime,
            }],
            group: self.group.map(GroupDescription),
            encapsulation: Some(self.encap),
            auth: self.auth,
            key_length: self.key_len,
            ..IpsecAttrs::default()
        }
    }

    /// The transform as sent.
    pub fn transform(&self, number: u8) -> Transform {
        Transform {
            number,
            id: self.transform_id,
            attributes: self.attrs().to_attributes(),
        }
    }
}

/// What one policy request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ph2Want {
    /// Protocol.
    pub proto: ProtocolId,
    /// Encapsulation mode to propose (tunnel/transport, UDP variants under NAT).
    pub encap: EncapsulationMode,
}

fn auth_attr(a: conf::algs::AuthAlg) -> Option<AuthAlgorithm> {
    (a != conf::algs::AuthAlg::NonAuth).then(|| AuthAlgorithm(a.number()))
}

/// Every transform a sainfo offers for `want` (ESP: encryption × authentication).
pub fn ph2_offers(si: &SaInfo, want: Ph2Want) -> Vec<Ph2Proto> {
    let group = si.pfs_group.map(|g| g.number());
    let base = |transform_id: u8, auth, key_len| Ph2Proto {
        proto: want.proto,
        transform_id,
        encap: want.encap,
        auth,
        key_len,
        lifetime: si.lifetime,
        group,
        peer_spi: Vec::new(),
    };
    let mut v = Vec::new();
    match want.proto {
        ProtocolId::IPSEC_ESP => {
            for e in &si.encryption {
                for a in &si.authentication {
                    // combined mode (aes_gcm_16): only without an authentication attribute
                    if e.alg.is_aead() && *a != conf::algs::AuthAlg::NonAuth {
                        continue;
                    }
                    let kl = e.key_len.or(e.alg.keylen_rule().default_len());
                    let kl = if e.alg.keylen_rule() == conf::algs::KeyLenRule::Fixed {
                        None
                    } else {
                        kl
                    };
                    v.push(base(e.alg.number() as u8, auth_attr(*a), kl));
                }
            }
        }
        ProtocolId::IPSEC_AH => {
            for a in &si.authentication {
                if let Some(t) = a.ah_transform() {
                    v.push(base(t, auth_attr(*a), None));
                }
            }
        }
        ProtocolId::IPCOMP => {
            for c in &si.compression {
                v.push(base(c.number() as u8, None, None));
            }
        }
        _ => {}
    }
    v
}

/// The SA payload of Quick Mode message 1: one proposal number, one proposal per protocol
/// (a bundle), each listing every transform; `spis[i]` is our SPI for `wants[i]`.
pub fn ph2_sa(si: &SaInfo, wants: &[Ph2Want], spis: &[Vec<u8>]) -> Sa {
    let proposals = wants
        .iter()
        .zip(spis)
        .map(|(w, spi)| Proposal {
            number: 1,
            protocol: w.proto,
            spi: spi.clone(),
            transforms: ph2_offers(si, *w)
                .iter()
                .enumerate()
                .map(|(i, o)| o.transform((i + 1).min(255) as u8))
                .collect(),
        })
        .collect();
    Sa::new(proposals)
}

fn parse_ph2(p: &Proposal, t: &Transform) -> Option<Ph2Proto> {
    let a = IpsecAttrs::parse(&t.attributes).ok()?;
    let mut lifetime = DEFAULT_PH1_LIFETIME;
    for l in &a.lifetimes {
        if l.kind == LifeType::SECONDS {
            lifetime = l.value.clamp(1, u64::from(u32::MAX));
        }
    }
    Some(Ph2Proto {
        proto: p.protocol,
        transform_id: t.id,
        encap: a.encapsulation?,
        auth: a.auth,
        key_len: a.key_length,
        lifetime,
        group: a.group.map(|g| g.0),
        peer_spi: p.spi.clone(),
    })
}

fn spi_ok(p: &Proposal) -> bool {
    match p.protocol {
        ProtocolId::IPCOMP => p.spi.len() == 2 || p.spi.len() == 4,
        _ => p.spi.len() == 4,
    }
}

/// Responder: the first proposal number all of whose protocols have an acceptable transform
/// (racoon's cmpsaprop under `level`). Returns the choices in the peer's order and the
/// answer SA (our SPIs filled in later). `lifetime_claim` is set when we shortened the
/// lifetime (claim: send RESPONDER-LIFETIME).
pub fn ph2_select(
    peer: &Sa,
    si: &SaInfo,
    level: ProposalCheck,
    natt: bool,
) -> Result<(Vec<Ph2Proto>, bool)> {
    if peer.doi != isakmp::Doi::IPSEC {
        return Err(Error::BadProposalSyntax);
    }
    let mut numbers: Vec<u8> = peer.proposals.iter().map(|p| p.number).collect();
    numbers.dedup();
    for n in numbers {
        let group: Vec<&Proposal> = peer.proposals.iter().filter(|p| p.number == n).collect();
        let mut chosen = Vec::new();
        let mut claimed = false;
        for p in &group {
            if !spi_ok(p) {
                return Err(Error::BadProposalSyntax);
            }
            let pick = p.transforms.iter().find_map(|t| {
                let mut x = parse_ph2(p, t)?;
                // the six known modes; UDP ones only where NAT-T found a NAT
                if !matches!(x.encap.0, 1 | 2 | 3 | 4 | 61443 | 61444)
                    || (x.encap.is_udp() && !natt)
                {
                    return None;
                }
                let want = Ph2Want {
                    proto: p.protocol,
                    encap: x.encap,
                };
                let ok = ph2_offers(si, want).into_iter().find(|o| {
                    o.transform_id == x.transform_id
                        && o.auth == x.auth
                        && (o.key_len.is_none() && x.key_len.is_none()
                            || check_keylen(level, x.key_len, o.key_len))
                        && match level {
                            ProposalCheck::Obey => true,
                            ProposalCheck::Exact => o.group == x.group,
                            _ => o.group.is_none() || o.group == x.group,
                        }
                })?;
                let lt = check_lifetime(level, x.lifetime, ok.lifetime)?;
                if lt < x.lifetime {
                    claimed = true;
                }
                x.lifetime = lt;
                if x.key_len.is_none() && ok.key_len.is_some() && level != ProposalCheck::Exact {
                    // peer relies on the default key length
                }
                Some(x)
            });
            match pick {
                Some(x) => chosen.push(x),
                None => break,
            }
        }
        if chosen.len() == group.len() && !chosen.is_empty() {
            let g = chosen[0].group;
            if chosen.iter().any(|c| c.group != g) {
                continue;
            }
            return Ok((chosen, claimed));
        }
    }
    Err(Error::NoProposalChosen)
}

/// The responder's SA payload: the chosen transform per protocol with our SPIs.
pub fn ph2_answer(chosen: &[Ph2Proto], spis: &[Vec<u8>], number: u8) -> Sa {
    Sa::new(
        chosen
            .iter()
            .zip(spis)
            .map(|(c, spi)| Proposal {
                number,
                protocol: c.proto,
                spi: spi.clone(),
                transforms: vec![c.transform(1)],
            })
            .collect(),
    )
}

/// Initiator: the responder's answer must pick one of our transforms per protocol of the
/// bundle, in our order.
pub fn ph2_accept(reply: &Sa, si: &SaInfo, wants: &[Ph2Want]) -> Result<Vec<Ph2Proto>> {
    if reply.proposals.len() != wants.len() {
        return Err(Error::NoProposalChosen);
    }
    let mut v = Vec::new();
    for (p, w) in reply.proposals.iter().zip(wants) {
        if p.protocol != w.proto || p.transforms.len() != 1 || !spi_ok(p) {
            return Err(Error::BadProposalSyntax);
        }
        let x = parse_ph2(p, &p.transforms[0]).ok_or(Error::BadProposalSyntax)?;
        let ok = ph2_offers(si, *w).into_iter().any(|o| {
            o.transform_id == x.transform_id
                && o.auth == x.auth
                && o.key_len == x.key_len
                && o.group == x.group
                && o.encap == x.encap
                && x.lifetime <= o.lifetime
        });
        if !ok {
            return Err(Error::NoProposalChosen);
        }
        v.push(x);
    }
    Ok(v)
}

/// A basic attribute helper for tests and callers.
pub fn basic(kind: u16, v: u16) -> Attribute {
    Attribute::basic(kind, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(lifetime: u64, bits: u16) -> Ph1Params {
        Ph1Params {
            cipher: CipherAlg::Aes { bits },
            enc_id: 7,
            key_bits: Some(bits),
            hash: HashAlg::Sha1,
            hash_id: 2,
            auth: 1,
            group: DhGroup::Modp1024,
            lifetime,
        }
    }

    fn offer(lifetime: u64, bits: u16) -> Sa {
        let mut sa = ph1_sa(&[cand(lifetime, bits)]);
        sa.raw = sa.body_bytes().unwrap();
        sa
    }

    #[test]
    fn proposal_check_levels_phase1() {
        let mine = [cand(28800, 128)];
        use ProposalCheck::*;
        // obey takes the peer's lifetime whatever it is
        assert_eq!(
            ph1_select(&offer(99999, 128), &mine, Obey)
                .unwrap()
                .0
                .lifetime,
            99999
        );
        // strict: longer rejected, shorter taken
        assert_eq!(
            ph1_select(&offer(99999, 128), &mine, Strict),
            Err(Error::NoProposalChosen)
        );
        assert_eq!(
            ph1_select(&offer(3600, 128), &mine, Strict)
                .unwrap()
                .0
                .lifetime,
            3600
        );
        // claim: the minimum
        assert_eq!(
            ph1_select(&offer(99999, 128), &mine, Claim)
                .unwrap()
                .0
                .lifetime,
            28800
        );
        // exact: equal only
        assert!(ph1_select(&offer(3600, 128), &mine, Exact).is_err());
        assert!(ph1_select(&offer(28800, 128), &mine, Exact).is_ok());
        // key length: strict rejects a shorter key than ours
        let mine256 = [cand(28800, 256)];
        assert!(ph1_select(&offer(28800, 128), &mine256, Strict).is_err());
        // ... and takes a longer one (racoon: reject only if the peer's is shorter)
        assert!(ph1_select(&offer(28800, 256), &[cand(28800, 128)], Strict).is_ok());
        assert!(ph1_select(&offer(28800, 256), &[cand(28800, 128)], Exact).is_err());
    }

    #[test]
    fn aes_gcm_16_is_offered_without_authentication() {
        let c = conf::parse(
            "sainfo anonymous { encryption_algorithm aes_gcm_16 256, aes; \
             authentication_algorithm hmac_sha1, non_auth; compression_algorithm deflate; \
             pfs_group ecp256; }",
            "t",
        )
        .unwrap()
        .config;
        let want = Ph2Want {
            proto: ProtocolId::IPSEC_ESP,
            encap: EncapsulationMode(1),
        };
        let v: Vec<_> = ph2_offers(&c.sainfos[0], want)
            .into_iter()
            .map(|o| (o.transform_id, o.auth.map(|a| a.0), o.key_len, o.group))
            .collect();
        assert_eq!(
            v,
            vec![
                (20, None, Some(256), Some(19)),
                (12, Some(2), Some(128), Some(19)),
                (12, None, Some(128), Some(19)),
            ]
        );
    }

    #[test]
    fn initiator_accepts_only_its_own_transforms() {
        let mine = [cand(28800, 128)];
        let reply = offer(28800, 128);
        assert!(ph1_accept(&reply, &mine).is_ok());
        assert_eq!(
            ph1_accept(&offer(28800, 256), &mine),
            Err(Error::NoProposalChosen)
        );
        assert_eq!(
            ph1_accept(&offer(99999, 128), &mine),
            Err(Error::NoProposalChosen)
        );
        let mut two = offer(28800, 128);
        let t = two.proposals[0].transforms[0].clone();
        two.proposals[0].transforms.push(t);
        assert_eq!(ph1_accept(&two, &mine), Err(Error::BadProposalSyntax));
    }
}
