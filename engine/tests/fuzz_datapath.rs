//! Replays the datapath fuzz target's seed corpus (engine/fuzz/corpus/datapath)
//! through the same entry function, so CI exercises it without cargo-fuzz.
//! `ENGINE_WRITE_CORPUS=1 cargo test -p engine --test fuzz_datapath` regenerates
//! the seeds (valid packets made by a side-A kernel, so the fuzzer starts from
//! packets that pass every check).

use std::path::PathBuf;

use engine::datapath::{fuzz_entry, fuzz_kernel, PacketBuf, Verdict};
use engine::Now;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/datapath")
}

fn v4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0,
        0,
        64,
        proto,
        0,
        0,
    ];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    p
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let now = Now::new(std::time::Instant::now(), 1_700_000_000);
    let mut a = fuzz_kernel(true);
    let echo = [8u8, 0, 0, 0, 0, 1, 0, 1, b'p', b'i', b'n', b'g'];
    let mut text = Vec::new();
    for i in 0..200u8 {
        text.push(b'a' + i % 4);
    }
    let mut seeds = Vec::new();
    let mut wire = |pkt: &[u8]| {
        let mut buf = PacketBuf::new();
        buf.load(pkt);
        match a.outbound(now, &mut buf, &mut Vec::new()) {
            Verdict::Raw { packet, .. } => buf.get(packet).to_vec(),
            v => panic!("seed: {v:?}"),
        }
    };
    let tunnel = wire(&v4([198, 51, 100, 1], [198, 51, 100, 129], 1, &echo));
    let bundle = wire(&v4([192, 0, 2, 1], [192, 0, 2, 2], 17, &text));
    seeds.push(("in-esp-tunnel", [&[0u8][..], &tunnel].concat()));
    seeds.push(("in-ipcomp-esp-ah", [&[0u8][..], &bundle].concat()));
    seeds.push(("in-udp-esp", [&[1u8][..], &tunnel[20..]].concat()));
    seeds.push((
        "out-tunnel",
        [
            &[2u8][..],
            &v4([198, 51, 100, 129], [198, 51, 100, 1], 1, &echo),
        ]
        .concat(),
    ));
    seeds.push((
        "out-transport-udp",
        [&[2u8][..], &v4([192, 0, 2, 2], [192, 0, 2, 1], 6, &text)].concat(),
    ));
    seeds.push(("short", vec![0, 0x45, 0]));
    // A TSO super-packet (3000 bytes of TCP payload, MSS 1360) behind its vnet header.
    let mut tcp = v4([198, 51, 100, 1], [198, 51, 100, 129], 6, &[0u8; 3020]);
    tcp[20 + 12] = 5 << 4;
    tcp[20 + 13] = 0x18;
    let mut vnet = vec![1u8, 1, 40, 0];
    vnet.extend_from_slice(&1360u16.to_le_bytes());
    vnet.extend_from_slice(&20u16.to_le_bytes());
    vnet.extend_from_slice(&16u16.to_le_bytes());
    seeds.push(("tso", [&[3u8][..], &vnet, &tcp].concat()));
    // Two in-order segments for the coalescer (split at 0xA5).
    let seg = |seq: u32| {
        let mut p = v4([198, 51, 100, 129], [198, 51, 100, 1], 6, &[1u8; 120]);
        p[24..28].copy_from_slice(&seq.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = 0x10;
        p
    };
    seeds.push(("gro", [&[4u8][..], &seg(1), &[0xa5], &seg(101)].concat()));
    seeds
}

#[test]
fn seeds_are_accepted_where_they_should_be() {
    // The tunnel seed decrypts on side B (checked here, not only "no panic").
    let now = Now::new(std::time::Instant::now(), 1_700_000_000);
    let mut b = fuzz_kernel(false);
    for (name, data) in seeds() {
        let mut buf = PacketBuf::new();
        buf.load(&data[1..]);
        let v = match data[0] {
            0 if name != "short" => b.inbound(now, &mut buf, &mut Vec::new()),
            _ => continue,
        };
        assert!(matches!(v, Verdict::ToTun(_)), "{name}: {v:?}");
    }
}

#[test]
fn corpus_replays_without_panic() {
    let dir = corpus_dir();
    if std::env::var_os("ENGINE_WRITE_CORPUS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in seeds() {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("corpus dir") {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        fuzz_entry(&data);
        n += 1;
    }
    assert!(n >= 8, "corpus has {n} files");
    for (_, data) in seeds() {
        fuzz_entry(&data);
    }
}
