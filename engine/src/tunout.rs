//! Writes to the TUN device from a thread of their own.
//!
//! Writing a decrypted packet (or a coalesced GSO frame) to the TUN device
//! runs the host's whole receive path (IP, TCP, socket wake-up) in the
//! writer's context: a fifth of the decrypting daemon's CPU in profiles of
//! `engine/bench/tunnel.sh`. The core copies the frames of a read batch into
//! a [`TunBatch`] and hands it to a [`TunThread`], which writes them in order
//! while the core reads and decrypts the next batch. Buffers are preallocated
//! and recycled (a pool of `POOL`); the core waits when all are in flight.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

/// Bytes of frames one batch holds (a few coalesced 64 KB GSO frames).
pub const BATCH_BYTES: usize = 4 * 65_600;
/// Frames one batch holds.
pub const BATCH_FRAMES: usize = 128;
/// Batches in flight (plus the one being filled).
const POOL: usize = 4;

/// Frames for the TUN device, in order.
pub struct TunBatch {
    buf: Box<[u8]>,
    used: usize,
    frames: Vec<(usize, usize)>,
}

impl Default for TunBatch {
    fn default() -> Self {
        TunBatch::new()
    }
}

impl std::fmt::Debug for TunBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TunBatch({} frames)", self.frames.len())
    }
}

impl TunBatch {
    pub fn new() -> TunBatch {
        TunBatch {
            buf: vec![0u8; BATCH_BYTES].into_boxed_slice(),
            used: 0,
            frames: Vec::with_capacity(BATCH_FRAMES),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Appends `head` + `body` as one frame; `false` when it does not fit.
    pub fn push(&mut self, head: &[u8], body: &[u8]) -> bool {
        let n = head.len() + body.len();
        if self.frames.len() == BATCH_FRAMES || self.used + n > self.buf.len() {
            return false;
        }
        let o = self.used;
        self.buf[o..o + head.len()].copy_from_slice(head);
        self.buf[o + head.len()..o + n].copy_from_slice(body);
        self.frames.push((o, n));
        self.used += n;
        true
    }

    /// Writes every frame to `fd` and empties the batch; returns the number
    /// of frames the kernel refused.
    pub fn write_all(&mut self, fd: RawFd) -> u64 {
        let mut failed = 0;
        for &(o, n) in &self.frames {
            let f = &self.buf[o..o + n];
            // SAFETY: f is a valid buffer of f.len() bytes.
            let r = unsafe { libc::write(fd, f.as_ptr().cast(), f.len()) };
            if r < 0 {
                tracing::debug!("TUN write: {}", io::Error::last_os_error());
                failed += 1;
            }
        }
        self.frames.clear();
        self.used = 0;
        failed
    }
}

/// The writer thread (see the module documentation).
pub struct TunThread {
    full: Option<SyncSender<TunBatch>>,
    empty: Receiver<TunBatch>,
    made: usize,
    failed: Arc<AtomicU64>,
    fd: RawFd,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TunThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TunThread(fd {})", self.fd)
    }
}

impl TunThread {
    /// Starts the thread. `fd` must stay open until the `TunThread` is
    /// dropped (dropping it joins the thread).
    pub fn spawn(fd: RawFd) -> io::Result<TunThread> {
        let (full, rx) = sync_channel::<TunBatch>(POOL);
        let (back, empty) = sync_channel::<TunBatch>(POOL + 1);
        let failed = Arc::new(AtomicU64::new(0));
        let f = failed.clone();
        let handle = std::thread::Builder::new()
            .name("ipsec-tun".into())
            .spawn(move || {
                while let Ok(mut b) = rx.recv() {
                    let n = b.write_all(fd);
                    if n > 0 {
                        f.fetch_add(n, Ordering::Relaxed);
                    }
                    if back.send(b).is_err() {
                        break;
                    }
                }
            })?;
        Ok(TunThread {
            full: Some(full),
            empty,
            made: 1,
            failed,
            fd,
            handle: Some(handle),
        })
    }

    /// Hands `cur` to the thread and puts an empty batch in its place.
    pub fn submit(&mut self, cur: &mut TunBatch) {
        if cur.is_empty() {
            return;
        }
        let mut next = match self.empty.try_recv() {
            Ok(b) => b,
            Err(_) if self.made < POOL + 1 => {
                self.made += 1;
                TunBatch::new()
            }
            Err(_) => self.empty.recv().unwrap_or_default(),
        };
        std::mem::swap(cur, &mut next);
        if let Some(tx) = &self.full {
            match tx.send(next) {
                Ok(()) => return,
                Err(e) => next = e.0,
            }
        }
        let n = next.write_all(self.fd);
        self.failed.fetch_add(n, Ordering::Relaxed);
    }

    /// Frames the thread could not write since the last call.
    pub fn take_failed(&self) -> u64 {
        self.failed.swap(0, Ordering::Relaxed)
    }
}

impl Drop for TunThread {
    fn drop(&mut self) {
        self.full = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn frames_arrive_in_order_through_the_thread() {
        // A pipe stands in for the TUN device.
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two ints.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: fresh descriptors, owned here.
        let (r, w) = unsafe {
            use std::os::fd::FromRawFd;
            (
                std::fs::File::from_raw_fd(fds[0]),
                std::os::fd::OwnedFd::from_raw_fd(fds[1]),
            )
        };
        let mut t = TunThread::spawn(w.as_raw_fd()).unwrap();
        let mut cur = TunBatch::new();
        let mut want = Vec::new();
        for b in 0..20u8 {
            for k in 0..3u8 {
                assert!(cur.push(&[b], &[k, 0xaa]));
                want.extend_from_slice(&[b, k, 0xaa]);
            }
            t.submit(&mut cur);
            assert!(cur.is_empty());
        }
        drop(t); // joins: everything written
        drop(w);
        let mut got = Vec::new();
        use std::io::Read;
        (&r).read_to_end(&mut got).unwrap();
        assert_eq!(got, want);
        // Limits.
        let mut b = TunBatch::new();
        assert!(!b.push(&[], &vec![0u8; BATCH_BYTES + 1]));
        for _ in 0..BATCH_FRAMES {
            assert!(b.push(&[], &[1]));
        }
        assert!(!b.push(&[], &[1]), "frame count bounded");
    }
}
