//! Userspace IPsec "kernel": SAD and SPD with PF_KEY semantics (sans-I/O core),
//! and, behind the `io` feature, the PF_KEY unix-socket server used by `ipsecd`.
//!
//! The core ([`sad`], [`spd`], [`handler`]) does no I/O, reads no clock and owns no
//! RNG: callers pass a [`Now`] and an `rand_core::RngCore`.

pub mod alg;
pub mod datapath;
pub mod errno;
pub mod fasthash;
pub mod handler;
#[cfg(feature = "io")]
pub mod io;
#[cfg(feature = "io")]
pub mod netio;
#[cfg(feature = "io")]
pub mod process;
pub mod sad;
pub mod spd;
#[cfg(feature = "io")]
pub mod tunout;
#[cfg(feature = "io")]
pub mod txbatch;

pub use errno::Errno;

use std::time::Instant;

/// The current time as the core sees it: a monotonic instant (drives every timer)
/// and the wall-clock time in seconds since the Unix epoch (only reported in
/// `LIFETIME_CURRENT` extensions, as a kernel does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    pub wall: u64,
}

impl Now {
    pub fn new(mono: Instant, wall: u64) -> Self {
        Now { mono, wall }
    }

    /// `self` advanced by `secs` seconds on both clocks (handy for tests and
    /// simulations); the monotonic clock saturates at the largest representable instant.
    pub fn plus_secs(self, secs: u64) -> Self {
        let mut mono = self.mono;
        let mut step = std::time::Duration::from_secs(secs);
        while !step.is_zero() {
            match mono.checked_add(step) {
                Some(m) => {
                    mono = m;
                    break;
                }
                None => step /= 2,
            }
        }
        Now {
            mono,
            wall: self.wall.saturating_add(secs),
        }
    }
}
