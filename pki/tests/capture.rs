//! The Wireshark `ikev1-certs.pcap` (Main Mode, RSA signatures, 3DES/MD5/group 2): decrypt MM5/MM6
//! with the Ka from `ikev1_decryption_table`, parse the CERT payloads with this crate and check
//! the SIG payloads are sized for the certificate keys.
//!
//! Verifying the SIG payloads needs HASH_I/HASH_R, i.e. SKEYID, which the capture's decryption
//! table does not give (only the encryption key). That check belongs to the protocol core.

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
    assert_eq!(sigs.len(), 2);
    for (c, s) in certs.iter().zip(&sigs) {
        let key = c.public_key().unwrap();
        assert_eq!(s.len(), key.size(), "{}", c.subject());
        assert!(!c.subject().is_empty());
        // the SIG is over HASH_I/HASH_R, never over a random value: a wrong hash must fail
        assert!(key.verify_raw(&[0u8; 16], s).is_err());
        eprintln!(
            "CERT {} issued by {} ({} bits)",
            c.subject(),
            c.issuer(),
            key.bits()
        );
    }
}
