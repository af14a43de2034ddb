//! IPComp (RFC 3173) with DEFLATE (RFC 2394): raw deflate, no zlib header.
//! A payload is sent compressed only when that makes it smaller (including
//! the 4-byte IPComp header); otherwise it goes out as it is, without IPComp.

use crate::{CompAlg, XformError};

/// IP protocol number of IPComp.
pub const IPPROTO_COMP: u8 = 108;

/// Payloads shorter than this are never compressed (RFC 2394 §2: small
/// payloads do not shrink; Linux uses the same threshold).
pub const MIN_COMPRESS_LEN: usize = 90;

/// Decompressed payloads larger than an IP packet can hold are refused: a
/// "zip bomb" never allocates more than this.
pub const MAX_DECOMPRESSED: usize = 65535;

/// State of one IPComp SA (stateless per packet, RFC 3173 §2.1).
#[derive(Clone, Debug)]
pub struct IpcompSa {
    cpi: u16,
    level: u8,
}

impl IpcompSa {
    /// An SA with the given CPI (PF_KEY carries it in the low 16 bits of the SPI).
    pub fn new(cpi: u16, alg: CompAlg) -> IpcompSa {
        let CompAlg::Deflate = alg;
        IpcompSa { cpi, level: 6 }
    }

    /// The CPI.
    pub fn cpi(&self) -> u16 {
        self.cpi
    }

    /// The 4-byte IPComp header for a payload whose protocol is `next_header`.
    pub fn header(&self, next_header: u8) -> [u8; 4] {
        let c = self.cpi.to_be_bytes();
        [next_header, 0, c[0], c[1]]
    }

    /// Compress `payload`; `None` means "send it uncompressed".
    pub fn compress(&self, payload: &[u8]) -> Option<Vec<u8>> {
        if payload.len() < MIN_COMPRESS_LEN {
            return None;
        }
        let out = miniz_oxide::deflate::compress_to_vec(payload, self.level);
        (out.len() + 4 < payload.len()).then_some(out)
    }

    /// Parse and decompress an IPComp packet (starting at the IPComp header):
    /// returns the next header and the original payload.
    pub fn decompress(&self, pkt: &[u8]) -> Result<(u8, Vec<u8>), XformError> {
        if pkt.len() < 5 {
            return Err(XformError::TooShort);
        }
        if u16::from_be_bytes([pkt[2], pkt[3]]) != self.cpi {
            return Err(XformError::WrongSpi);
        }
        let out = miniz_oxide::inflate::decompress_to_vec_with_limit(&pkt[4..], MAX_DECOMPRESSED)
            .map_err(|_| XformError::Decompress)?;
        Ok((pkt[0], out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_only_when_smaller() {
        let sa = IpcompSa::new(0x4001, CompAlg::Deflate);
        let text: Vec<u8> = b"racoon-rs ipcomp "
            .iter()
            .cycle()
            .take(1400)
            .copied()
            .collect();
        let c = sa.compress(&text).expect("repetitive text shrinks");
        assert!(c.len() + 4 < text.len());
        let mut pkt = sa.header(4).to_vec();
        pkt.extend_from_slice(&c);
        assert_eq!(sa.decompress(&pkt).unwrap(), (4, text.clone()));

        // Random-looking data does not shrink: sent uncompressed.
        let mut x = 0x1234_5678_9abc_def1u64;
        let noise: Vec<u8> = (0..1400)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(sa.compress(&noise).is_none());
        assert!(sa.compress(&text[..40]).is_none(), "below the threshold");
    }

    #[test]
    fn hostile_input_is_bounded() {
        let sa = IpcompSa::new(7, CompAlg::Deflate);
        // A bomb: 1 MiB of zeros compresses to ~1 KiB; inflating must stop.
        let bomb = miniz_oxide::deflate::compress_to_vec(&vec![0u8; 1 << 20], 9);
        let mut pkt = sa.header(4).to_vec();
        pkt.extend_from_slice(&bomb);
        assert_eq!(sa.decompress(&pkt), Err(XformError::Decompress));
        assert_eq!(
            sa.decompress(&[4, 0, 0, 7, 0xff, 0xff]),
            Err(XformError::Decompress)
        );
        assert_eq!(sa.decompress(&[4, 0, 0, 8, 1]), Err(XformError::WrongSpi));
        assert_eq!(sa.decompress(&[4, 0]), Err(XformError::TooShort));
    }
}
