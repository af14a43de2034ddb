//! ESP packets made by the Linux kernel (shared testdata, scapy's reference
//! set) through the whole engine: SA installed over PF_KEY with the keys as
//! setkey would send them, packet in through `Kernel::inbound`, the inner
//! packet out to the TUN side only when it matches the inbound policy.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Instant;

use engine::datapath::{DropReason, PacketBuf, Verdict};
use engine::handler::Kernel;
use engine::Now;
use pfkey::{
    Address, AuthAlg, Dir, EncAlg, Endpoints, Extension, IpsecProto, IpsecRequest, Key, Level,
    Message, Mode, MsgType, Policy, PolicyType, Sa, Sa2, SaType,
};
use rand::SeedableRng;

fn testdata() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata");
    if p.exists() {
        Some(p)
    } else if std::env::var("CI").as_deref() == Ok("true") {
        panic!("shared testdata missing at {}", p.display());
    } else {
        eprintln!("SKIPPED: no shared testdata at {}", p.display());
        None
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn field<'a>(sa: &'a str, name: &str) -> Option<&'a str> {
    let rest = &sa[sa.find(&format!("{name}="))? + name.len() + 1..];
    if let Some(r) = rest.strip_prefix("b'").or_else(|| rest.strip_prefix('\'')) {
        return Some(&r[..r.find('\'')?]);
    }
    Some(rest.split([',', ')']).next()?.trim())
}

#[test]
fn linux_made_esp_through_the_engine() {
    let Some(dir) = testdata() else { return };
    let text =
        std::fs::read_to_string(dir.join("scapy-linux-esp/linux-esp-reference-packets.json"))
            .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let now = Now::new(Instant::now(), 1_700_000_000);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut checked = 0;
    for e in v.as_array().unwrap() {
        let sa = e["scapy_sa"].as_str().unwrap();
        if sa.contains("esn_en = True") {
            continue; // ESN needs the high half from negotiation; covered in xform
        }
        let enc = match field(sa, "crypt_algo").unwrap() {
            "DES" => 2,
            "3DES" => 3,
            "AES-CBC" => 12,
            "AES-CTR" => 13,
            "Blowfish" => 7,
            "CAST" => 6,
            "AES-GCM" => 20,
            _ => continue,
        };
        let key = field(sa, "crypt_key").unwrap().as_bytes().to_vec();
        let spi = e["spi"].as_u64().unwrap() as u32;
        let plain = unhex(e["decrypted_ip_hex"].as_str().unwrap());
        let esp = unhex(e["esp_hex"].as_str().unwrap());
        // The captured outer header, with protocol ESP and the ESP length.
        let mut pkt = plain[..20].to_vec();
        pkt[9] = 50;
        let total = (20 + esp.len()) as u16;
        pkt[2..4].copy_from_slice(&total.to_be_bytes());
        pkt.extend_from_slice(&esp);
        let src = IpAddr::from([pkt[12], pkt[13], pkt[14], pkt[15]]);
        let dst = IpAddr::from([pkt[16], pkt[17], pkt[18], pkt[19]]);

        for with_policy in [true, false] {
            let mut k = Kernel::default();
            k.connect(1);
            let add = Message::new(MsgType::ADD, SaType::ESP)
                .with(Extension::Sa(Sa {
                    spi,
                    replay: 32,
                    auth: AuthAlg(0),
                    encrypt: EncAlg(enc),
                    ..Default::default()
                }))
                .with(Extension::AddressSrc(Address::host(SocketAddr::new(
                    src, 0,
                ))))
                .with(Extension::AddressDst(Address::host(SocketAddr::new(
                    dst, 0,
                ))))
                .with(Extension::Sa2(Sa2 {
                    mode: Mode(2),
                    sequence: 0,
                    reqid: 0,
                }))
                .with(Extension::KeyEncrypt(Key::new(&key).unwrap()));
            let out = k.handle_message(now, 1, add, &mut rng);
            assert_eq!(out[0].msg.header.errno, 0, "{}", e["test"]);
            if with_policy {
                let mut p = Policy::new(PolicyType::IPSEC, Dir::IN);
                p.requests.push(IpsecRequest {
                    proto: IpsecProto(50),
                    mode: Mode(2),
                    level: Level(2),
                    reqid: 0,
                    tunnel: Some(Endpoints {
                        src: SocketAddr::new(src, 0),
                        dst: SocketAddr::new(dst, 0),
                    }),
                });
                let any = Address::new(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0), 0, 255);
                let m = Message::new(MsgType::X_SPDADD, SaType::UNSPEC)
                    .with(Extension::AddressSrc(any))
                    .with(Extension::AddressDst(any))
                    .with(Extension::Policy(p));
                assert_eq!(k.handle_message(now, 1, m, &mut rng)[0].msg.header.errno, 0);
            }
            let mut buf = PacketBuf::new();
            buf.load(&pkt);
            let v = k.inbound(now, &mut buf, &mut Vec::new());
            if with_policy {
                match v {
                    Verdict::ToTun(r) => assert_eq!(buf.get(r), &plain[20..], "{}", e["test"]),
                    v => panic!("{}: {v:?}", e["test"]),
                }
            } else {
                assert_eq!(
                    v,
                    Verdict::Drop(DropReason::PolicyMismatch),
                    "{}",
                    e["test"]
                );
            }
        }
        checked += 1;
    }
    assert_eq!(
        checked, 7,
        "every supported non-ESN Linux vector went through"
    );
}
