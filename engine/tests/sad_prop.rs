//! Random sequences of ADD / DELETE / GETSPI / UPDATE keep the SAD consistent
//! with a simple model, and every reply's errno is the one the model predicts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use engine::handler::Kernel;
use engine::sad::{SaKey, SaState as EState};
use engine::Now;
use pfkey::{
    Address, AuthAlg, EncAlg, Extension, Key, Message, MsgType, Sa, SaState, SaType, SpiRange,
};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

const DSTS: [&str; 3] = ["192.0.2.1", "192.0.2.2", "2001:db8::2"];
const SPI_MIN: u32 = 0x1000;
const SPI_MAX: u32 = 0x1007; // a small range so collisions and exhaustion happen

#[derive(Clone, Debug)]
enum Op {
    Add(u32, usize),
    Delete(u32, usize),
    GetSpi(usize),
    Update(u32, usize),
    UpdateLarval(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let spi = SPI_MIN..=SPI_MAX;
    let dst = 0..DSTS.len();
    prop_oneof![
        (spi.clone(), dst.clone()).prop_map(|(s, d)| Op::Add(s, d)),
        (spi.clone(), dst.clone()).prop_map(|(s, d)| Op::Delete(s, d)),
        dst.clone().prop_map(Op::GetSpi),
        (spi, dst.clone()).prop_map(|(s, d)| Op::Update(s, d)),
        (0usize..16).prop_map(Op::UpdateLarval),
    ]
}

fn src_for(d: usize) -> &'static str {
    if DSTS[d].contains(':') {
        "2001:db8::1"
    } else {
        "192.0.2.100"
    }
}

fn addrs(m: Message, d: usize) -> Message {
    let s: SocketAddr = SocketAddr::new(src_for(d).parse().unwrap(), 0);
    let t: SocketAddr = SocketAddr::new(DSTS[d].parse().unwrap(), 0);
    m.with(Extension::AddressSrc(Address::host(s)))
        .with(Extension::AddressDst(Address::host(t)))
}

fn full_sa(t: MsgType, spi: u32, d: usize) -> Message {
    addrs(
        Message::new(t, SaType::ESP).with(Extension::Sa(Sa {
            spi,
            replay: 4,
            state: SaState::MATURE,
            auth: AuthAlg::HMAC_SHA256,
            encrypt: EncAlg::AES_CBC,
            ..Default::default()
        })),
        d,
    )
    .with(Extension::KeyAuth(Key::new(&[1; 32]).unwrap()))
    .with(Extension::KeyEncrypt(Key::new(&[2; 16]).unwrap()))
}

fn key(spi: u32, d: usize) -> SaKey {
    SaKey {
        spi,
        dst: DSTS[d].parse().unwrap(),
        satype: 3,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn sad_stays_consistent(ops in proptest::collection::vec(op(), 1..60), seed in any::<u64>()) {
        let now = Now::new(Instant::now(), 1);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut k = Kernel::default();
        k.connect(1);
        // model: key -> larval?
        let mut model: HashMap<SaKey, bool> = HashMap::new();
        let mut larvals: Vec<(u32, usize)> = Vec::new();
        for op in ops {
            let (msg, expect): (Message, Option<u8>) = match op {
                Op::Add(spi, d) => {
                    let e = if model.contains_key(&key(spi, d)) { 17 } else { 0 };
                    (full_sa(MsgType::ADD, spi, d), Some(e))
                }
                Op::Delete(spi, d) => {
                    let e = if model.contains_key(&key(spi, d)) { 0 } else { 3 };
                    (addrs(Message::new(MsgType::DELETE, SaType::ESP)
                        .with(Extension::Sa(Sa { spi, ..Default::default() })), d), Some(e))
                }
                Op::Update(spi, d) => {
                    let e = if model.contains_key(&key(spi, d)) { 0 } else { 3 };
                    (full_sa(MsgType::UPDATE, spi, d), Some(e))
                }
                Op::UpdateLarval(i) => {
                    let Some(&(spi, d)) = larvals.get(i % larvals.len().max(1)) else { continue };
                    let e = if model.contains_key(&key(spi, d)) { 0 } else { 3 };
                    (full_sa(MsgType::UPDATE, spi, d), Some(e))
                }
                Op::GetSpi(d) => {
                    let full = (SPI_MIN..=SPI_MAX).all(|s| model.contains_key(&key(s, d)));
                    (addrs(Message::new(MsgType::GETSPI, SaType::ESP)
                        .with(Extension::SpiRange(SpiRange { min: SPI_MIN, max: SPI_MAX })), d),
                     Some(if full { 11 } else { 0 }))
                }
            };
            let t = msg.header.msg_type;
            let out = k.handle_message(now, 1, msg.clone(), &mut rng);
            prop_assert_eq!(out.len(), 1);
            let reply = &out[0].msg;
            prop_assert_eq!(Some(reply.header.errno), expect, "{:?}", t);
            if reply.header.errno == 0 {
                let spi = reply.sa().map(|s| s.spi).unwrap_or(0);
                let d = DSTS.iter().position(|x| x.parse::<std::net::IpAddr>().unwrap()
                    == msg.addr_dst().unwrap().addr.ip()).unwrap();
                match t {
                    MsgType::ADD => { model.insert(key(spi, d), false); }
                    MsgType::UPDATE => { model.insert(key(spi, d), false); }
                    MsgType::DELETE => { model.remove(&key(spi, d)); }
                    MsgType::GETSPI => {
                        prop_assert!((SPI_MIN..=SPI_MAX).contains(&spi));
                        prop_assert!(!model.contains_key(&key(spi, d)), "SPI reused");
                        model.insert(key(spi, d), true);
                        larvals.push((spi, d));
                    }
                    _ => unreachable!(),
                }
            }
            // the SAD is exactly the model
            prop_assert_eq!(k.sad().len(), model.len());
            for (kk, larval) in &model {
                let sa = k.sad().get(kk);
                prop_assert!(sa.is_some());
                let sa = sa.unwrap();
                prop_assert_eq!(sa.key(), *kk);
                prop_assert_eq!(sa.state == EState::Larval, *larval);
            }
            let dumped = k.sad().dump(0).len();
            prop_assert_eq!(dumped, model.len());
        }
    }
}
