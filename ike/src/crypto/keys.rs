//! The RFC 2409 key schedule: SKEYID and its derivatives, the encryption key Ka with the
//! appendix B expansion, phase-1 and per-message-ID IVs, HASH_I/HASH_R, the Quick Mode and
//! Informational HASHes, and KEYMAT for both directions with expansion to any length.

use super::prf::HashAlg;
use super::Secret;

/// How phase 1 authenticates; it decides the SKEYID formula (RFC 2409 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase1Auth<'a> {
    /// SKEYID = prf(pre-shared-key, Ni_b | Nr_b).
    PreSharedKey(&'a [u8]),
    /// SKEYID = prf(Ni_b | Nr_b, g^xy) (DSS/RSA/ECDSA signatures).
    Signature,
    /// SKEYID = prf(hash(Ni_b | Nr_b), CKY-I | CKY-R) (public key encryption, both variants).
    PublicKeyEncryption,
}

/// Everything the phase-1 key schedule needs.
#[derive(Debug, Clone, Copy)]
pub struct Phase1Inputs<'a> {
    /// Negotiated hash (its HMAC is the PRF).
    pub hash: HashAlg,
    /// Authentication method.
    pub auth: Phase1Auth<'a>,
    /// Initiator nonce body Ni_b.
    pub ni: &'a [u8],
    /// Responder nonce body Nr_b.
    pub nr: &'a [u8],
    /// Shared secret g^xy (left-padded to the prime length).
    pub g_xy: &'a [u8],
    /// Initiator cookie.
    pub cky_i: &'a [u8; 8],
    /// Responder cookie.
    pub cky_r: &'a [u8; 8],
}

/// Phase-1 keys: SKEYID, SKEYID_d, SKEYID_a, SKEYID_e and the encryption key Ka.
#[derive(Debug, Clone)]
pub struct Phase1Keys {
    /// PRF / hash algorithm.
    pub hash: HashAlg,
    /// SKEYID.
    pub skeyid: Secret,
    /// SKEYID_d (phase-2 key derivation).
    pub skeyid_d: Secret,
    /// SKEYID_a (authentication of phase-2 and informational messages).
    pub skeyid_a: Secret,
    /// SKEYID_e (from which Ka is taken).
    pub skeyid_e: Secret,
    /// Ka, the phase-1 encryption key, `key_len` bytes.
    pub ka: Secret,
}

/// Appendix B expansion: `K1 = prf(key, seed)`, `Kn = prf(key, Kn-1)`, concatenated and
/// truncated to `len`. Used for Ka when SKEYID_e is too short (seed = single zero byte).
pub fn expand_appendix_b(hash: HashAlg, key: &[u8], len: usize) -> Secret {
    let mut out = Vec::with_capacity(len + hash.output_len());
    let mut k = hash.prf(key, &[&[0u8]]);
    loop {
        out.extend_from_slice(&k);
        if out.len() >= len {
            break;
        }
        k = hash.prf(key, &[&k]);
    }
    out.truncate(len);
    zeroize::Zeroize::zeroize(&mut k);
    Secret::new(out)
}

impl Phase1Keys {
    /// Derives all phase-1 keys; `key_len` is the cipher's key length in bytes.
    pub fn derive(i: &Phase1Inputs<'_>, key_len: usize) -> Phase1Keys {
        let h = i.hash;
        let skeyid = match i.auth {
            Phase1Auth::PreSharedKey(psk) => h.prf_secret(psk, &[i.ni, i.nr]),
            Phase1Auth::Signature => {
                let key = [i.ni, i.nr].concat();
                let s = h.prf_secret(&key, &[i.g_xy]);
                drop(zeroize::Zeroizing::new(key));
                s
            }
            Phase1Auth::PublicKeyEncryption => {
                let key = h.hash(&[i.ni, i.nr]);
                h.prf_secret(&key, &[i.cky_i, i.cky_r])
            }
        };
        let s = skeyid.as_ref();
        let d = h.prf_secret(s, &[i.g_xy, i.cky_i, i.cky_r, &[0]]);
        let a = h.prf_secret(s, &[d.as_ref(), i.g_xy, i.cky_i, i.cky_r, &[1]]);
        let e = h.prf_secret(s, &[a.as_ref(), i.g_xy, i.cky_i, i.cky_r, &[2]]);
        let ka = if e.len() >= key_len {
            Secret::new(e.as_ref()[..key_len].to_vec())
        } else {
            expand_appendix_b(h, e.as_ref(), key_len)
        };
        Phase1Keys {
            hash: h,
            skeyid,
            skeyid_d: d,
            skeyid_a: a,
            skeyid_e: e,
            ka,
        }
    }

    /// HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b).
    #[allow(clippy::too_many_arguments)]
    pub fn hash_i(
        &self,
        g_xi: &[u8],
        g_xr: &[u8],
        cky_i: &[u8; 8],
        cky_r: &[u8; 8],
        sai_b: &[u8],
        idii_b: &[u8],
    ) -> Vec<u8> {
        self.hash.prf(
            self.skeyid.as_ref(),
            &[g_xi, g_xr, cky_i, cky_r, sai_b, idii_b],
        )
    }

    /// HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b).
    pub fn hash_r(
        &self,
        g_xi: &[u8],
        g_xr: &[u8],
        cky_i: &[u8; 8],
        cky_r: &[u8; 8],
        sai_b: &[u8],
        idir_b: &[u8],
    ) -> Vec<u8> {
        self.hash.prf(
            self.skeyid.as_ref(),
            &[g_xr, g_xi, cky_r, cky_i, sai_b, idir_b],
        )
    }

    /// Quick Mode HASH(1) = prf(SKEYID_a, M-ID | message after HASH(1)).
    pub fn qm_hash1(&self, message_id: u32, rest: &[u8]) -> Vec<u8> {
        self.hash
            .prf(self.skeyid_a.as_ref(), &[&message_id.to_be_bytes(), rest])
    }

    /// Quick Mode HASH(2) = prf(SKEYID_a, M-ID | Ni_b | message after HASH(2)).
    pub fn qm_hash2(&self, message_id: u32, ni_b: &[u8], rest: &[u8]) -> Vec<u8> {
        self.hash.prf(
            self.skeyid_a.as_ref(),
            &[&message_id.to_be_bytes(), ni_b, rest],
        )
    }

    /// Quick Mode HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b).
    pub fn qm_hash3(&self, message_id: u32, ni_b: &[u8], nr_b: &[u8]) -> Vec<u8> {
        self.hash.prf(
            self.skeyid_a.as_ref(),
            &[&[0], &message_id.to_be_bytes(), ni_b, nr_b],
        )
    }

    /// Informational HASH(1) = prf(SKEYID_a, M-ID | N/D payloads).
    pub fn informational_hash(&self, message_id: u32, payloads: &[u8]) -> Vec<u8> {
        self.qm_hash1(message_id, payloads)
    }

    /// KEYMAT for one SA direction (RFC 2409 §5.5): `prf(SKEYID_d, [g(qm)^xy |] protocol |
    /// SPI | Ni_b | Nr_b)`, expanded as `K1 | K2 | ...` with `Kn = prf(SKEYID_d, Kn-1 | ...)`
    /// to `len` bytes. `spi` is the SPI of the SA being keyed (the receiver's SPI).
    pub fn keymat(
        &self,
        pfs_g_xy: Option<&[u8]>,
        protocol: u8,
        spi: &[u8],
        ni_b: &[u8],
        nr_b: &[u8],
        len: usize,
    ) -> Secret {
        let key = self.skeyid_d.as_ref();
        let g = pfs_g_xy.unwrap_or(&[]);
        let mut out = Vec::with_capacity(len + self.hash.output_len());
        let mut prev: Vec<u8> = Vec::new();
        while out.len() < len {
            let k = self
                .hash
                .prf(key, &[&prev, g, &[protocol], spi, ni_b, nr_b]);
            out.extend_from_slice(&k);
            zeroize::Zeroize::zeroize(&mut prev);
            prev = k;
        }
        zeroize::Zeroize::zeroize(&mut prev);
        out.truncate(len);
        Secret::new(out)
    }
}

/// Phase-1 IV = hash(g^xi | g^xr) truncated to the block size.
pub fn phase1_iv(hash: HashAlg, g_xi: &[u8], g_xr: &[u8], block: usize) -> Vec<u8> {
    let mut v = hash.hash(&[g_xi, g_xr]);
    v.truncate(block);
    v
}

/// IV for a new phase-2 or informational exchange = hash(last phase-1 CBC block | M-ID)
/// truncated to the block size.
pub fn phase2_iv(
    hash: HashAlg,
    last_phase1_block: &[u8],
    message_id: u32,
    block: usize,
) -> Vec<u8> {
    let mut v = hash.hash(&[last_phase1_block, &message_id.to_be_bytes()]);
    v.truncate(block);
    v
}

/// NAT-D payload data (RFC 3947 §3.2): hash(CKY-I | CKY-R | IP | Port) with the negotiated
/// hash; the address is 4 or 16 bytes and the port in network order.
pub fn natd_hash(
    hash: HashAlg,
    cky_i: &[u8; 8],
    cky_r: &[u8; 8],
    addr: std::net::IpAddr,
    port: u16,
) -> Vec<u8> {
    let a = match addr {
        std::net::IpAddr::V4(v) => v.octets().to_vec(),
        std::net::IpAddr::V6(v) => v.octets().to_vec(),
    };
    hash.hash(&[cky_i, cky_r, &a, &port.to_be_bytes()])
}
