//! RSA-2048 raw-hash PKCS#1 v1.5 sign/verify (the SIG payload) and certificate chain validation.
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;

fn data(n: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(n)
}

fn bench(c: &mut Criterion) {
    let key = pki::load::load_private_key(&data("end.key")).unwrap();
    let pubk = key.public_key();
    let h = [0x5au8; 20];
    let sig = key.sign_raw(&h).unwrap();
    c.bench_function("rsa2048_sign_raw", |b| b.iter(|| key.sign_raw(&h).unwrap()));
    c.bench_function("rsa2048_verify_raw", |b| {
        b.iter(|| pubk.verify_raw(&h, &sig).unwrap())
    });
    let mut store = pki::TrustStore::new();
    pki::load::load_ca_dir(&data("certdir"), &mut store).unwrap();
    let end = pki::load::load_certificates(&data("end.crt"))
        .unwrap()
        .remove(0);
    c.bench_function("chain3_verify", |b| {
        b.iter(|| store.verify(&end, &[], 1_893_456_000).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
