//! Rough codec throughput: `cargo run -p pfkey --release --example codec_speed`.
use pfkey::*;
use std::time::Instant;

fn main() {
    let m = Message::new(MsgType::ADD, SaType::ESP)
        .with_seq(1)
        .with(Extension::Sa(Sa {
            spi: 0x1000,
            replay: 4,
            state: SaState::MATURE,
            auth: AuthAlg::HMAC_SHA1,
            encrypt: EncAlg::AES_CBC,
            flags: SaFlags::NONE,
        }))
        .with(Extension::Sa2(Sa2 {
            mode: Mode::TUNNEL,
            sequence: 0,
            reqid: 1,
        }))
        .with(Extension::LifetimeHard(Lifetime {
            addtime: 3600,
            ..Default::default()
        }))
        .with(Extension::LifetimeSoft(Lifetime {
            addtime: 2880,
            ..Default::default()
        }))
        .with(Extension::AddressSrc(Address::host(
            "192.0.2.1:0".parse().unwrap(),
        )))
        .with(Extension::AddressDst(Address::host(
            "192.0.2.2:0".parse().unwrap(),
        )))
        .with(Extension::KeyAuth(Key::new(&[1; 20]).unwrap()))
        .with(Extension::KeyEncrypt(Key::new(&[2; 16]).unwrap()));
    let bytes = m.encode().unwrap();
    let n = 1_000_000u32;
    let t = Instant::now();
    let mut acc = 0usize;
    for _ in 0..n {
        acc += Message::decode(std::hint::black_box(&bytes))
            .unwrap()
            .exts
            .len();
    }
    let d = t.elapsed();
    let t2 = Instant::now();
    let mut buf = Vec::with_capacity(256);
    for _ in 0..n {
        buf.clear();
        std::hint::black_box(&m).encode_into(&mut buf).unwrap();
        acc += buf.len();
    }
    let e = t2.elapsed();
    println!(
        "ADD message of {} bytes: decode {:.0} ns/msg, encode {:.0} ns/msg (size_of Extension = {} B) [{}]",
        bytes.len(),
        d.as_nanos() as f64 / f64::from(n),
        e.as_nanos() as f64 / f64::from(n),
        std::mem::size_of::<Extension>(),
        acc
    );
}
