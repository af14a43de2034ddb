//! The Wireshark `ikev1-certs.pcap` (Main Mode, RSA signatures, 3DES/MD5/group 2): decrypt MM5/MM6
//! with the Ka from `ikev1_decryption_table`, parse the CERT payloads with this crate and verify
//! the SIG payloads (OpenSwan 1024-bit and Juniper SRX 2048-bit keys).
//!
//! HASH_I/HASH_R need SKEYID (g^xy), which the capture's decryption table does not give (only
//! the encryption key), so each SIG is opened with its certificate's public key: it must be a
//! PKCS#1 v1.5 type-1 block over a bare 16-byte value (MD5 HASH, no DigestInfo), which
//! `PublicKey::verify_raw` then accepts. Signatures of our own exchanges are verified end to
//! end in `ike/tests/certs.rs`.

#[path = "../../isakmp/tests/common/mod.rs"]
mod common;

use cbc::cipher::{block_padding::NoPadding, BlockDecryptMut, KeyIvInit};
use common::{hex, ike_messages, testdata};
use isakmp::{decode_payloads, Body, Message, Payload, Trailing};
use md5::{Digest, Md5};

type Des3Cbc = cbc::Decryptor<des::TdesEde3>;

#[test]
fn wireshark_cert_payloads_parse() {
    let pcap = testdata("wireshark/ikev1-certs.pcap");
    if !pcap.exists() {
        eprintln!("{} missing; skipping", pcap.display());
        return;
    }
    let table = std::fs::read_to_string(testdata("wireshark/ikev1_decryption_table")).unwrap();
    let msgs: Vec<Message> = ike_messages(&pcap)
        .iter()
        .map(|m| Message::decode(m).unwrap())
        .collect();
    let icky = msgs[0].header.initiator_cookie;
    let ka = table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(','))
        .find(|(c, _)| hex(c) == icky)
        .map(|(_, k)| hex(k))
        .expect("cookie in decryption table");
    let kes: Vec<Vec<u8>> = msgs
        .iter()
        .flat_map(|m| m.payloads())
        .filter_map(|p| match p {
            Payload::Ke(k) => Some(k.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(kes.len(), 2);
    // phase-1 IV = first block of HASH(g^xi | g^xr); later IVs = last ciphertext block
    let mut iv: Vec<u8> = Md5::new()
        .chain_update(&kes[0])
        .chain_update(&kes[1])
        .finalize()[..8]
        .to_vec();
    let mut certs = Vec::new();
    let mut sigs = Vec::new();
    let mut seen = Vec::new();
    for m in &msgs {
        let Body::Encrypted(ct) = &m.body else {
            continue;
        };
        if m.header.message_id != 0 || seen.contains(ct) {
            continue; // quick mode / retransmissions
        }
        seen.push(ct.clone());
        let mut buf = ct.clone();
        Des3Cbc::new_from_slices(&ka, &iv)
            .unwrap()
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .unwrap();
        iv = ct[ct.len() - 8..].to_vec();
        for p in decode_payloads(m.header.next_payload, &buf, 28, Trailing::Padding).unwrap() {
            match p {
                Payload::Cert { encoding, data } => {
                    assert_eq!(encoding.0, 4, "X.509 signature encoding");
                    certs.push(pki::Certificate::from_der(&data).unwrap());
                }
                Payload::Sig(s) => sigs.push(s),
                _ => {}
            }
        }
    }
    assert_eq!(certs.len(), 2, "one CERT in MM5 and one in MM6");
    assert_ne!(certs[0], certs[1], "each side sent its own certificate");
    assert_eq!(sigs.len(), 2);
    for (c, s) in certs.iter().zip(&sigs) {
        let key = c.public_key().unwrap();
        assert_eq!(s.len(), key.size(), "{}", c.subject());
        assert!(!c.subject().is_empty());
        // the SIG is over HASH_I/HASH_R, never over a random value: a wrong hash must fail
        assert!(key.verify_raw(&[0u8; 16], s).is_err());
        // HASH_I/HASH_R need SKEYID (g^xy), which the capture does not give; open the SIG with
        // the certificate's public key instead (s^e mod n, public data only): it must be
        // PKCS#1 v1.5 type 1 over a bare 16-byte MD5-sized value, no DigestInfo (RFC 2409
        // §5.1 as peers do it), and our verify_raw must accept that value.
        let hash = open_signature(c.der(), s);
        assert_eq!(
            hash.len(),
            16,
            "{}: signed value is the MD5 HASH",
            c.subject()
        );
        key.verify_raw(&hash, s)
            .unwrap_or_else(|e| panic!("{}: SIG does not verify: {e}", c.subject()));
        eprintln!(
            "CERT {} issued by {} ({} bits)",
            c.subject(),
            c.issuer(),
            key.bits()
        );
    }
}

/// The value a raw PKCS#1 v1.5 type-1 signature `sig` covers under the RSA key of the DER
/// certificate `cert` (test-only: the RSA public operation on public data).
fn open_signature(cert: &[u8], sig: &[u8]) -> Vec<u8> {
    use num_bigint::BigUint;
    use x509_parser::prelude::{FromDer, X509Certificate};
    use x509_parser::public_key::PublicKey;
    let (_, c) = X509Certificate::from_der(cert).unwrap();
    let PublicKey::RSA(k) = c.public_key().parsed().unwrap() else {
        panic!("not an RSA key")
    };
    let n = BigUint::from_bytes_be(k.modulus);
    let e = BigUint::from_bytes_be(k.exponent);
    let m = BigUint::from_bytes_be(sig).modpow(&e, &n).to_bytes_be();
    // EM = 00 01 FF..FF 00 T; to_bytes_be drops the leading 00
    assert_eq!(m.len() + 1, sig.len());
    assert_eq!(m[0], 0x01, "block type 1");
    let sep = m.iter().position(|&b| b == 0).expect("separator");
    assert!(
        sep >= 9 && m[1..sep].iter().all(|&b| b == 0xff),
        "padding FF..FF (>= 8 bytes)"
    );
    m[sep + 1..].to_vec()
}
