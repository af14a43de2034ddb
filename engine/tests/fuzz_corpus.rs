//! Replays the handler fuzz target's seed corpus (engine/fuzz/corpus/handler)
//! through the same entry function, so CI exercises it without cargo-fuzz.
//! `ENGINE_WRITE_CORPUS=1 cargo test -p engine --test fuzz_corpus` regenerates the seeds.

use std::path::PathBuf;

use pfkey::{
    Address, AuthAlg, Dir, EncAlg, Endpoints, Extension, IpsecProto, IpsecRequest, Key, Level,
    Lifetime, Message, Mode, MsgType, Policy, PolicyType, Sa, SaType, SpiRange,
};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/handler")
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let a = |s: &str| Address::host(format!("{s}:0").parse().unwrap());
    let add = Message::new(MsgType::ADD, SaType::ESP)
        .with_seq(1)
        .with(Extension::Sa(Sa {
            spi: 0x1000,
            replay: 4,
            auth: AuthAlg::HMAC_SHA1,
            encrypt: EncAlg::AES_CBC,
            ..Default::default()
        }))
        .with(Extension::LifetimeHard(Lifetime {
            addtime: 30,
            bytes: 5000,
            ..Default::default()
        }))
        .with(Extension::LifetimeSoft(Lifetime {
            addtime: 20,
            ..Default::default()
        }))
        .with(Extension::AddressSrc(a("192.0.2.1")))
        .with(Extension::AddressDst(a("192.0.2.2")))
        .with(Extension::KeyAuth(Key::new(&[1; 20]).unwrap()))
        .with(Extension::KeyEncrypt(Key::new(&[2; 16]).unwrap()));
    let register = Message::new(MsgType::REGISTER, SaType::ESP).with_seq(2);
    let getspi = Message::new(MsgType::GETSPI, SaType::ESP)
        .with_seq(3)
        .with(Extension::AddressSrc(a("192.0.2.2")))
        .with(Extension::AddressDst(a("192.0.2.1")))
        .with(Extension::SpiRange(SpiRange {
            min: 0x100,
            max: 0x1ff,
        }));
    let mut xp = Policy::new(PolicyType::IPSEC, Dir::OUT);
    xp.requests.push(IpsecRequest {
        proto: IpsecProto::ESP,
        mode: Mode::TUNNEL,
        level: Level::UNIQUE,
        reqid: 0,
        tunnel: Some(Endpoints {
            src: "192.0.2.1:0".parse().unwrap(),
            dst: "192.0.2.2:0".parse().unwrap(),
        }),
    });
    let spdadd = Message::new(MsgType::X_SPDADD, SaType::UNSPEC)
        .with(Extension::AddressSrc(Address::new(
            "10.0.0.0:0".parse().unwrap(),
            8,
            255,
        )))
        .with(Extension::AddressDst(Address::new(
            "10.1.0.0:0".parse().unwrap(),
            16,
            255,
        )))
        .with(Extension::LifetimeHard(Lifetime {
            addtime: 10,
            ..Default::default()
        }))
        .with(Extension::Policy(xp));
    let dump = Message::new(MsgType::DUMP, SaType::UNSPEC);
    let spddump = Message::new(MsgType::X_SPDDUMP, SaType::UNSPEC);
    let promisc = Message::new(MsgType::X_PROMISC, SaType(1));
    let enc = |m: &Message| m.encode().unwrap();
    let mut session = Vec::new();
    for m in [&promisc, &register, &add, &getspi, &spdadd, &dump, &spddump] {
        session.extend(enc(m));
    }
    let mut truncated = enc(&add);
    truncated.truncate(40);
    vec![
        ("add", enc(&add)),
        ("register", enc(&register)),
        ("getspi", enc(&getspi)),
        ("spdadd_tunnel", enc(&spdadd)),
        ("session", session),
        ("truncated_add", truncated),
        ("short", vec![2, 3, 0]),
    ]
}

#[test]
fn replay_corpus() {
    if std::env::var_os("ENGINE_WRITE_CORPUS").is_some() {
        std::fs::create_dir_all(corpus_dir()).unwrap();
        for (name, bytes) in seeds() {
            std::fs::write(corpus_dir().join(name), bytes).unwrap();
        }
    }
    let mut n = 0;
    for entry in std::fs::read_dir(corpus_dir()).expect("corpus directory") {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        engine::handler::fuzz_entry(&data);
        n += 1;
    }
    assert!(n >= 7, "seed corpus has {n} files");
    // the seeds are the current encodings: the corpus stays meaningful
    for (name, bytes) in seeds() {
        let on_disk = std::fs::read(corpus_dir().join(name)).unwrap();
        assert_eq!(
            on_disk, bytes,
            "{name} is stale: regenerate with ENGINE_WRITE_CORPUS=1"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    /// A small in-CI stand-in for the fuzzer: byte mutations of the session seed.
    #[test]
    fn mutated_sessions_never_panic(
        edits in proptest::collection::vec((0usize..504, proptest::num::u8::ANY), 1..12),
        cut in 0usize..504,
    ) {
        let mut data = seeds().into_iter().find(|(n, _)| *n == "session").unwrap().1;
        for (i, b) in edits {
            let l = data.len();
            data[i % l] = b;
        }
        data.truncate(cut.max(16));
        engine::handler::fuzz_entry(&data);
    }
}
