//! The per-exchange message rule table: which payloads a message may carry, how many of
//! each, and whether it must be encrypted. Checked before any state handler runs.

use isakmp::{Payload, PayloadType};

use crate::error::{Error, Result};

/// Every message the core accepts, by exchange, direction and position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgKind {
    /// Main Mode 1/2: SA (+VID).
    MainSa,
    /// Main Mode 3/4: KE, NONCE (+NAT-D, VID, CR).
    MainKe,
    /// Main Mode 5/6: ID, HASH or SIG (+CERT, N, VID).
    MainAuth,
    /// Aggressive 1: SA, KE, NONCE, ID.
    AggrFirst,
    /// Aggressive 2: SA, KE, NONCE, ID, HASH or SIG.
    AggrSecond,
    /// Aggressive 3: HASH or SIG (+NAT-D).
    AggrThird,
    /// Quick Mode 1/2: HASH, SA, NONCE (+KE, ID ×2, N, NAT-OA).
    QuickSa,
    /// Quick Mode 3: HASH only.
    QuickThird,
    /// Informational: HASH then N/D.
    Info,
}

struct Rule {
    ty: PayloadType,
    min: usize,
    max: usize,
}

const fn r(ty: PayloadType, min: usize, max: usize) -> Rule {
    Rule { ty, min, max }
}

fn table(kind: MsgKind) -> (&'static [Rule], bool) {
    use PayloadType as P;
    const VID: Rule = r(P::VENDOR_ID, 0, 32);
    const NOT: Rule = r(P::NOTIFY, 0, 8);
    match kind {
        MsgKind::MainSa => {
            const R: &[Rule] = &[r(P::SA, 1, 1), VID, NOT];
            (R, false)
        }
        MsgKind::MainKe => {
            const R: &[Rule] = &[
                r(P::KE, 1, 1),
                r(P::NONCE, 1, 1),
                r(P::NAT_D, 0, 8),
                r(P::NAT_D_DRAFT, 0, 8),
                r(P::CR, 0, 8),
                VID,
                NOT,
            ];
            (R, false)
        }
        MsgKind::MainAuth => {
            const R: &[Rule] = &[
                r(P::ID, 1, 1),
                r(P::HASH, 0, 1),
                r(P::SIG, 0, 1),
                r(P::CERT, 0, 8),
                r(P::CR, 0, 8),
                VID,
                NOT,
            ];
            (R, true)
        }
        MsgKind::AggrFirst => {
            const R: &[Rule] = &[
                r(P::SA, 1, 1),
                r(P::KE, 1, 1),
                r(P::NONCE, 1, 1),
                r(P::ID, 1, 1),
                r(P::CR, 0, 8),
                VID,
                NOT,
            ];
            (R, false)
        }
        MsgKind::AggrSecond => {
            const R: &[Rule] = &[
                r(P::SA, 1, 1),
                r(P::KE, 1, 1),
                r(P::NONCE, 1, 1),
                r(P::ID, 1, 1),
                r(P::HASH, 0, 1),
                r(P::SIG, 0, 1),
                r(P::CERT, 0, 8),
                r(P::CR, 0, 8),
                r(P::NAT_D, 0, 8),
                r(P::NAT_D_DRAFT, 0, 8),
                VID,
                NOT,
            ];
            (R, false)
        }
        MsgKind::AggrThird => {
            const R: &[Rule] = &[
                r(P::HASH, 0, 1),
                r(P::SIG, 0, 1),
                r(P::CERT, 0, 8),
                r(P::NAT_D, 0, 8),
                r(P::NAT_D_DRAFT, 0, 8),
                VID,
                NOT,
            ];
            (R, false)
        }
        MsgKind::QuickSa => {
            const R: &[Rule] = &[
                r(P::HASH, 1, 1),
                r(P::SA, 1, 1),
                r(P::NONCE, 1, 1),
                r(P::KE, 0, 1),
                r(P::ID, 0, 2),
                r(P::NAT_OA, 0, 2),
                r(P::NAT_OA_DRAFT, 0, 2),
                NOT,
            ];
            (R, true)
        }
        MsgKind::QuickThird => {
            const R: &[Rule] = &[r(P::HASH, 1, 1), NOT];
            (R, true)
        }
        MsgKind::Info => {
            const R: &[Rule] = &[r(P::HASH, 0, 1), r(P::NOTIFY, 0, 8), r(P::DELETE, 0, 8)];
            (R, false)
        }
    }
}

/// Checks `payloads` of a message of `kind`; `encrypted` tells whether it arrived encrypted.
pub fn check(kind: MsgKind, payloads: &[Payload], encrypted: bool) -> Result<()> {
    let (rules, must_encrypt) = table(kind);
    if must_encrypt && !encrypted {
        return Err(Error::NotEncrypted);
    }
    for p in payloads {
        let t = p.payload_type();
        if !rules.iter().any(|r| r.ty == t) {
            return Err(Error::InvalidPayloadType(t.0));
        }
    }
    for rule in rules {
        let n = payloads
            .iter()
            .filter(|p| p.payload_type() == rule.ty)
            .count();
        if n < rule.min || n > rule.max {
            return Err(Error::PayloadCount(rule.ty.0));
        }
    }
    // Phase-2 and informational HASH(1) must be the first payload.
    if matches!(kind, MsgKind::QuickSa | MsgKind::QuickThird)
        && !matches!(payloads.first(), Some(Payload::Hash(_)))
    {
        return Err(Error::PeerMisbehaved("HASH is not the first payload"));
    }
    if matches!(
        kind,
        MsgKind::MainAuth | MsgKind::AggrSecond | MsgKind::AggrThird
    ) && !payloads
        .iter()
        .any(|p| matches!(p, Payload::Hash(_) | Payload::Sig(_)))
    {
        return Err(Error::PayloadCount(PayloadType::HASH.0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_needs_hash_first_and_encryption() {
        let p = vec![
            Payload::Nonce(vec![1; 16]),
            Payload::Hash(vec![0; 20]),
            Payload::Sa(isakmp::Sa::new(vec![])),
        ];
        assert!(check(MsgKind::QuickSa, &p, true).is_err());
        let p = vec![p[1].clone(), p[2].clone(), p[0].clone()];
        assert!(check(MsgKind::QuickSa, &p, true).is_ok());
        assert_eq!(check(MsgKind::QuickSa, &p, false), Err(Error::NotEncrypted));
    }

    #[test]
    fn unknown_payload_rejected() {
        let p = vec![Payload::Sa(isakmp::Sa::new(vec![])), Payload::Ke(vec![1])];
        assert_eq!(
            check(MsgKind::MainSa, &p, false),
            Err(Error::InvalidPayloadType(4))
        );
        assert_eq!(
            check(MsgKind::MainSa, &[], false),
            Err(Error::PayloadCount(1))
        );
    }
}
