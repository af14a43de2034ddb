//! Test helpers: a tiny pcap/pcapng reader that extracts UDP payloads (Ethernet/IPv4/IPv6).
#![allow(dead_code)]

use std::path::PathBuf;

pub fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata")
        .join(rel)
}

/// One UDP datagram from a capture.
#[derive(Debug, Clone)]
pub struct Udp {
    pub sport: u16,
    pub dport: u16,
    pub payload: Vec<u8>,
}

fn u16le(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}
fn u32le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn frames(data: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    if data.len() >= 24 && data[..4] == [0xd4, 0xc3, 0xb2, 0xa1] {
        let link = u32le(&data[20..]);
        let mut p = 24;
        while p + 16 <= data.len() {
            let incl = u32le(&data[p + 8..]) as usize;
            let s = p + 16;
            if s + incl > data.len() {
                break;
            }
            out.push((link, data[s..s + incl].to_vec()));
            p = s + incl;
        }
    } else if data.len() >= 12 && data[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut links = Vec::new();
        let mut p = 0;
        while p + 12 <= data.len() {
            let ty = u32le(&data[p..]);
            let len = u32le(&data[p + 4..]) as usize;
            if len < 12 || p + len > data.len() {
                break;
            }
            let b = &data[p + 8..p + len - 4];
            match ty {
                1 => links.push(u32::from(u16le(b))),
                6 => {
                    let iface = u32le(b) as usize;
                    let cap = u32le(&b[12..]) as usize;
                    let link = links.get(iface).copied().unwrap_or(1);
                    out.push((link, b[20..20 + cap].to_vec()));
                }
                _ => {}
            }
            p += len;
        }
    }
    out
}

/// All UDP datagrams of a pcap or pcapng file (Ethernet, raw IP or Linux cooked links).
pub fn udp_datagrams(path: &std::path::Path) -> Vec<Udp> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    udp_datagrams_in(&data)
}

/// All UDP datagrams of a pcap or pcapng image in memory.
pub fn udp_datagrams_in(data: &[u8]) -> Vec<Udp> {
    let mut v = Vec::new();
    for (link, f) in frames(data) {
        let ip = match link {
            1 => {
                let mut off = 14;
                let mut et = u16::from_be_bytes([f[12], f[13]]);
                while et == 0x8100 {
                    et = u16::from_be_bytes([f[off + 2], f[off + 3]]);
                    off += 4;
                }
                &f[off..]
            }
            101 => &f[..],
            113 => &f[16..],
            276 => &f[20..],
            _ => continue,
        };
        if ip.is_empty() {
            continue;
        }
        let (proto, l4) = match ip[0] >> 4 {
            4 => {
                let ihl = usize::from(ip[0] & 15) * 4;
                let tot = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
                (ip[9], &ip[ihl..tot])
            }
            6 => {
                let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
                (ip[6], &ip[40..(40 + plen).min(ip.len())])
            }
            _ => continue,
        };
        if proto != 17 || l4.len() < 8 {
            continue;
        }
        let ulen = usize::from(u16::from_be_bytes([l4[4], l4[5]])).min(l4.len());
        v.push(Udp {
            sport: u16::from_be_bytes([l4[0], l4[1]]),
            dport: u16::from_be_bytes([l4[2], l4[3]]),
            payload: l4[8..ulen.max(8)].to_vec(),
        });
    }
    v
}

/// IKE messages (non-ESP marker stripped on 4500; ESP and keepalives skipped).
pub fn ike_messages(path: &std::path::Path) -> Vec<Vec<u8>> {
    ike_messages_in(udp_datagrams(path))
}

/// IKE messages among the given datagrams.
pub fn ike_messages_in(d: Vec<Udp>) -> Vec<Vec<u8>> {
    d.into_iter()
        .filter_map(|u| {
            if u.sport == 4500 || u.dport == 4500 {
                match isakmp::classify_port_4500(&u.payload) {
                    Ok(isakmp::Port4500::Ike(b)) => Some(b.to_vec()),
                    _ => None,
                }
            } else if u.sport == 500 || u.dport == 500 {
                Some(u.payload)
            } else {
                None
            }
        })
        .collect()
}

pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Extracts every `"key": "hexstring"` value for a given key from a JSON text (tiny, no serde).
pub fn json_hex_values(text: &str, key: &str) -> Vec<Vec<u8>> {
    let pat = format!("\"{key}\"");
    let mut v = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(&pat) {
        rest = &rest[i + pat.len()..];
        let Some(q1) = rest.find('"') else { break };
        let after = &rest[q1 + 1..];
        let Some(q2) = after.find('"') else { break };
        v.push(hex(&after[..q2]));
        rest = &after[q2..];
    }
    v
}
