//! Known-answer tests against packets made by other implementations:
//! RFC 3602's AES-CBC cases, ESP packets produced by the Linux kernel (via
//! scapy's test suite), and a real AES-CBC/HMAC-SHA1-96 capture (Wireshark).

mod common;

use common::{ipv4_packets, testdata, unhex};
use xform::{AuthAlg, EncAlg, EspParams, EspSa, XformError};

fn json(rel: &str) -> Option<serde_json::Value> {
    let dir = testdata()?;
    let text = std::fs::read_to_string(dir.join(rel)).expect("read vector file");
    Some(serde_json::from_str(&text).expect("parse vector json"))
}

/// RFC 3602 §4 cases 5–8: decrypt each packet, then re-create it byte for
/// byte from the plaintext with the same IV (RFC 4303 default padding).
#[test]
fn rfc3602_cases_decap_and_reencap() {
    let Some(v) = json("rub-nds-ipsec-sme/rfc3602-esp-cases-5-8.json") else {
        return;
    };
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for c in cases {
        let key = unhex(c["aes_cbc_key"].as_str().unwrap());
        let spi = u32::from_str_radix(c["spi"].as_str().unwrap(), 16).unwrap();
        let seq = c["seq"].as_u64().unwrap();
        let packet = unhex(c["esp_packet_without_ip_header"].as_str().unwrap());
        let payload = unhex(c["plaintext_payload"].as_str().unwrap());
        let iv = unhex(c["iv"].as_str().unwrap());
        let params = EspParams::new(spi, EncAlg::AesCbc, &key, AuthAlg::None, &[]);

        let mut rx = EspSa::new(&params).unwrap();
        let mut pkt = packet.clone();
        let d = rx
            .decap(&mut pkt)
            .unwrap_or_else(|err| panic!("{}: {err}", c["case"]));
        assert_eq!(&pkt[d.payload.clone()], &payload[..]);
        assert_eq!(d.seq, seq);
        let nh = d.next_header;
        assert!(nh == 1 || nh == 4, "next header {nh}");
        // The same packet again is a replay.
        let mut again = packet.clone();
        assert_eq!(rx.decap(&mut again), Err(XformError::Replay));

        // Re-encapsulate: advance the sender to seq - 1 first.
        let mut tx = EspSa::new(&params).unwrap();
        let mut buf = vec![0u8; 64 + payload.len() + tx.trailer_room()];
        for _ in 1..seq {
            buf[64..64 + payload.len()].copy_from_slice(&payload);
            tx.encap(&mut buf, 64, 64 + payload.len(), nh).unwrap();
        }
        buf[64..64 + payload.len()].copy_from_slice(&payload);
        let r = tx
            .encap_with_iv(&mut buf, 64, 64 + payload.len(), nh, &iv)
            .unwrap();
        assert_eq!(hex::encode(&buf[r]), hex::encode(&packet), "{}", c["case"]);
    }
}

fn scapy_field<'a>(sa: &'a str, name: &str) -> Option<&'a str> {
    let start = sa.find(&format!("{name}="))? + name.len() + 1;
    let rest = &sa[start..];
    if let Some(r) = rest.strip_prefix("b'") {
        return Some(&r[..r.find('\'')?]);
    }
    if let Some(r) = rest.strip_prefix('\'') {
        return Some(&r[..r.find('\'')?]);
    }
    Some(rest.split([',', ')']).next()?.trim())
}

/// ESP packets made by the Linux kernel (scapy's reference set): each one we
/// implement decapsulates to the captured plaintext; tampering with any byte
/// of an authenticated packet is caught.
#[test]
fn linux_kernel_esp_packets() {
    let Some(v) = json("scapy-linux-esp/linux-esp-reference-packets.json") else {
        return;
    };
    let mut checked = 0;
    for e in v.as_array().unwrap() {
        let sa = e["scapy_sa"].as_str().unwrap();
        let enc = match scapy_field(sa, "crypt_algo").unwrap() {
            "DES" => EncAlg::DesCbc,
            "3DES" => EncAlg::TripleDesCbc,
            "AES-CBC" => EncAlg::AesCbc,
            "AES-CTR" => EncAlg::AesCtr,
            "Blowfish" => EncAlg::BlowfishCbc,
            "CAST" => EncAlg::Cast128Cbc,
            "AES-GCM" => EncAlg::AesGcm16,
            // RFC 4543 GMAC and RFC 4309 CCM are not offered by the engine.
            _ => continue,
        };
        let key = scapy_field(sa, "crypt_key").unwrap().as_bytes().to_vec();
        let esn = sa.contains("esn_en = True");
        let mut params = EspParams::new(
            e["spi"].as_u64().unwrap() as u32,
            enc,
            &key,
            AuthAlg::None,
            &[],
        );
        params.esn = esn;
        let mut rx = EspSa::new(&params).unwrap();
        if esn {
            // scapy's `esn = 0x1`: the high half of the sequence number is 1.
            rx.set_inbound_top(1 << 32);
        }
        let mut pkt = unhex(e["esp_hex"].as_str().unwrap());
        let plain = unhex(e["decrypted_ip_hex"].as_str().unwrap());
        let d = rx
            .decap(&mut pkt)
            .unwrap_or_else(|err| panic!("{}: {err}", e["test"]));
        // scapy shows the decrypted packet as the outer IPv4 header (protocol
        // = ESP next header) followed by the payload.
        assert_eq!(d.next_header, plain[9], "{}", e["test"]);
        assert_eq!(&pkt[d.payload], &plain[20..], "{}", e["test"]);
        if enc.is_aead() {
            let mut bad = unhex(e["esp_hex"].as_str().unwrap());
            let n = bad.len();
            bad[n - 20] ^= 1;
            let mut rx = EspSa::new(&params).unwrap();
            if esn {
                rx.set_inbound_top(1 << 32);
            }
            assert_eq!(rx.decap(&mut bad), Err(XformError::BadIcv));
        }
        checked += 1;
    }
    assert_eq!(checked, 8, "every supported Linux vector was checked");
}

/// A real tunnel-mode capture (Wireshark's test suite) with AES-CBC-128 and
/// HMAC-SHA1-96 keys: every ESP packet verifies and decrypts to an IPv4
/// ICMP packet, and a flipped ICV bit is refused.
#[test]
fn wireshark_esp_capture_with_keys() {
    let Some(dir) = testdata() else {
        return;
    };
    let sa_rows = std::fs::read_to_string(dir.join("wireshark/esp_sa")).unwrap();
    let packets = ipv4_packets(&dir.join("wireshark/esp-bug-12671.pcapng.gz"));
    let mut decrypted = 0;
    for row in sa_rows.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = row.split(',').map(|s| s.trim_matches('"')).collect();
        let spi = u32::from_str_radix(f[3].trim_start_matches("0x"), 16).unwrap();
        let ekey = unhex(f[5].trim_start_matches("0x"));
        let akey = unhex(f[7].trim_start_matches("0x"));
        let params = EspParams::new(spi, EncAlg::AesCbc, &ekey, AuthAlg::HmacSha1, &akey);
        let mut rx = EspSa::new(&params).unwrap();
        for ip in &packets {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            if ip[9] != 50 || ip.len() < ihl + 8 {
                continue;
            }
            let esp = &ip[ihl..];
            if u32::from_be_bytes([esp[0], esp[1], esp[2], esp[3]]) != spi {
                continue;
            }
            let mut tampered = esp.to_vec();
            let n = tampered.len();
            tampered[n - 1] ^= 0x80;
            assert_eq!(
                EspSa::new(&params).unwrap().decap(&mut tampered),
                Err(XformError::BadIcv)
            );
            let mut pkt = esp.to_vec();
            let d = rx.decap(&mut pkt).expect("capture packet decapsulates");
            assert_eq!(d.next_header, 4, "tunnel mode: IPv4 inside");
            let inner = &pkt[d.payload];
            assert_eq!(inner[0] >> 4, 4);
            assert_eq!(inner[9], 1, "ICMP inside");
            assert_eq!(
                usize::from(u16::from_be_bytes([inner[2], inner[3]])),
                inner.len()
            );
            decrypted += 1;
        }
    }
    assert!(decrypted >= 4, "decrypted {decrypted} packets");
}
