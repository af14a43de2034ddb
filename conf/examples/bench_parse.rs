//! Parse a generated racoon.conf with N remotes and N sainfos (default 5000) and print the
//! time: `cargo run --release -p conf --example bench_parse [N]`.

use std::fmt::Write;
use std::time::Instant;

fn generate(n: usize) -> String {
    let mut s = String::from("path pre_shared_key \"/etc/racoon/psk.txt\";\nlog notify;\n");
    for i in 0..n {
        let (a, b) = (i / 250, i % 250 + 1);
        let _ = write!(
            s,
            "remote 10.{a}.{b}.1 [500] {{\n\texchange_mode main, aggressive;\n\tmy_identifier fqdn \"gw{i}.example.net\";\n\tpeers_identifier address 10.{a}.{b}.1;\n\tlifetime time 8 hour;\n\tdpd_delay 30;\n\tproposal {{\n\t\tencryption_algorithm aes 256;\n\t\thash_algorithm sha256;\n\t\tauthentication_method pre_shared_key;\n\t\tdh_group modp2048;\n\t}}\n\tproposal {{\n\t\tencryption_algorithm 3des;\n\t\thash_algorithm sha1;\n\t\tauthentication_method pre_shared_key;\n\t\tdh_group 14;\n\t}}\n}}\n"
        );
        let _ = write!(
            s,
            "sainfo address 172.{a}.{b}.0/24 any address 192.{a}.{b}.0/24 any {{\n\tpfs_group modp2048;\n\tlifetime time 1 hour;\n\tencryption_algorithm aes 128, aes 256, 3des;\n\tauthentication_algorithm hmac_sha256, hmac_sha1;\n\tcompression_algorithm deflate;\n}}\n"
        );
    }
    s
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let src = generate(n);
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let p = conf::parse(&src, "generated.conf").unwrap_or_else(|d| panic!("{}", d.render()));
        let dt = t.elapsed().as_secs_f64();
        assert_eq!((p.config.remotes.len(), p.config.sainfos.len()), (n, n));
        best = best.min(dt);
    }
    println!(
        "{n} remotes + {n} sainfos, {} bytes ({} lines): best of 5 parses {:.1} ms",
        src.len(),
        src.lines().count(),
        best * 1000.0
    );
}
