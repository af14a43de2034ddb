//! Anti-replay window (RFC 4303 §3.4.3 and appendix A for extended sequence
//! numbers). The check happens before the ICV is verified and the update only
//! after, so a forged packet can never move the window.

use crate::XformError;

/// Largest window we accept, in packets (PF_KEY's `sadb_sa_replay` is in
/// bytes on KAME, i.e. 255 × 8 = 2040 packets at most; Linux allows more
/// through netlink). The bitmap costs `size / 8` bytes per SA.
pub const MAX_WINDOW: u32 = 4096;

/// A sliding window over received sequence numbers.
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    /// Window size in packets (a multiple of 64), 0 = replay check off.
    size: u32,
    /// Highest sequence number accepted so far (64-bit with ESN).
    top: u64,
    /// Bit `i` (ring-indexed) is set when `top - i` was received.
    bits: Vec<u64>,
}

impl ReplayWindow {
    /// A window of `packets` packets (rounded up to a multiple of 64, capped at
    /// [`MAX_WINDOW`]); 0 disables replay protection.
    pub fn new(packets: u32) -> ReplayWindow {
        let size = if packets == 0 {
            0
        } else {
            packets.min(MAX_WINDOW).div_ceil(64) * 64
        };
        ReplayWindow {
            size,
            top: 0,
            bits: vec![0; (size / 64) as usize],
        }
    }

    /// The window size in packets (0 = off).
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Highest sequence number accepted.
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Reconstruct the full 64-bit sequence number from the low 32 bits on the
    /// wire (RFC 4303 appendix A2.2). Without ESN, the high half is zero.
    pub fn infer_seq(&self, seq_lo: u32, esn: bool) -> u64 {
        if !esn {
            return u64::from(seq_lo);
        }
        let tl = self.top as u32;
        let th = (self.top >> 32) as u32;
        let w = self.size.max(1);
        let hi = if tl >= w - 1 {
            // Window within one subspace.
            if seq_lo >= tl.wrapping_sub(w - 1) {
                th
            } else {
                th.wrapping_add(1)
            }
        } else if seq_lo >= tl.wrapping_sub(w - 1) {
            // Window spans two subspaces; seq_lo is in the upper one's tail.
            th.wrapping_sub(1)
        } else {
            th
        };
        (u64::from(hi) << 32) | u64::from(seq_lo)
    }

    fn bit(&self, seq: u64) -> (usize, u64) {
        let idx = (seq % u64::from(self.size)) as usize;
        (idx / 64, 1u64 << (idx % 64))
    }

    /// Start the window at `top`, with nothing marked as received.
    pub fn set_top(&mut self, top: u64) {
        self.top = top;
        self.bits.iter_mut().for_each(|w| *w = 0);
    }

    /// Would `seq` be accepted? (No state change.)
    pub fn check(&self, seq: u64) -> Result<(), XformError> {
        if self.size == 0 {
            return Ok(());
        }
        if seq == 0 {
            return Err(XformError::Replay);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= u64::from(self.size) {
            return Err(XformError::Replay);
        }
        let (w, m) = self.bit(seq);
        if self.bits[w] & m != 0 {
            Err(XformError::Replay)
        } else {
            Ok(())
        }
    }

    /// Record `seq` as received. Call only after the ICV verified; calls
    /// `check` again so a race between two packets cannot double-accept.
    pub fn update(&mut self, seq: u64) -> Result<(), XformError> {
        self.check(seq)?;
        if self.size == 0 {
            self.top = self.top.max(seq);
            return Ok(());
        }
        if seq > self.top {
            let shift = seq - self.top;
            if shift >= u64::from(self.size) {
                self.bits.iter_mut().for_each(|w| *w = 0);
            } else {
                // Clear the slots of the sequence numbers that slide in.
                for s in self.top + 1..seq {
                    let (w, m) = self.bit(s);
                    self.bits[w] &= !m;
                }
            }
            self.top = seq;
        }
        let (w, m) = self.bit(seq);
        self.bits[w] |= m;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn basic_window() {
        let mut w = ReplayWindow::new(64);
        assert!(w.check(0).is_err(), "sequence 0 is never valid");
        w.update(1).unwrap();
        assert!(w.update(1).is_err(), "duplicate");
        w.update(3).unwrap();
        w.update(2).unwrap();
        w.update(100).unwrap();
        assert!(w.check(36).is_err(), "left of the window");
        w.check(37).unwrap();
        w.update(37).unwrap();
        assert!(w.check(37).is_err());
        assert!(w.check(100).is_err());
    }

    #[test]
    fn disabled_window_accepts_everything() {
        let mut w = ReplayWindow::new(0);
        w.update(5).unwrap();
        w.update(5).unwrap();
        w.update(1).unwrap();
    }

    #[test]
    fn esn_inference() {
        let mut w = ReplayWindow::new(64);
        w.update(0xffff_fff0).unwrap();
        // Just after the 32-bit wrap: high half 1.
        assert_eq!(w.infer_seq(5, true), 0x1_0000_0005);
        // Inside the window: high half 0.
        assert_eq!(w.infer_seq(0xffff_ffe0, true), 0xffff_ffe0);
        w.update(0x1_0000_0005).unwrap();
        // Window spans the wrap: a late packet from before it.
        assert_eq!(w.infer_seq(0xffff_fff8, true), 0xffff_fff8);
        w.update(0xffff_fff8).unwrap();
        assert!(w.check(0xffff_fff8).is_err());
    }

    proptest! {
        /// The window agrees with a naive model: a number is accepted iff it
        /// is non-zero, unseen and not more than `size - 1` below the top.
        #[test]
        fn matches_model(seqs in proptest::collection::vec(1u64..400, 1..300), size in 1u32..200) {
            let mut w = ReplayWindow::new(size);
            let eff = w.size() as u64;
            let mut seen = std::collections::HashSet::new();
            let mut top = 0u64;
            for s in seqs {
                let model_ok = !seen.contains(&s) && (s > top || top - s < eff);
                prop_assert_eq!(w.update(s).is_ok(), model_ok, "seq {}", s);
                if model_ok {
                    seen.insert(s);
                    top = top.max(s);
                }
            }
        }
    }
}
