//! AH (RFC 4302) on whole IP packets, in place.
//!
//! Outbound, AH goes right after the IPv4 header, or after the IPv6 fixed
//! header and any hop-by-hop / routing headers; the ICV covers the IP header
//! with its mutable fields zeroed (appendix A of RFC 4302), the AH header with
//! a zero ICV, the rest of the packet, and with ESN the high half of the
//! sequence number. Inbound reverses it and hands back the packet without AH.
//! Tunnel mode is the same operation on the outer packet the engine builds.

use std::ops::Range;

use crate::integ::{Integ, MAX_ICV};
use crate::replay::ReplayWindow;
use crate::{AuthAlg, XformError};

/// IP protocol number of AH.
pub const IPPROTO_AH: u8 = 51;

/// Largest IP header (with IPv6 extension headers in front of AH) we process.
const MAX_IP_HDR: usize = 512;

/// Parameters of an AH SA.
#[derive(Clone, Copy, Debug)]
pub struct AhParams<'a> {
    /// SPI, host order.
    pub spi: u32,
    /// Integrity algorithm (not `None`).
    pub auth: AuthAlg,
    /// Its key.
    pub auth_key: &'a [u8],
    /// Anti-replay window in packets (0 = off).
    pub replay_window: u32,
    /// Extended sequence numbers.
    pub esn: bool,
    /// Allow the sequence number to cycle when anti-replay is off.
    pub cyclic_seq: bool,
}

/// The packet after AH processing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AhDecapsulated {
    /// The IP packet with AH removed (protocol/next-header and lengths fixed).
    pub packet: Range<usize>,
    /// AH's next header (4/41 in tunnel mode).
    pub next_header: u8,
    /// Full sequence number.
    pub seq: u64,
}

/// State of one AH SA.
#[derive(Clone)]
pub struct AhSa {
    spi: u32,
    integ: Integ,
    icv_len: usize,
    esn: bool,
    may_cycle: bool,
    seq_out: u64,
    replay: ReplayWindow,
}

/// Where AH goes in a packet, and what precedes it.
struct Layout {
    v6: bool,
    /// Offset of AH (= length of the IP header chain kept in front).
    ah_at: usize,
    /// Offset of the next-header byte that must become 51 (v4: protocol).
    nh_field: usize,
}

fn layout(pkt: &[u8]) -> Result<Layout, XformError> {
    match pkt.first().map(|b| b >> 4) {
        Some(4) => {
            if pkt.len() < 20 {
                return Err(XformError::BadIpHeader);
            }
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            if ihl < 20 || ihl > pkt.len() {
                return Err(XformError::BadIpHeader);
            }
            Ok(Layout {
                v6: false,
                ah_at: ihl,
                nh_field: 9,
            })
        }
        Some(6) => {
            if pkt.len() < 40 {
                return Err(XformError::BadIpHeader);
            }
            let mut nh_field = 6;
            let mut off = 40;
            // Hop-by-hop (0) and routing (43) headers stay in front of AH.
            while matches!(pkt[nh_field], 0 | 43) {
                if off + 8 > pkt.len() {
                    return Err(XformError::BadIpHeader);
                }
                let len = (usize::from(pkt[off + 1]) + 1) * 8;
                if off + len > pkt.len() || off + len > MAX_IP_HDR {
                    return Err(XformError::BadIpHeader);
                }
                nh_field = off;
                off += len;
            }
            Ok(Layout {
                v6: true,
                ah_at: off,
                nh_field,
            })
        }
        _ => Err(XformError::BadIpHeader),
    }
}

/// Copy `hdr` into `out` with the mutable fields zeroed (RFC 4302 app. A).
fn zero_mutable(hdr: &[u8], v6: bool, out: &mut [u8]) -> Result<(), XformError> {
    out.copy_from_slice(hdr);
    if !v6 {
        out[1] = 0; // TOS / DSCP+ECN
        out[6] = 0; // flags + fragment offset
        out[7] = 0;
        out[8] = 0; // TTL
        out[10] = 0; // checksum
        out[11] = 0;
        // Options: immutable ones kept, every other option zeroed whole.
        let mut i = 20;
        while i < out.len() {
            let t = out[i];
            match t {
                0 => break,
                1 => i += 1,
                _ => {
                    let len = usize::from(*out.get(i + 1).ok_or(XformError::BadIpHeader)?);
                    if len < 2 || i + len > out.len() {
                        return Err(XformError::BadIpHeader);
                    }
                    if !matches!(t, 130 | 133 | 134 | 148 | 149) {
                        out[i..i + len].fill(0);
                    }
                    i += len;
                }
            }
        }
    } else {
        out[0] &= 0xf0; // traffic class and flow label
        out[1] = 0;
        out[2] = 0;
        out[3] = 0;
        out[7] = 0; // hop limit
                    // Hop-by-hop options whose "may change en route" bit (0x20) is set
                    // have their data zeroed. Routing headers are covered as sent.
        let mut nh = hdr[6];
        let mut off = 40;
        while off < out.len() {
            let len = (usize::from(*out.get(off + 1).ok_or(XformError::BadIpHeader)?) + 1) * 8;
            if nh == 0 || nh == 60 {
                let mut i = off + 2;
                while i < off + len {
                    let t = out[i];
                    if t == 0 {
                        i += 1;
                        continue;
                    }
                    let olen = usize::from(*out.get(i + 1).ok_or(XformError::BadIpHeader)?);
                    if i + 2 + olen > off + len {
                        return Err(XformError::BadIpHeader);
                    }
                    if t & 0x20 != 0 {
                        out[i + 2..i + 2 + olen].fill(0);
                    }
                    i += 2 + olen;
                }
            }
            nh = out[off];
            off += len;
        }
    }
    Ok(())
}

fn ipv4_checksum(hdr: &mut [u8]) {
    hdr[10] = 0;
    hdr[11] = 0;
    let mut sum: u32 = 0;
    for c in hdr.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    hdr[10..12].copy_from_slice(&ck.to_be_bytes());
}

impl AhSa {
    /// Schedule the key.
    pub fn new(p: &AhParams<'_>) -> Result<AhSa, XformError> {
        // `-A null` (SADB_X_AALG_NULL) is accepted for AH as KAME and Linux
        // (digest_null) do: a 12-byte header without ICV, for testing only.
        Ok(AhSa {
            spi: p.spi,
            integ: Integ::new(p.auth, p.auth_key)?,
            icv_len: p.auth.icv_len(),
            esn: p.esn,
            may_cycle: p.cyclic_seq && p.replay_window == 0,
            seq_out: 0,
            replay: ReplayWindow::new(p.replay_window),
        })
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Length of the AH header (with ICV and alignment padding) for an IPv4
    /// (`v6 == false`) or IPv6 packet: also the headroom `encap` needs.
    pub fn header_len(&self, v6: bool) -> usize {
        let align = if v6 { 8 } else { 4 };
        (12 + self.icv_len).div_ceil(align) * align
    }

    /// Insert AH into the IP packet `buf[start..end]`, using
    /// `header_len` bytes of headroom in front of it; returns the new range.
    pub fn encap(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
    ) -> Result<Range<usize>, XformError> {
        if end > buf.len() || start > end {
            return Err(XformError::NoRoom);
        }
        let lay = layout(&buf[start..end])?;
        let ah_len = self.header_len(lay.v6);
        if start < ah_len {
            return Err(XformError::NoRoom);
        }
        let total = end - start + ah_len;
        if total > 0xffff + if lay.v6 { 40 } else { 0 } {
            return Err(XformError::BadLength);
        }
        let seq = {
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
            self.seq_out
        };
        // Move the IP header chain forward to open a gap for AH.
        let new_start = start - ah_len;
        buf.copy_within(start..start + lay.ah_at, new_start);
        let hdr_end = new_start + lay.ah_at;
        let next_header = buf[new_start + lay.nh_field];
        buf[new_start + lay.nh_field] = IPPROTO_AH;
        if lay.v6 {
            let plen = (total - 40) as u16;
            buf[new_start + 4..new_start + 6].copy_from_slice(&plen.to_be_bytes());
        } else {
            buf[new_start + 2..new_start + 4].copy_from_slice(&(total as u16).to_be_bytes());
        }
        let ah = &mut buf[hdr_end..hdr_end + ah_len];
        ah[0] = next_header;
        ah[1] = (ah_len / 4 - 2) as u8;
        ah[2] = 0;
        ah[3] = 0;
        ah[4..8].copy_from_slice(&self.spi.to_be_bytes());
        ah[8..12].copy_from_slice(&(seq as u32).to_be_bytes());
        ah[12..].fill(0);

        let mut icv = [0u8; MAX_ICV];
        self.icv(
            &buf[new_start..new_start + total],
            &lay,
            seq,
            &mut icv[..self.icv_len],
        )?;
        buf[hdr_end + 12..hdr_end + 12 + self.icv_len].copy_from_slice(&icv[..self.icv_len]);
        if !lay.v6 {
            ipv4_checksum(&mut buf[new_start..hdr_end]);
        }
        Ok(new_start..new_start + total)
    }

    /// ICV over `pkt` (which contains AH at `lay.ah_at` with the ICV field
    /// as it is: zeroed here in the copy).
    fn icv(&self, pkt: &[u8], lay: &Layout, seq: u64, out: &mut [u8]) -> Result<(), XformError> {
        let mut hdr = [0u8; MAX_IP_HDR];
        let hdr = hdr.get_mut(..lay.ah_at).ok_or(XformError::BadIpHeader)?;
        zero_mutable(&pkt[..lay.ah_at], lay.v6, hdr)?;
        let ah_len = self.header_len(lay.v6);
        let mut ah = [0u8; 12 + MAX_ICV + 8];
        ah[..12].copy_from_slice(&pkt[lay.ah_at..lay.ah_at + 12]);
        let seq_hi = ((seq >> 32) as u32).to_be_bytes();
        let hi: &[u8] = if self.esn { &seq_hi } else { &[] };
        self.integ
            .compute(&[hdr, &ah[..ah_len], &pkt[lay.ah_at + ah_len..], hi], out);
        Ok(())
    }

    /// Verify and remove AH from the IP packet `buf[start..end]`.
    pub fn decap(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
    ) -> Result<AhDecapsulated, XformError> {
        if end > buf.len() || start > end {
            return Err(XformError::BadLength);
        }
        let pkt = &buf[start..end];
        let lay = layout(pkt)?;
        if pkt[lay.nh_field] != IPPROTO_AH {
            return Err(XformError::BadIpHeader);
        }
        let ah_len = self.header_len(lay.v6);
        if pkt.len() < lay.ah_at + ah_len {
            return Err(XformError::TooShort);
        }
        let ah = &pkt[lay.ah_at..lay.ah_at + ah_len];
        if (usize::from(ah[1]) + 2) * 4 != ah_len {
            return Err(XformError::BadLength);
        }
        if u32::from_be_bytes([ah[4], ah[5], ah[6], ah[7]]) != self.spi {
            return Err(XformError::WrongSpi);
        }
        let next_header = ah[0];
        let seq = self
            .replay
            .infer_seq(u32::from_be_bytes([ah[8], ah[9], ah[10], ah[11]]), self.esn);
        self.replay.check(seq)?;
        let mut mine = [0u8; MAX_ICV];
        self.icv(pkt, &lay, seq, &mut mine[..self.icv_len])?;
        let theirs = &ah[12..12 + self.icv_len];
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&mine[..self.icv_len], theirs)) {
            return Err(XformError::BadIcv);
        }
        self.replay.update(seq)?;

        // Close the gap: move the IP header chain back over AH.
        let new_start = start + ah_len;
        buf.copy_within(start..start + lay.ah_at, new_start);
        buf[new_start + lay.nh_field] = next_header;
        let total = end - new_start;
        if lay.v6 {
            let plen = (total - 40) as u16;
            buf[new_start + 4..new_start + 6].copy_from_slice(&plen.to_be_bytes());
        } else {
            buf[new_start + 2..new_start + 4].copy_from_slice(&(total as u16).to_be_bytes());
            ipv4_checksum(&mut buf[new_start..new_start + lay.ah_at]);
        }
        Ok(AhDecapsulated {
            packet: new_start..end,
            next_header,
            seq,
        })
    }
}
