//! Deferred encapsulation (`encap_deferred` + `finish_batch`, multi-buffer
//! AES-CBC) produces byte for byte what `encap` produces, for every cipher ×
//! integrity pair and random batches, and the peer SA decapsulates it.

use proptest::prelude::*;
use xform::{AuthAlg, Deferred, EncAlg, EspParams, EspSa};

const SUITES: &[(EncAlg, usize, AuthAlg, bool)] = &[
    (EncAlg::AesCbc, 16, AuthAlg::HmacSha1, false),
    (EncAlg::AesCbc, 24, AuthAlg::HmacSha256, true),
    (EncAlg::AesCbc, 32, AuthAlg::HmacSha512, false),
    (EncAlg::AesCbc, 16, AuthAlg::None, false),
    (EncAlg::AesCbc, 16, AuthAlg::AesXcbc, true),
    (EncAlg::TripleDesCbc, 24, AuthAlg::HmacMd5, false),
    (EncAlg::AesGcm16, 20, AuthAlg::None, false),
    (EncAlg::AesGcm16, 36, AuthAlg::None, true),
    (EncAlg::AesCtr, 20, AuthAlg::HmacSha1, false),
    (EncAlg::Null, 0, AuthAlg::HmacSha256, false),
];

fn key(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29) ^ salt)
        .collect()
}

fn sa(suite: usize) -> EspSa {
    let (enc, klen, auth, esn) = SUITES[suite];
    let ek = key(klen, 0x3c);
    let ak = key(auth.key_bits() / 8, 0xc3);
    let mut p = EspParams::new(0x0102_0304, enc, &ek, auth, &ak);
    p.esn = esn;
    EspSa::new(&p).unwrap()
}

/// Slot size of the batch buffer in this test.
const SLOT: usize = 2048;

fn run(suite: usize, payloads: &[Vec<u8>], start_seq: u64) {
    let mut one = sa(suite);
    let mut many = sa(suite);
    let mut rx = sa(suite);
    one.set_seq_out(start_seq);
    many.set_seq_out(start_seq);
    rx.set_inbound_top(start_seq);
    let head = one.header_len();
    // Reference: one packet at a time.
    let mut want = Vec::new();
    for p in payloads {
        let mut b = vec![0u8; SLOT];
        b[head..head + p.len()].copy_from_slice(p);
        let r = one.encap(&mut b, head, head + p.len(), 4).unwrap();
        want.push(b[r].to_vec());
    }
    // Deferred: all packets laid out in one buffer, then finished together.
    let mut buf = vec![0u8; SLOT * payloads.len()];
    let mut jobs: Vec<(usize, Deferred)> = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let s = &mut buf[i * SLOT..(i + 1) * SLOT];
        s[head..head + p.len()].copy_from_slice(p);
        let (r, d) = many.encap_deferred(s, head, head + p.len(), 4).unwrap();
        assert_eq!(r.start, 0);
        assert_eq!(d.esp_len, want[i].len());
        jobs.push((i * SLOT + r.start, d));
    }
    many.finish_batch(&mut buf, &jobs).unwrap();
    for (i, w) in want.iter().enumerate() {
        let got = &mut buf[i * SLOT..i * SLOT + w.len()];
        assert_eq!(got, &w[..], "suite {suite} packet {i}");
        let d = rx.decap(got).unwrap();
        assert_eq!(&got[d.payload], &payloads[i][..]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn deferred_batches_equal_single_packets(
        suite in 0..SUITES.len(),
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..900), 0..40),
        high in any::<bool>(),
    ) {
        // ESN suites also cross the 32-bit boundary.
        let esn = SUITES[suite].3;
        run(suite, &payloads, if high && esn { (1u64 << 32) - 5 } else { 0 });
    }
}

#[test]
fn every_suite_full_batch() {
    let payloads: Vec<Vec<u8>> = (0..33).map(|i| vec![i as u8; 40 * i + 1]).collect();
    for s in 0..SUITES.len() {
        run(s, &payloads, 0);
    }
}

#[test]
fn out_of_range_jobs_are_refused() {
    let mut s = sa(0);
    let mut buf = vec![0u8; SLOT];
    let head = s.header_len();
    let (_, d) = s.encap_deferred(&mut buf, head, head + 100, 4).unwrap();
    assert!(s.finish_batch(&mut buf, &[(SLOT - 10, d)]).is_err());
    assert!(s.finish_batch(&mut buf, &[(usize::MAX, d)]).is_err());
    assert!(s.finish_batch(&mut buf, &[(0, d)]).is_ok());
}

#[test]
fn a_sealer_finishes_on_another_thread() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let mut tx = sa(0);
    let mut rx = sa(0);
    let head = tx.header_len();
    let mut buf = vec![0u8; 4 * SLOT];
    let mut jobs = Vec::new();
    for i in 0..4 {
        let s = &mut buf[i * SLOT..(i + 1) * SLOT];
        s[head..head + 300].fill(i as u8);
        let (r, d) = tx.encap_deferred(s, head, head + 300, 4).unwrap();
        jobs.push((i * SLOT + r.start, d));
    }
    let sealer = tx.sealer();
    send_sync(&sealer);
    let buf = std::thread::spawn(move || {
        sealer.finish_batch(&mut buf, &jobs).unwrap();
        (buf, jobs)
    })
    .join()
    .unwrap();
    let (mut buf, jobs) = buf;
    for (i, (off, d)) in jobs.iter().enumerate() {
        let pkt = &mut buf[*off..off + d.esp_len];
        let got = rx.decap(pkt).unwrap();
        assert!(pkt[got.payload].iter().all(|&b| b == i as u8));
    }
}
