//! ESP encryption: the key-scheduled cipher state of one SA.
//!
//! Keys are scheduled once, when the SA is installed; per packet we only clone
//! the scheduled cipher into a CBC/CTR mode object (a copy of round keys, no
//! allocation).

use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::AeadInOut;
use aes_gcm::AesGcm;
use blowfish::Blowfish;
use cast5::Cast5;
use cipher::consts::U12;
use cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit,
    KeyInit, StreamCipher,
};
use des::{Des, TdesEde3};
use inout::InOutBuf;

use crate::{EncAlg, XformError};

type Gcm<A> = AesGcm<A, U12>;

/// A scheduled encryption key.
#[derive(Clone)]
pub(crate) enum Cipher {
    Null,
    Des(Des),
    Tdes(TdesEde3),
    Cast(Box<Cast5>),
    Blowfish(Box<Blowfish>),
    Aes128(Aes128),
    Aes192(Aes192),
    Aes256(Aes256),
    Ctr128(Aes128, [u8; 4]),
    Ctr192(Aes192, [u8; 4]),
    Ctr256(Aes256, [u8; 4]),
    Gcm128(Box<Gcm<Aes128>>, [u8; 4]),
    Gcm192(Box<Gcm<Aes192>>, [u8; 4]),
    Gcm256(Box<Gcm<Aes256>>, [u8; 4]),
}

fn init<C: KeyInit>(alg: EncAlg, key: &[u8]) -> Result<C, XformError> {
    C::new_from_slice(key).map_err(|_| XformError::KeyLength {
        alg: alg.sadb(),
        bits: key.len() * 8,
    })
}

fn split_salt(key: &[u8]) -> (&[u8], [u8; 4]) {
    let (k, s) = key.split_at(key.len() - 4);
    (k, [s[0], s[1], s[2], s[3]])
}

impl Cipher {
    pub(crate) fn new(alg: EncAlg, key: &[u8]) -> Result<Cipher, XformError> {
        if !alg.valid_key_bits(key.len() * 8) {
            return Err(XformError::KeyLength {
                alg: alg.sadb(),
                bits: key.len() * 8,
            });
        }
        Ok(match alg {
            EncAlg::Null => Cipher::Null,
            EncAlg::DesCbc => Cipher::Des(init(alg, key)?),
            EncAlg::TripleDesCbc => Cipher::Tdes(init(alg, key)?),
            EncAlg::Cast128Cbc => Cipher::Cast(Box::new(init(alg, key)?)),
            EncAlg::BlowfishCbc => Cipher::Blowfish(Box::new(init(alg, key)?)),
            EncAlg::AesCbc => match key.len() {
                16 => Cipher::Aes128(init(alg, key)?),
                24 => Cipher::Aes192(init(alg, key)?),
                _ => Cipher::Aes256(init(alg, key)?),
            },
            EncAlg::AesCtr => {
                let (k, nonce) = split_salt(key);
                match k.len() {
                    16 => Cipher::Ctr128(init(alg, k)?, nonce),
                    24 => Cipher::Ctr192(init(alg, k)?, nonce),
                    _ => Cipher::Ctr256(init(alg, k)?, nonce),
                }
            }
            EncAlg::AesGcm16 => {
                let (k, salt) = split_salt(key);
                match k.len() {
                    16 => Cipher::Gcm128(Box::new(init(alg, k)?), salt),
                    24 => Cipher::Gcm192(Box::new(init(alg, k)?), salt),
                    _ => Cipher::Gcm256(Box::new(init(alg, k)?), salt),
                }
            }
        })
    }

    /// Fill `iv` (of the algorithm's IV length) for the packet with sequence
    /// number `seq`.
    ///
    /// CBC: the IV must be unpredictable. We use NIST SP 800-38A appendix C's
    /// method: the forward cipher under the SA's key applied to a nonce (the
    /// 64-bit sequence number, unique per SA). CTR and GCM only need a unique
    /// IV, so the sequence number itself is used, as RFC 3686/4106 suggest.
    pub(crate) fn make_iv(&self, seq: u64, iv: &mut [u8]) {
        fn block_iv<C: BlockCipherEncrypt>(c: &C, seq: u64, iv: &mut [u8]) {
            let mut block = cipher::Block::<C>::default();
            let n = block.len();
            block[n - 8..].copy_from_slice(&seq.to_be_bytes());
            // Mark the nonce block so it never equals an all-zero-prefixed
            // plaintext block of the same SA by construction.
            block[0] = 0x80;
            c.encrypt_block(&mut block);
            iv.copy_from_slice(&block[..iv.len()]);
        }
        match self {
            Cipher::Null => {}
            Cipher::Des(c) => block_iv(c, seq, iv),
            Cipher::Tdes(c) => block_iv(c, seq, iv),
            Cipher::Cast(c) => block_iv(c.as_ref(), seq, iv),
            Cipher::Blowfish(c) => block_iv(c.as_ref(), seq, iv),
            Cipher::Aes128(c) => block_iv(c, seq, iv),
            Cipher::Aes192(c) => block_iv(c, seq, iv),
            Cipher::Aes256(c) => block_iv(c, seq, iv),
            _ => iv.copy_from_slice(&seq.to_be_bytes()),
        }
    }

    /// Encrypt `data` in place (CBC modes need a whole number of blocks;
    /// callers pad first). Not for AEAD algorithms.
    pub(crate) fn encrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), XformError> {
        match self {
            Cipher::Null => Ok(()),
            Cipher::Des(c) => cbc_encrypt(c, iv, data),
            Cipher::Tdes(c) => cbc_encrypt(c, iv, data),
            Cipher::Cast(c) => cbc_encrypt(c.as_ref(), iv, data),
            Cipher::Blowfish(c) => cbc_encrypt(c.as_ref(), iv, data),
            Cipher::Aes128(c) => cbc_encrypt(c, iv, data),
            Cipher::Aes192(c) => cbc_encrypt(c, iv, data),
            Cipher::Aes256(c) => cbc_encrypt(c, iv, data),
            Cipher::Ctr128(c, n) => ctr_apply(c, n, iv, data),
            Cipher::Ctr192(c, n) => ctr_apply(c, n, iv, data),
            Cipher::Ctr256(c, n) => ctr_apply(c, n, iv, data),
            Cipher::Gcm128(..) | Cipher::Gcm192(..) | Cipher::Gcm256(..) => {
                Err(XformError::Internal("encrypt called on an AEAD cipher"))
            }
        }
    }

    /// Whether [`Cipher::encrypt_lanes`] interleaves packets (AES-CBC).
    pub(crate) fn multi_buffer(&self) -> bool {
        matches!(
            self,
            Cipher::Aes128(_) | Cipher::Aes192(_) | Cipher::Aes256(_)
        )
    }

    /// CBC-encrypts several packets' lanes side by side (AES-CBC only; other
    /// ciphers: `Internal`).
    pub(crate) fn encrypt_lanes(
        &self,
        buf: &mut [u8],
        lanes: &[crate::mbcbc::Lane],
    ) -> Result<(), XformError> {
        use crate::mbcbc::cbc_encrypt_lanes;
        match self {
            Cipher::Aes128(c) => cbc_encrypt_lanes(c, buf, lanes),
            Cipher::Aes192(c) => cbc_encrypt_lanes(c, buf, lanes),
            Cipher::Aes256(c) => cbc_encrypt_lanes(c, buf, lanes),
            _ => Err(XformError::Internal(
                "encrypt_lanes on a non-AES-CBC cipher",
            )),
        }
    }

    /// Decrypt `data` in place. Not for AEAD algorithms.
    pub(crate) fn decrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), XformError> {
        match self {
            Cipher::Null => Ok(()),
            Cipher::Des(c) => cbc_decrypt(c, iv, data),
            Cipher::Tdes(c) => cbc_decrypt(c, iv, data),
            Cipher::Cast(c) => cbc_decrypt(c.as_ref(), iv, data),
            Cipher::Blowfish(c) => cbc_decrypt(c.as_ref(), iv, data),
            Cipher::Aes128(c) => cbc_decrypt(c, iv, data),
            Cipher::Aes192(c) => cbc_decrypt(c, iv, data),
            Cipher::Aes256(c) => cbc_decrypt(c, iv, data),
            // CTR decryption is encryption.
            Cipher::Ctr128(c, n) => ctr_apply(c, n, iv, data),
            Cipher::Ctr192(c, n) => ctr_apply(c, n, iv, data),
            Cipher::Ctr256(c, n) => ctr_apply(c, n, iv, data),
            Cipher::Gcm128(..) | Cipher::Gcm192(..) | Cipher::Gcm256(..) => {
                Err(XformError::Internal("decrypt called on an AEAD cipher"))
            }
        }
    }

    /// AEAD seal in place; writes the 16-byte tag to `tag`.
    pub(crate) fn seal(
        &self,
        iv: &[u8],
        aad: &[u8],
        data: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), XformError> {
        fn go<A: AeadInOut<NonceSize = U12>>(
            a: &A,
            salt: &[u8; 4],
            iv: &[u8],
            aad: &[u8],
            data: &mut [u8],
            tag: &mut [u8],
        ) -> Result<(), XformError> {
            let nonce = gcm_nonce(salt, iv)?;
            let t = a
                .encrypt_inout_detached(&nonce.into(), aad, InOutBuf::from(data))
                .map_err(|_| XformError::Internal("aead seal"))?;
            let t: &[u8] = t.as_ref();
            if tag.len() != t.len() {
                return Err(XformError::Internal("tag length"));
            }
            tag.copy_from_slice(t);
            Ok(())
        }
        match self {
            Cipher::Gcm128(a, s) => go(a.as_ref(), s, iv, aad, data, tag),
            Cipher::Gcm192(a, s) => go(a.as_ref(), s, iv, aad, data, tag),
            Cipher::Gcm256(a, s) => go(a.as_ref(), s, iv, aad, data, tag),
            _ => Err(XformError::Internal("seal called on a non-AEAD cipher")),
        }
    }

    /// AEAD open in place: verifies `tag` (constant time, inside aes-gcm) and
    /// decrypts `data`. On failure `data` is left unspecified.
    pub(crate) fn open(
        &self,
        iv: &[u8],
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8],
    ) -> Result<(), XformError> {
        fn go<A: AeadInOut<NonceSize = U12>>(
            a: &A,
            salt: &[u8; 4],
            iv: &[u8],
            aad: &[u8],
            data: &mut [u8],
            tag: &[u8],
        ) -> Result<(), XformError> {
            let nonce = gcm_nonce(salt, iv)?;
            let tag = aes_gcm::Tag::try_from(tag).map_err(|_| XformError::BadIcv)?;
            a.decrypt_inout_detached(&nonce.into(), aad, InOutBuf::from(data), &tag)
                .map_err(|_| XformError::BadIcv)
        }
        match self {
            Cipher::Gcm128(a, s) => go(a.as_ref(), s, iv, aad, data, tag),
            Cipher::Gcm192(a, s) => go(a.as_ref(), s, iv, aad, data, tag),
            Cipher::Gcm256(a, s) => go(a.as_ref(), s, iv, aad, data, tag),
            _ => Err(XformError::Internal("open called on a non-AEAD cipher")),
        }
    }
}

fn gcm_nonce(salt: &[u8; 4], iv: &[u8]) -> Result<[u8; 12], XformError> {
    if iv.len() != 8 {
        return Err(XformError::Internal("gcm iv length"));
    }
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(salt);
    nonce[4..].copy_from_slice(iv);
    Ok(nonce)
}

fn cbc_encrypt<C>(c: &C, iv: &[u8], data: &mut [u8]) -> Result<(), XformError>
where
    C: BlockCipherEncrypt + Clone,
{
    let mut enc = cbc::Encryptor::<C>::inner_iv_slice_init(c.clone(), iv)
        .map_err(|_| XformError::Internal("cbc iv length"))?;
    let (blocks, tail) = InOutBuf::from(data).into_chunks();
    if !tail.is_empty() {
        return Err(XformError::Internal("cbc data not block aligned"));
    }
    enc.encrypt_blocks_inout(blocks);
    Ok(())
}

fn cbc_decrypt<C>(c: &C, iv: &[u8], data: &mut [u8]) -> Result<(), XformError>
where
    C: BlockCipherDecrypt + Clone,
{
    let mut dec = cbc::Decryptor::<C>::inner_iv_slice_init(c.clone(), iv)
        .map_err(|_| XformError::Internal("cbc iv length"))?;
    let (blocks, tail) = InOutBuf::from(data).into_chunks();
    if !tail.is_empty() {
        return Err(XformError::BadLength);
    }
    dec.decrypt_blocks_inout(blocks);
    Ok(())
}

/// RFC 3686 counter block: nonce (4) | IV (8) | block counter (4, from 1).
fn ctr_apply<C>(c: &C, nonce: &[u8; 4], iv: &[u8], data: &mut [u8]) -> Result<(), XformError>
where
    C: BlockCipherEncrypt<BlockSize = cipher::consts::U16> + Clone,
{
    if iv.len() != 8 {
        return Err(XformError::Internal("ctr iv length"));
    }
    let mut block = [0u8; 16];
    block[..4].copy_from_slice(nonce);
    block[4..12].copy_from_slice(iv);
    block[15] = 1;
    let core = ctr::CtrCore::<C, ctr::flavors::Ctr32BE>::inner_iv_init(c.clone(), &block.into());
    let mut ctr = ctr::Ctr32BE::<C>::from_core(core);
    ctr.apply_keystream(data);
    Ok(())
}
