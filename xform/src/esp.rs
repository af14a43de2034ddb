//! ESP (RFC 4303) on byte slices, in place.
//!
//! Outbound, the payload (an inner IP packet in tunnel mode, the transport
//! payload otherwise) sits in a buffer with room in front for the ESP header
//! and IV ([`EspSa::header_len`]) and behind for padding, trailer and ICV
//! ([`EspSa::trailer_room`]). Encapsulation pads, encrypts in place, writes the
//! header in front and the ICV behind, and returns the ESP packet's range.
//!
//! Inbound, the order is cheapest check first: lengths, SPI, replay pre-check,
//! ICV (constant time) or AEAD tag, decryption, replay commit, trailer check.

use std::ops::Range;
use std::sync::Arc;

use crate::cipher::Cipher;
use crate::integ::Integ;
use crate::replay::ReplayWindow;
use crate::{AuthAlg, EncAlg, XformError};

/// How the padding bytes are filled (PF_KEY `sadb_sa_flags`: PZERO 0x200,
/// PRAND 0x100, neither = RFC 4303's monotonic 1, 2, 3, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PadMode {
    /// 1, 2, 3, … (RFC 4303 §2.4 default).
    #[default]
    Sequential,
    /// All zero.
    Zero,
    /// Pseudo-random bytes.
    Random,
}

/// Everything needed to build an ESP SA's transform state.
#[derive(Clone, Copy, Debug)]
pub struct EspParams<'a> {
    /// SPI, host order.
    pub spi: u32,
    /// Encryption algorithm.
    pub enc: EncAlg,
    /// Encryption key (with the RFC 3686 nonce / RFC 4106 salt appended).
    pub enc_key: &'a [u8],
    /// Integrity algorithm (must be `None` with an AEAD cipher).
    pub auth: AuthAlg,
    /// Integrity key.
    pub auth_key: &'a [u8],
    /// Anti-replay window in packets (0 = off); inbound only.
    pub replay_window: u32,
    /// Extended (64-bit) sequence numbers, RFC 4303 §2.2.1.
    pub esn: bool,
    /// Padding content.
    pub padding: PadMode,
    /// Allow the 32-bit sequence number to cycle (PF_KEY CYCSEQ); honoured
    /// only when anti-replay is off, as RFC 4303 §3.3.3 requires.
    pub cyclic_seq: bool,
    /// Seed for [`PadMode::Random`].
    pub pad_seed: u64,
}

impl<'a> EspParams<'a> {
    /// Parameters with defaults: window 64, no ESN, sequential padding.
    pub fn new(
        spi: u32,
        enc: EncAlg,
        enc_key: &'a [u8],
        auth: AuthAlg,
        auth_key: &'a [u8],
    ) -> EspParams<'a> {
        EspParams {
            spi,
            enc,
            enc_key,
            auth,
            auth_key,
            replay_window: 64,
            esn: false,
            padding: PadMode::Sequential,
            cyclic_seq: false,
            pad_seed: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

/// Result of a successful decapsulation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decapsulated {
    /// Where the payload is, inside the packet buffer passed in.
    pub payload: Range<usize>,
    /// The trailer's next-header field (4 IPv4, 41 IPv6, 59 dummy packet, …).
    pub next_header: u8,
    /// The full (ESN-reconstructed) sequence number.
    pub seq: u64,
}

/// An ESP packet laid out by [`EspSa::encap_deferred`] whose encryption and
/// ICV are still to be done by [`EspSa::finish_batch`]. Until then the packet
/// holds plaintext and must not be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deferred {
    /// Bytes from the SPI to the end of the ICV.
    pub esp_len: usize,
    ct_len: usize,
    seq: u64,
}

/// The immutable part of an ESP SA (scheduled keys), shared with
/// [`Sealer`]s.
struct Keys {
    spi: u32,
    enc: EncAlg,
    cipher: Cipher,
    integ: Integ,
    icv_len: usize,
    esn: bool,
}

/// An ESP SA's keys, to finish its deferred packets ([`EspSa::encap_deferred`])
/// elsewhere, e.g. on a send thread. Cheap to clone (shared).
#[derive(Clone)]
pub struct Sealer(Arc<Keys>);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer(spi {:#x}, <keys redacted>)", self.0.spi)
    }
}

impl Sealer {
    /// As [`EspSa::finish_batch`].
    pub fn finish_batch(
        &self,
        buf: &mut [u8],
        jobs: &[(usize, Deferred)],
    ) -> Result<(), XformError> {
        self.0.finish_batch(buf, jobs)
    }
}

impl Keys {
    /// Encrypts and authenticates deferred packets of this SA: `jobs` are
    /// (offset of the ESP header in `buf`, its [`Deferred`]). AES-CBC packets
    /// are encrypted side by side ([`crate::mbcbc`]). On error nothing is
    /// guaranteed about the packets: the caller must drop them all.
    fn finish_batch(&self, buf: &mut [u8], jobs: &[(usize, Deferred)]) -> Result<(), XformError> {
        for &(off, d) in jobs {
            if !off.checked_add(d.esp_len).is_some_and(|e| e <= buf.len()) {
                return Err(XformError::NoRoom);
            }
        }
        if !self.cipher.multi_buffer() || jobs.len() < 2 {
            for &(off, d) in jobs {
                self.encap_finish(&mut buf[off..off + d.esp_len], &d)?;
            }
            return Ok(());
        }
        let hdr = ESP_HDR + self.enc.iv_len();
        let mut lanes = [crate::mbcbc::Lane {
            iv: 0,
            data: 0,
            len: 0,
        }; crate::mbcbc::LANES];
        for chunk in jobs.chunks(crate::mbcbc::LANES) {
            for (l, &(off, d)) in lanes.iter_mut().zip(chunk) {
                *l = crate::mbcbc::Lane {
                    iv: off + ESP_HDR,
                    data: off + hdr,
                    len: d.ct_len,
                };
            }
            self.cipher.encrypt_lanes(buf, &lanes[..chunk.len()])?;
        }
        if self.icv_len > 0 {
            for &(off, d) in jobs {
                let pkt = &mut buf[off..off + d.esp_len];
                self.sign(pkt, &d);
            }
        }
        Ok(())
    }

    /// Writes the ICV of a packet whose ciphertext is in place.
    fn sign(&self, pkt: &mut [u8], d: &Deferred) {
        let ct_end = ESP_HDR + self.enc.iv_len() + d.ct_len;
        let seq_hi = ((d.seq >> 32) as u32).to_be_bytes();
        let hi: &[u8] = if self.esn { &seq_hi } else { &[] };
        let (signed, icv) = pkt.split_at_mut(ct_end);
        self.integ.compute(&[signed, hi], &mut icv[..self.icv_len]);
    }

    /// Encrypts (or seals) one prepared packet, `pkt` = SPI .. end of ICV.
    fn encap_finish(&self, pkt: &mut [u8], d: &Deferred) -> Result<(), XformError> {
        let iv_len = self.enc.iv_len();
        let hdr = ESP_HDR + iv_len;
        if pkt.len() != d.esp_len || d.esp_len != hdr + d.ct_len + self.icv_len {
            return Err(XformError::Internal("deferred packet length"));
        }
        let mut iv = [0u8; 16];
        let iv = &mut iv[..iv_len];
        iv.copy_from_slice(&pkt[ESP_HDR..hdr]);
        if self.enc.is_aead() {
            let mut aad = [0u8; 12];
            let aad_len = self.aad(&mut aad, d.seq);
            let (body, tail) = pkt[hdr..].split_at_mut(d.ct_len);
            self.cipher.seal(iv, &aad[..aad_len], body, tail)?;
        } else {
            self.cipher.encrypt(iv, &mut pkt[hdr..hdr + d.ct_len])?;
            if self.icv_len > 0 {
                self.sign(pkt, d);
            }
        }
        Ok(())
    }

    /// RFC 4106 §5 AAD: SPI | seq (32-bit) or SPI | seq high | seq low (ESN).
    fn aad(&self, aad: &mut [u8; 12], seq: u64) -> usize {
        aad[..4].copy_from_slice(&self.spi.to_be_bytes());
        if self.esn {
            aad[4..8].copy_from_slice(&((seq >> 32) as u32).to_be_bytes());
            aad[8..12].copy_from_slice(&(seq as u32).to_be_bytes());
            12
        } else {
            aad[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
            8
        }
    }
}

/// The transform state of one ESP SA (one direction).
#[derive(Clone)]
pub struct EspSa {
    spi: u32,
    enc: EncAlg,
    keys: Arc<Keys>,
    icv_len: usize,
    esn: bool,
    padding: PadMode,
    may_cycle: bool,
    /// Last sequence number sent.
    seq_out: u64,
    replay: ReplayWindow,
    pad_state: u64,
}

const ESP_HDR: usize = 8;

impl EspSa {
    /// Schedule keys and check the algorithm combination.
    pub fn new(p: &EspParams<'_>) -> Result<EspSa, XformError> {
        if p.enc.is_aead() && p.auth != AuthAlg::None {
            return Err(XformError::AeadWithAuth);
        }
        let cipher = Cipher::new(p.enc, p.enc_key)?;
        let integ = Integ::new(p.auth, p.auth_key)?;
        let icv_len = if p.enc.is_aead() {
            16
        } else {
            p.auth.icv_len()
        };
        Ok(EspSa {
            spi: p.spi,
            enc: p.enc,
            keys: Arc::new(Keys {
                spi: p.spi,
                enc: p.enc,
                cipher,
                integ,
                icv_len,
                esn: p.esn,
            }),
            icv_len,
            esn: p.esn,
            padding: p.padding,
            may_cycle: p.cyclic_seq && p.replay_window == 0,
            seq_out: 0,
            replay: ReplayWindow::new(p.replay_window),
            pad_state: p.pad_seed | 1,
        })
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Bytes needed in front of the payload: ESP header + IV.
    pub fn header_len(&self) -> usize {
        ESP_HDR + self.enc.iv_len()
    }

    /// Bytes needed behind the payload, at most: padding, pad length, next
    /// header, ICV.
    pub fn trailer_room(&self) -> usize {
        self.enc.pad_align() - 1 + 2 + self.icv_len
    }

    /// Bytes the packet grows by for a payload of `len` bytes.
    pub fn overhead(&self, len: usize) -> usize {
        let ct = (len + 2).div_ceil(self.enc.pad_align()) * self.enc.pad_align();
        self.header_len() + (ct - len) + self.icv_len
    }

    /// Set the last sequence number sent (an SA taken over mid-stream; tests).
    pub fn set_seq_out(&mut self, seq: u64) {
        self.seq_out = seq;
    }

    /// Last sequence number sent.
    pub fn seq_out(&self) -> u64 {
        self.seq_out
    }

    /// Start the inbound window at `top` (the highest sequence number seen):
    /// for an SA taken over mid-stream (tests, migration), so ESN high bits
    /// are inferred from there.
    pub fn set_inbound_top(&mut self, top: u64) {
        self.replay.set_top(top);
    }

    /// The inbound replay window.
    pub fn replay(&self) -> &ReplayWindow {
        &self.replay
    }

    fn next_seq(&mut self) -> Result<u64, XformError> {
        let limit = if self.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        if self.seq_out >= limit {
            if self.may_cycle && !self.esn {
                self.seq_out = 0;
            } else {
                return Err(XformError::SeqExhausted);
            }
        }
        self.seq_out += 1;
        Ok(self.seq_out)
    }

    /// Encapsulate `buf[start..end]` in place, using the IV derived from the
    /// sequence number (see [`EspSa::encap_with_iv`] for test vectors).
    pub fn encap(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        next_header: u8,
    ) -> Result<Range<usize>, XformError> {
        self.encap_inner(buf, start, end, next_header, None)
    }

    /// As [`EspSa::encap`] with an explicit IV (for known-answer tests and for
    /// reproducing other implementations' packets byte for byte).
    pub fn encap_with_iv(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        next_header: u8,
        iv: &[u8],
    ) -> Result<Range<usize>, XformError> {
        if iv.len() != self.enc.iv_len() {
            return Err(XformError::BadLength);
        }
        self.encap_inner(buf, start, end, next_header, Some(iv))
    }

    fn encap_inner(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        next_header: u8,
        fixed_iv: Option<&[u8]>,
    ) -> Result<Range<usize>, XformError> {
        let (r, d) = self.encap_prepare(buf, start, end, next_header, fixed_iv)?;
        self.encap_finish(&mut buf[r.clone()], &d)?;
        Ok(r)
    }

    /// Whether [`EspSa::finish_batch`] encrypts several packets side by side
    /// (AES-CBC); other ciphers still defer, one packet at a time.
    pub fn multi_buffer(&self) -> bool {
        self.keys.cipher.multi_buffer()
    }

    /// As [`EspSa::encap`] (sequence number, padding, header, IV), but leaves
    /// the encryption and the ICV to [`EspSa::finish_batch`], so the caller
    /// can encrypt a batch of packets together. The returned range holds
    /// *plaintext* until then.
    pub fn encap_deferred(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        next_header: u8,
    ) -> Result<(Range<usize>, Deferred), XformError> {
        self.encap_prepare(buf, start, end, next_header, None)
    }

    /// Encrypts and authenticates deferred packets of this SA: `jobs` are
    /// (offset of the ESP header in `buf`, its [`Deferred`]). AES-CBC packets
    /// are encrypted side by side ([`crate::mbcbc`]). On error nothing is
    /// guaranteed about the packets: the caller must drop them all.
    pub fn finish_batch(
        &self,
        buf: &mut [u8],
        jobs: &[(usize, Deferred)],
    ) -> Result<(), XformError> {
        self.keys.finish_batch(buf, jobs)
    }

    /// The SA's keys for [`Sealer::finish_batch`] on another thread (shared,
    /// not copied).
    pub fn sealer(&self) -> Sealer {
        Sealer(self.keys.clone())
    }

    fn encap_finish(&self, pkt: &mut [u8], d: &Deferred) -> Result<(), XformError> {
        self.keys.encap_finish(pkt, d)
    }

    /// Everything of encapsulation but the encryption and the ICV.
    fn encap_prepare(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        next_header: u8,
        fixed_iv: Option<&[u8]>,
    ) -> Result<(Range<usize>, Deferred), XformError> {
        let iv_len = self.enc.iv_len();
        let hdr = ESP_HDR + iv_len;
        if start < hdr || end < start || end > buf.len() {
            return Err(XformError::NoRoom);
        }
        let align = self.enc.pad_align();
        let payload_len = end - start;
        let ct_len = (payload_len + 2).div_ceil(align) * align;
        let pad_len = ct_len - payload_len - 2;
        let ct_end = start + ct_len;
        let pkt_end = ct_end + self.icv_len;
        if pkt_end > buf.len() {
            return Err(XformError::NoRoom);
        }
        let seq = self.next_seq()?;

        // Trailer: padding, pad length, next header.
        let pad = &mut buf[end..end + pad_len];
        match self.padding {
            PadMode::Sequential => {
                for (i, b) in pad.iter_mut().enumerate() {
                    *b = (i + 1) as u8;
                }
            }
            PadMode::Zero => pad.fill(0),
            PadMode::Random => {
                for b in pad.iter_mut() {
                    // xorshift64*: padding content carries no security role
                    // (RFC 4303 §2.4); it only must not be a fixed pattern.
                    self.pad_state ^= self.pad_state >> 12;
                    self.pad_state ^= self.pad_state << 25;
                    self.pad_state ^= self.pad_state >> 27;
                    *b = (self.pad_state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
                }
            }
        }
        buf[end + pad_len] = pad_len as u8;
        buf[end + pad_len + 1] = next_header;

        // Header and IV.
        let esp_start = start - hdr;
        buf[esp_start..esp_start + 4].copy_from_slice(&self.spi.to_be_bytes());
        buf[esp_start + 4..esp_start + 8].copy_from_slice(&(seq as u32).to_be_bytes());
        let mut iv = [0u8; 16];
        let iv = &mut iv[..iv_len];
        match fixed_iv {
            Some(v) => iv.copy_from_slice(v),
            None => self.keys.cipher.make_iv(seq, iv),
        }
        buf[esp_start + ESP_HDR..start].copy_from_slice(iv);
        Ok((
            esp_start..pkt_end,
            Deferred {
                esp_len: pkt_end - esp_start,
                ct_len,
                seq,
            },
        ))
    }

    /// RFC 4106 §5 AAD: SPI | seq (32-bit) or SPI | seq high | seq low (ESN).
    fn aad(&self, aad: &mut [u8; 12], seq: u64) -> usize {
        aad[..4].copy_from_slice(&self.spi.to_be_bytes());
        if self.esn {
            aad[4..8].copy_from_slice(&((seq >> 32) as u32).to_be_bytes());
            aad[8..12].copy_from_slice(&(seq as u32).to_be_bytes());
            12
        } else {
            aad[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
            8
        }
    }

    /// The smallest ESP packet this SA can have produced.
    pub fn min_packet_len(&self) -> usize {
        let min_ct = if self.enc.pad_align() > 4 {
            self.enc.pad_align()
        } else {
            4
        };
        ESP_HDR + self.enc.iv_len() + min_ct + self.icv_len
    }

    /// Authenticate, replay-check and decrypt the ESP packet `pkt` (starting
    /// at the SPI) in place.
    pub fn decap(&mut self, pkt: &mut [u8]) -> Result<Decapsulated, XformError> {
        let iv_len = self.enc.iv_len();
        if pkt.len() < self.min_packet_len() {
            return Err(XformError::TooShort);
        }
        let spi = u32::from_be_bytes([pkt[0], pkt[1], pkt[2], pkt[3]]);
        if spi != self.spi {
            return Err(XformError::WrongSpi);
        }
        let seq_lo = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
        let seq = self.replay.infer_seq(seq_lo, self.esn);
        self.replay.check(seq)?;

        let ct_start = ESP_HDR + iv_len;
        let ct_end = pkt.len() - self.icv_len;
        let ct_len = ct_end - ct_start;
        let align = self.enc.pad_align();
        if align > 4 && ct_len % align != 0 {
            return Err(XformError::BadLength);
        }
        let mut iv = [0u8; 16];
        let iv = &mut iv[..iv_len];
        iv.copy_from_slice(&pkt[ESP_HDR..ct_start]);

        if self.enc.is_aead() {
            let mut aad = [0u8; 12];
            let aad_len = self.aad(&mut aad, seq);
            let (body, tag) = pkt[ct_start..].split_at_mut(ct_len);
            self.keys.cipher.open(iv, &aad[..aad_len], body, tag)?;
        } else {
            if self.icv_len > 0 {
                let seq_hi = ((seq >> 32) as u32).to_be_bytes();
                let hi: &[u8] = if self.esn { &seq_hi } else { &[] };
                let (signed, icv) = pkt.split_at(ct_end);
                self.keys.integ.verify(&[signed, hi], icv)?;
            }
            self.keys.cipher.decrypt(iv, &mut pkt[ct_start..ct_end])?;
        }
        self.replay.update(seq)?;

        let pad_len = usize::from(pkt[ct_end - 2]);
        let next_header = pkt[ct_end - 1];
        if pad_len + 2 > ct_len {
            return Err(XformError::BadPadding);
        }
        Ok(Decapsulated {
            payload: ct_start..ct_end - 2 - pad_len,
            next_header,
            seq,
        })
    }
}
