//! Locating the shared test material (`../shared/testdata` beside the
//! checkout, or `$RACOON_TESTDATA`).

#![allow(dead_code)]

use std::path::PathBuf;

/// The test-data directory, or `None` (with a loud message) when it is not
/// there. Under CI (`CI` set) its absence is a failure.
pub fn testdata() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("RACOON_TESTDATA").map(PathBuf::from),
        Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/testdata"
        ))),
    ];
    for c in candidates.into_iter().flatten() {
        if c.is_dir() {
            return Some(c);
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "shared/testdata not found beside the checkout (set RACOON_TESTDATA)"
    );
    eprintln!("SKIPPED: shared/testdata not found (set RACOON_TESTDATA)");
    None
}

pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim()).expect("hex")
}

/// Packets (link-layer stripped to the IPv4 header) from a pcap or pcapng
/// file, gzip-compressed or not. Just enough of the formats for captures in
/// the test data: Ethernet, Linux cooked (v1) and raw-IP link types.
pub fn ipv4_packets(path: &std::path::Path) -> Vec<Vec<u8>> {
    let mut data = std::fs::read(path).expect("read capture");
    if data.starts_with(&[0x1f, 0x8b]) {
        data = gunzip(&data);
    }
    let mut frames: Vec<(u32, Vec<u8>)> = Vec::new();
    let le32 = |b: &[u8], o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    if data.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        // pcapng (little-endian sections only).
        let mut links = Vec::new();
        let mut off = 0;
        while off + 12 <= data.len() {
            let btype = le32(&data, off);
            let blen = le32(&data, off + 4) as usize;
            if blen < 12 || off + blen > data.len() {
                break;
            }
            let body = &data[off + 8..off + blen - 4];
            match btype {
                1 => links.push(u16::from_le_bytes([body[0], body[1]]) as u32),
                6 => {
                    let iface = le32(body, 0) as usize;
                    let caplen = le32(body, 12) as usize;
                    frames.push((links[iface], body[20..20 + caplen].to_vec()));
                }
                _ => {}
            }
            off += blen;
        }
    } else {
        // classic pcap, little-endian.
        let link = le32(&data, 20);
        let mut off = 24;
        while off + 16 <= data.len() {
            let caplen = le32(&data, off + 8) as usize;
            frames.push((link, data[off + 16..off + 16 + caplen].to_vec()));
            off += 16 + caplen;
        }
    }
    frames
        .into_iter()
        .filter_map(|(link, f)| {
            let ip = match link {
                1 if f.len() > 14 && f[12..14] == [0x08, 0x00] => &f[14..],
                113 if f.len() > 16 && f[14..16] == [0x08, 0x00] => &f[16..],
                101 | 228 => &f[..],
                _ => return None,
            };
            (!ip.is_empty() && ip[0] >> 4 == 4).then(|| ip.to_vec())
        })
        .collect()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let flags = data[3];
    let mut off = 10;
    if flags & 4 != 0 {
        off += 2 + u16::from_le_bytes([data[off], data[off + 1]]) as usize;
    }
    for bit in [8u8, 16] {
        if flags & bit != 0 {
            while data[off] != 0 {
                off += 1;
            }
            off += 1;
        }
    }
    if flags & 2 != 0 {
        off += 2;
    }
    miniz_oxide::inflate::decompress_to_vec(&data[off..]).expect("gunzip")
}
