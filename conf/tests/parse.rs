//! Parsing of complete configurations: testdata, man-page examples, every directive.

use conf::algs::*;
use conf::*;
use std::net::IpAddr;

fn fixture(name: &str) -> String {
    let p = format!("{}/tests/fixtures/{}", env!("CARGO_MANIFEST_DIR"), name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn ok(src: &str) -> Parsed {
    match parse(src, "test.conf") {
        Ok(p) => p,
        Err(d) => panic!("unexpected errors:\n{}", d.render()),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn libreswan_interop_configs_parse() {
    let base = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/libreswan/interop-racoon"
    );
    let mut n = 0;
    for dir in std::fs::read_dir(base).expect("shared/testdata must be beside the work tree") {
        let dir = dir.unwrap().path();
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with("racoon.conf") {
                let parsed = load(&f).unwrap_or_else(|d| panic!("{}", d.render()));
                let c = &parsed.config;
                assert_eq!(c.log, LogLevel::Debug2);
                assert_eq!(
                    c.paths.pre_shared_key.as_deref(),
                    Some("/etc/racoon/psk.txt")
                );
                assert_eq!(c.remotes.len(), 1);
                let r = &c.remotes[0];
                assert_eq!(r.selector, RemoteSelector::Anonymous { port: 500 });
                assert_eq!(r.lifetime, 24 * 3600);
                assert_eq!(r.ike_frag, Tristate::On);
                assert_eq!(r.generate_policy, GeneratePolicy::On);
                assert!(r.verify_identifier);
                let p = &r.proposals[0];
                assert_eq!(
                    p.encryption,
                    WithKeyLen {
                        alg: IkeEnc::Aes,
                        key_len: Some(128)
                    }
                );
                assert_eq!(p.dh_group, DhGroup::Modp1536);
                let s = &c.sainfos[0];
                assert_eq!(s.lifetime, 12 * 3600);
                assert_eq!(s.pfs_group, Some(DhGroup::Modp1536));
                assert_eq!(s.compression, vec![CompAlg::Deflate]);
                n += 1;
            } else if name.ends_with("psk.txt") {
                let text = std::fs::read_to_string(&f).unwrap();
                let psk = parse_psk(&text).unwrap();
                assert_eq!(
                    psk.lookup("192.1.2.23").unwrap().expose(),
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890"
                );
            }
        }
    }
    assert_eq!(n, 4, "expected the four interop-racoon configs");
}

#[test]
fn man_page_example_psk() {
    let p = ok(&fixture("man-psk-anonymous.conf"));
    let r = &p.config.remotes[0];
    assert_eq!(
        r.exchange_mode,
        vec![
            ExchangeMode::Aggressive,
            ExchangeMode::Main,
            ExchangeMode::Base
        ]
    );
    assert_eq!(r.lifetime, 8 * 3600);
    assert_eq!(r.proposals[0].encryption.alg.number(), 5);
    let s = &p.config.sainfos[0];
    assert_eq!(s.lifetime, 3600);
    let enc: Vec<_> = s.encryption.iter().map(|e| (e.alg, e.key_len)).collect();
    assert_eq!(
        enc,
        vec![
            (EspEnc::TripleDes, None),
            (EspEnc::Blowfish, Some(448)),
            (EspEnc::Twofish, Some(128)),
            (EspEnc::Aes, Some(128))
        ]
    );
    assert_eq!(s.authentication, vec![AuthAlg::HmacSha1, AuthAlg::HmacMd5]);
    assert!(p.warnings.list.is_empty());
}

#[test]
fn man_page_example_plain_rsa() {
    let p = ok(&fixture("man-plain-rsa.conf"));
    let r = &p.config.remotes[0];
    assert_eq!(
        r.certificate_type,
        Some(CertType::PlainRsa {
            key: "/etc/racoon/keys/local.priv".into()
        })
    );
    assert_eq!(
        r.peers_certfile,
        Some(PeersCert::PlainRsa("/etc/racoon/keys/peer.pub".into()))
    );
    // plain_rsa switches certificate exchange off.
    assert!(!r.send_cr && !r.send_cert && !r.verify_cert);
    assert_eq!(r.proposals[0].auth_method, AuthMethod::RsaSig);
}

#[test]
fn man_page_example_psk_file() {
    let f = parse_psk(&fixture("man-psk.txt")).unwrap();
    assert_eq!(f.entries.len(), 7);
    assert_eq!(
        f.lookup("198.51.100.7").unwrap().expose(),
        &[0x01, 0x23, 0xab, 0xcd]
    );
    assert_eq!(
        f.lookup("203.0.113.1").unwrap().expose(),
        b"a key with blanks"
    );
    assert_eq!(f.lookup("bob@example.net").unwrap().expose(), b"bobs-key");
    assert!(f.lookup("unknown").is_none());
}

#[test]
fn defaults_are_racoons_code_values() {
    let c = Config::default();
    assert_eq!(
        c.timer,
        Timer {
            counter: 5,
            interval: 10,
            persend: 1,
            phase1: 30,
            phase2: 30,
            natt_keepalive: 20
        }
    );
    assert!(c.complex_bundle);
    assert_eq!(c.log, LogLevel::Info);
    assert_eq!(c.paths.pidfile, "/var/run/racoon.pid");
    assert_eq!(
        c.listen.adminsock,
        AdminSock::Path {
            path: "/var/racoon/racoon.sock".into(),
            owner: NameOrId::Id(0),
            group: NameOrId::Id(0),
            mode: 0o600
        }
    );
    assert!(c.padding.randomize && c.padding.exclusive_tail && !c.padding.strict_check);
    assert_eq!(c.padding.maximum_length, 20);
    let p = ok("remote 192.0.2.1 { exchange_mode main; proposal { encryption_algorithm aes; hash_algorithm sha1; authentication_method pre_shared_key; dh_group 2; } }");
    let r = &p.config.remotes[0];
    assert_eq!(r.name, "192.0.2.1[500]");
    assert_eq!(r.my_identifier, Identifier::Address(None));
    assert!(r.verify_cert && r.send_cert && r.send_cr && !r.match_empty_cr);
    assert_eq!(
        (r.nonce_size, r.lifetime, r.proposal_check),
        (16, 28800, ProposalCheck::Strict)
    );
    assert!(!r.passive && r.initial_contact && !r.support_proxy && r.dpd);
    assert_eq!((r.dpd_delay, r.dpd_retry, r.dpd_maxfail), (0, 5, 5));
    assert_eq!(
        (r.rekey, r.ike_frag, r.nat_traversal),
        (Tristate::On, Tristate::Off, Tristate::Off)
    );
    assert_eq!(r.generate_policy, GeneratePolicy::Off);
}

#[test]
fn every_directive() {
    let p = ok(&fixture("everything.conf"));
    let c = &p.config;
    assert_eq!(c.paths.include.as_deref(), Some("/etc/racoon"));
    assert_eq!(c.paths.certificate.as_deref(), Some("/etc/racoon/certs"));
    assert_eq!(
        c.paths.backupsa.as_deref(),
        Some("/var/lib/racoon/backupsa")
    );
    assert_eq!(c.paths.pidfile, "/var/run/racoon-test.pid");
    let ps = c.privsep.as_ref().unwrap();
    assert_eq!(ps.user, Some(NameOrId::Name("racoon".into())));
    assert_eq!(ps.group, Some(NameOrId::Id(100)));
    assert_eq!(ps.chroot.as_deref(), Some("/var/empty"));
    assert_eq!(c.listen.addrs.len(), 3);
    assert_eq!(c.listen.addrs[1].addr.to_string(), "2001:db8::1[500]");
    assert!(c.listen.addrs[2].natt && c.listen.addrs[2].addr.port == 4500);
    assert!(c.listen.strict_address);
    assert_eq!(
        c.listen.adminsock,
        AdminSock::Path {
            path: "/var/run/racoon.sock".into(),
            owner: NameOrId::Name("root".into()),
            group: NameOrId::Name("operator".into()),
            mode: 0o660
        }
    );
    assert_eq!(
        c.timer,
        Timer {
            counter: 7,
            interval: 3,
            persend: 2,
            phase1: 60,
            phase2: 45,
            natt_keepalive: 15
        }
    );
    assert_eq!(
        c.padding,
        Padding {
            randomize: false,
            randomize_length: true,
            maximum_length: 40,
            exclusive_tail: false,
            strict_check: true
        }
    );
    assert_eq!(c.log, LogLevel::Debug);
    assert_eq!(c.pfkey_buffer, 1024);
    assert_eq!(c.gss_id_enc, GssIdEnc::Latin1);
    assert!(!c.complex_bundle);

    let base = c.remote_by_name("base").unwrap();
    assert_eq!(
        base.remote_address.as_ref().unwrap().to_string(),
        "198.51.100.2[4500]"
    );
    assert_eq!(
        base.exchange_mode,
        vec![ExchangeMode::Main, ExchangeMode::Aggressive]
    );
    assert_eq!(
        base.my_identifier,
        Identifier::Fqdn("gw.example.net".into())
    );
    assert_eq!(
        base.peers_identifier,
        vec![
            Identifier::UserFqdn("peer@example.net".into()),
            Identifier::Address(Some(ip("198.51.100.2")))
        ]
    );
    assert!(base.verify_identifier);
    assert_eq!(
        base.certificate_type,
        Some(CertType::X509 {
            cert: "my.crt".into(),
            key: "my.key".into()
        })
    );
    assert_eq!(
        base.peers_certfile,
        Some(PeersCert::X509("peer.crt".into()))
    );
    assert_eq!(base.ca_type.as_deref(), Some("ca.crt"));
    assert!(!base.verify_cert && !base.send_cert && !base.send_cr && base.match_empty_cr);
    assert_eq!(base.nonce_size, 32);
    assert_eq!(base.lifetime, 3600);
    assert_eq!(base.proposal_check, ProposalCheck::Obey);
    assert!(base.passive && !base.initial_contact && base.support_proxy);
    assert_eq!(base.generate_policy, GeneratePolicy::Unique);
    assert_eq!(base.nat_traversal, Tristate::Force);
    assert_eq!(
        (base.dpd, base.dpd_delay, base.dpd_retry, base.dpd_maxfail),
        (true, 30, 3, 4)
    );
    assert_eq!(
        (base.rekey, base.ike_frag, base.esp_frag),
        (Tristate::Force, Tristate::Force, Some(552))
    );
    assert_eq!(
        base.scripts,
        vec![
            (ScriptEvent::Phase1Up, "/etc/racoon/scripts/up.sh".into()),
            (ScriptEvent::Phase1Down, "/usr/local/bin/down.sh".into()),
            (
                ScriptEvent::Phase1Dead,
                "/etc/racoon/scripts/dead.sh".into()
            )
        ]
    );
    assert!(base.weak_phase1_check);
    assert_eq!(base.ph1id, 7);
    assert_eq!(base.proposals.len(), 2);
    let p0 = &base.proposals[0];
    assert_eq!(
        p0.encryption,
        WithKeyLen {
            alg: IkeEnc::Aes,
            key_len: Some(256)
        }
    );
    assert_eq!(
        (p0.hash, p0.auth_method, p0.dh_group, p0.lifetime),
        (
            IkeHash::Sha256,
            AuthMethod::RsaSig,
            DhGroup::Modp2048,
            Some(1800)
        )
    );
    assert_eq!(base.proposals[1].hash, IkeHash::Sha512);
    assert_eq!(base.proposals[1].encryption.key_len, None);

    // inherit: shallow copy, then overrides; proposals accumulate.
    let child = c.remote_by_name("child").unwrap();
    assert_eq!(child.inherit.as_deref(), Some("base"));
    assert!(!child.passive);
    assert_eq!(child.nonce_size, 32);
    assert_eq!(child.my_identifier, Identifier::KeyIdTag("kid".into()));
    assert_eq!(child.proposals.len(), 3);
    assert_eq!(
        child.proposals[2].encryption,
        WithKeyLen {
            alg: IkeEnc::Blowfish,
            key_len: Some(160)
        }
    );
    let copy = c.remote_by_name("copy").unwrap();
    assert_eq!(copy.proposals, base.proposals);
    assert_eq!(copy.remote_address, base.remote_address);

    let r5 = c.remote_by_name("203.0.113.5[500]").unwrap();
    assert_eq!(r5.exchange_mode, vec![ExchangeMode::Base]);
    assert_eq!(
        r5.my_identifier,
        Identifier::Asn1Dn(Some("C=XX, O=Org, CN=me".into()))
    );
    assert_eq!(
        r5.peers_identifier,
        vec![Identifier::Asn1Dn(Some("C=XX, O=Org, CN=*".into()))]
    );
    assert_eq!(r5.rekey, Tristate::Off);
    assert_eq!(r5.generate_policy, GeneratePolicy::On);
    assert_eq!(
        r5.proposals[0].encryption,
        WithKeyLen {
            alg: IkeEnc::Camellia,
            key_len: Some(192)
        }
    );
    assert_eq!(r5.proposals[0].dh_group.number(), 18);
    let r6 = c.remote_by_name("203.0.113.6[500]").unwrap();
    assert_eq!(r6.inherit.as_deref(), Some("203.0.113.5[500]"));
    assert_eq!(r6.nat_traversal, Tristate::On);
    assert_eq!(r6.proposals, r5.proposals);
    let anon = c.remote_by_name("anonymous").unwrap();
    assert_eq!(anon.selector, RemoteSelector::Anonymous { port: 4500 });
    assert_eq!(anon.peers_certfile, Some(PeersCert::Dnssec));

    let s = &c.sainfos;
    assert_eq!(s.len(), 8);
    assert_eq!(
        s[0].local,
        SaSelector::Id(SaId::Subnet {
            addr: ip("10.1.0.0"),
            prefix: 16,
            port: 0,
            proto: UlProto::Any
        })
    );
    assert_eq!(
        s[0].encryption[0],
        WithKeyLen {
            alg: EspEnc::Aes,
            key_len: Some(256)
        }
    );
    assert_eq!(s[0].encryption[2].alg.number(), 11);
    assert_eq!(
        s[0].authentication,
        vec![AuthAlg::HmacSha256, AuthAlg::HmacSha384, AuthAlg::NonAuth]
    );
    assert_eq!(s[0].compression, vec![CompAlg::Deflate, CompAlg::Lzs]);
    assert_eq!(s[0].pfs_group, Some(DhGroup::Modp3072));
    assert_eq!(s[0].lifetime, 7200);
    // the address/subnet keyword is ignored: no prefix = ADDR id.
    assert_eq!(
        s[1].local,
        SaSelector::Id(SaId::Addr {
            addr: ip("10.1.0.5"),
            port: 22,
            proto: UlProto::Number(6)
        })
    );
    assert_eq!(
        s[1].remote,
        SaSelector::Id(SaId::Subnet {
            addr: ip("10.2.0.0"),
            prefix: 24,
            port: 0,
            proto: UlProto::Number(6)
        })
    );
    assert_eq!(
        s[1].encryption[0],
        WithKeyLen {
            alg: EspEnc::Cast128,
            key_len: Some(96)
        }
    );
    assert_eq!(s[1].authentication, vec![AuthAlg::Kpdk]);
    assert_eq!(
        s[2].local,
        SaSelector::Id(SaId::Range {
            start: ip("10.3.0.1"),
            end: ip("10.3.0.9"),
            port: 0,
            proto: UlProto::Number(1)
        })
    );
    assert_eq!(s[2].encryption.len(), 8);
    assert_eq!(
        s[2].encryption[3],
        WithKeyLen {
            alg: EspEnc::Rc5,
            key_len: Some(64)
        }
    );
    assert_eq!(s[3].remote, SaSelector::ClientAddr);
    assert_eq!(s[3].from, Some(Identifier::Fqdn("peer.example.net".into())));
    assert_eq!(s[3].remoteid, 7);
    assert_eq!(s[3].local.to_string(), "subnet 2001:db8:1::/48 [any] 58");
    assert_eq!(s[4].local, SaSelector::Anonymous);
    assert_eq!(s[5].group.as_deref(), Some("staff"));
    assert_eq!(s[6].local, SaSelector::Id(SaId::Fqdn("a.example".into())));
    assert_eq!(
        s[6].remote,
        SaSelector::Id(SaId::UserFqdn("b@example".into()))
    );
    assert_eq!(
        s[7].from,
        Some(Identifier::Address(Some(ip("198.51.100.2"))))
    );
    // Priority order: from/remoteid first.
    let order: Vec<u32> = c
        .sainfos_by_priority()
        .iter()
        .map(|s| s.priority())
        .collect();
    assert_eq!(order, vec![8, 4, 2, 2, 2, 1, 1, 1]);

    let mc = c.mode_cfg.as_ref().unwrap();
    assert_eq!(mc.directives.len(), 8);
    assert_eq!(
        mc.directives[3].1,
        vec!["include", "10.1.0.0", "/16", ",", "10.2.0.0", "/16"]
    );

    // One warning per unimplemented feature, naming it.
    let w: Vec<String> = p.warnings.list.iter().map(|d| d.message.clone()).collect();
    for feature in ["privsep", "GSSAPI", "mode_cfg", "XAUTH"] {
        assert_eq!(
            w.iter().filter(|m| m.contains(feature)).count(),
            1,
            "{feature}: {w:?}"
        );
    }
}

#[test]
fn unimplemented_features_warn_once_each() {
    let src = r#"
ldapcfg { version 3; host "ldap.example"; port 389; }
radiuscfg { auth "10.0.0.1" 1812 "s"; timeout 3; }
ldapcfg { version 3; }
remote anonymous { exchange_mode main; xauth_login "me"; mode_cfg on;
  proposal { encryption_algorithm aes; hash_algorithm sha1; authentication_method xauth_psk_client; dh_group 2; }
  proposal { encryption_algorithm aes; hash_algorithm sha1; authentication_method gssapi_krb; gss_id "host/x"; dh_group 2; } }
"#;
    let p = ok(src);
    let r = p.warnings.render();
    assert_eq!(p.warnings.list.len(), 5, "{r}");
    assert!(
        r.contains("test.conf:2:1: warning: LDAP is not implemented: the ldapcfg block is ignored"),
        "{r}"
    );
    assert!(
        r.contains(
            "test.conf:3:1: warning: RADIUS is not implemented: the radiuscfg block is ignored"
        ),
        "{r}"
    );
    assert!(
        r.contains("test.conf:5:40: warning: XAUTH is not implemented yet: xauth_login is ignored"),
        "{r}"
    );
    assert!(
        r.contains("warning: mode_cfg is not implemented yet"),
        "{r}"
    );
    assert!(r.contains("warning: GSSAPI is not implemented"), "{r}");
    assert_eq!(
        p.config.remotes[0].proposals[1].gss_id.as_deref(),
        Some("host/x")
    );
}

#[test]
fn adminsock_mode_bug_and_disabled() {
    let p = ok("listen { adminsock \"/s\" \"0\" \"5\" 751; }");
    assert_eq!(
        p.config.listen.adminsock,
        AdminSock::Path {
            path: "/s".into(),
            owner: NameOrId::Id(0),
            group: NameOrId::Id(5),
            mode: 0o662
        }
    );
    let p = ok("listen { adminsock disabled; isakmp fe80::1%eth0 [500]; }");
    assert_eq!(p.config.listen.adminsock, AdminSock::Disabled);
    assert_eq!(
        p.config.listen.addrs[0].addr.to_string(),
        "fe80::1%eth0[500]"
    );
}

#[test]
fn parse_is_deterministic_and_dumpable() {
    let a = ok(&fixture("everything.conf")).config;
    let b = ok(&fixture("everything.conf")).config;
    assert_eq!(a, b);
}

#[test]
fn dump_round_trips() {
    for f in [
        "everything.conf",
        "man-psk-anonymous.conf",
        "man-plain-rsa.conf",
    ] {
        let c = ok(&fixture(f)).config;
        let d1 = conf::dump::remotes_and_sainfos(&c);
        let c2 = ok(&d1).config;
        let d2 = conf::dump::remotes_and_sainfos(&c2);
        // Only the "# inherited from" comments are lost.
        let strip = |s: &str| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&d1), strip(&d2), "{f}");
        assert_eq!(c.remotes.len(), c2.remotes.len());
        assert_eq!(c.sainfos.len(), c2.sainfos.len());
        for (a, b) in c.remotes.iter().zip(&c2.remotes) {
            assert_eq!(a.proposals.len(), b.proposals.len());
            assert_eq!(
                (a.lifetime, &a.exchange_mode, &a.peers_identifier),
                (b.lifetime, &b.exchange_mode, &b.peers_identifier)
            );
        }
        for (a, b) in c.sainfos.iter().zip(&c2.sainfos) {
            assert_eq!(
                (&a.local, &a.remote, &a.from, &a.encryption, a.pfs_group),
                (&b.local, &b.remote, &b.from, &b.encryption, b.pfs_group)
            );
        }
    }
    let c = ok(&fixture("everything.conf")).config;
    let d = conf::dump::remotes_and_sainfos(&c);
    assert!(
        d.contains(
            "remote \"child\" {\n\t# inherited from base\n\tremote_address 198.51.100.2 [4500];\n"
        ),
        "{d}"
    );
    assert!(
        d.contains("\t\tencryption_algorithm blowfish 160;\n"),
        "{d}"
    );
    assert!(
        d.contains("sainfo address 10.3.0.1-10.3.0.9 [any] 1 anonymous {\n"),
        "{d}"
    );
}

#[test]
fn named_remote_inherits_index_address() {
    let p = ok("remote 192.0.2.1 [4500] { exchange_mode main; proposal { encryption_algorithm aes; hash_algorithm sha1; authentication_method pre_shared_key; dh_group 2; } }\nremote \"n\" inherit \"192.0.2.1[4500]\";\n");
    let n = p.config.remote_by_name("n").unwrap();
    assert_eq!(
        n.remote_address.as_ref().unwrap().to_string(),
        "192.0.2.1[4500]"
    );
    assert_eq!(n.selector, RemoteSelector::Named);
    // and then remote_address cannot be given again, as in racoon
    let d = parse("remote 192.0.2.1 { exchange_mode main; proposal { encryption_algorithm aes; hash_algorithm sha1; authentication_method pre_shared_key; dh_group 2; } }\nremote \"n\" inherit \"192.0.2.1[500]\" { remote_address 192.0.2.2; }\n", "t").unwrap_err();
    assert!(
        d.render()
            .contains("t:2:39: error: remote_address already specified"),
        "{}",
        d.render()
    );
}

#[test]
fn remaining_directive_forms() {
    let src = r#"
listen { adminsock "/run/r.sock"; isakmp_natt 2001:db8::5 [4500]; }
remote "k" {
	exchange_mode main base;
	situation secrecy;
	my_identifier keyid "/etc/racoon/keyid";
	peers_identifier keyid file "/etc/racoon/peer-keyid";
	peers_identifier user_fqdn "u@example";
	peers_identifier fqdn example.org;
	my_identifier address "192.0.2.1";
	peers_certfile "legacy.crt";
	generate_policy off;
	nat_traversal off;
	ike_frag on;
	rekey on;
	dpd off;
	proposal {
		encryption_algorithm cast128;
		hash_algorithm md5;
		authentication_method dsssig;
		dh_group 1;
		gssapi_id "x";
	}
}
sainfo address 10.0.0.1 -10.0.0.9 [any] udp subnet ::/0 any { encryption_algorithm null; authentication_algorithm non_auth; compression_algorithm deflate; pfs_group 5; }
sainfo user_fqdn "a@b" keyid "kid" from user_fqdn "c@d" { encryption_algorithm des; authentication_algorithm hmac_md5; compression_algorithm deflate; }
"#;
    let d = parse(src, "t").unwrap_err();
    // gssapi_id without gssapi_krb is the only error.
    assert_eq!(d.error_count(), 1, "{}", d.render());
    assert!(
        d.render()
            .contains("t:22:3: error: gss_id is only valid with authentication_method gssapi_krb"),
        "{}",
        d.render()
    );

    let p = ok(&src.replace("\t\tgssapi_id \"x\";\n", ""));
    let c = &p.config;
    assert_eq!(
        c.listen.adminsock,
        AdminSock::Path {
            path: "/run/r.sock".into(),
            owner: NameOrId::Id(0),
            group: NameOrId::Id(0),
            mode: 0o600
        }
    );
    assert!(c.listen.addrs[0].natt);
    let r = &c.remotes[0];
    assert_eq!(
        r.exchange_mode,
        vec![ExchangeMode::Main, ExchangeMode::Base]
    );
    assert_eq!(r.my_identifier, Identifier::Address(Some(ip("192.0.2.1"))));
    assert_eq!(
        r.peers_identifier,
        vec![
            Identifier::KeyIdFile("/etc/racoon/peer-keyid".into()),
            Identifier::UserFqdn("u@example".into()),
            Identifier::Fqdn("example.org".into())
        ]
    );
    assert_eq!(r.peers_certfile, Some(PeersCert::X509("legacy.crt".into())));
    assert_eq!(
        (
            r.generate_policy,
            r.nat_traversal,
            r.ike_frag,
            r.rekey,
            r.dpd
        ),
        (
            GeneratePolicy::Off,
            Tristate::Off,
            Tristate::On,
            Tristate::On,
            false
        )
    );
    let pr = &r.proposals[0];
    assert_eq!(
        (pr.encryption, pr.hash, pr.auth_method, pr.dh_group),
        (
            WithKeyLen {
                alg: IkeEnc::Cast128,
                key_len: Some(128)
            },
            IkeHash::Md5,
            AuthMethod::DssSig,
            DhGroup::Modp768
        )
    );
    let s = &c.sainfos[0];
    assert_eq!(
        s.local,
        SaSelector::Id(SaId::Range {
            start: ip("10.0.0.1"),
            end: ip("10.0.0.9"),
            port: 0,
            proto: UlProto::Number(17)
        })
    );
    assert_eq!(
        s.remote,
        SaSelector::Id(SaId::Subnet {
            addr: ip("::"),
            prefix: 0,
            port: 0,
            proto: UlProto::Any
        })
    );
    assert_eq!(s.remote.to_string(), "subnet ::/0 [any] any");
    assert_eq!(
        s.encryption,
        vec![WithKeyLen {
            alg: EspEnc::Null,
            key_len: None
        }]
    );
    assert_eq!(s.pfs_group, Some(DhGroup::Modp1536));
    let s = &c.sainfos[1];
    assert_eq!(
        (s.local.clone(), s.remote.clone()),
        (
            SaSelector::Id(SaId::UserFqdn("a@b".into())),
            SaSelector::Id(SaId::KeyId("kid".into()))
        )
    );
    assert_eq!(s.from, Some(Identifier::UserFqdn("c@d".into())));
    let w = p.warnings.render();
    assert!(
        w.contains("test.conf:5:12: warning: situation secrecy/integrity is not implemented"),
        "{w}"
    );
    assert!(
        w.contains("test.conf:11:17: warning: peers_certfile without a type is deprecated"),
        "{w}"
    );
}

/// racoon-rs extensions: ECP groups (RFC 5903) by name and number, ESP aes_gcm_16 (RFC 4106).
#[test]
fn extensions_ecp_groups_and_aes_gcm_16() {
    let p = ok(r#"
remote anonymous {
	exchange_mode main;
	proposal { encryption_algorithm aes 128; hash_algorithm sha256; authentication_method pre_shared_key; dh_group ecp256; }
	proposal { encryption_algorithm aes 256; hash_algorithm sha384; authentication_method pre_shared_key; dh_group 20; }
	proposal { encryption_algorithm aes 256; hash_algorithm sha512; authentication_method pre_shared_key; dh_group ecp521; }
}
sainfo anonymous {
	pfs_group 19;
	encryption_algorithm aes_gcm_16 256, aes;
	authentication_algorithm hmac_sha1, non_auth;
	compression_algorithm deflate;
}
sainfo address 192.0.2.1 any address 192.0.2.2 any {
	pfs_group ecp384;
	encryption_algorithm aes_gcm_16;
	compression_algorithm deflate;
}
"#);
    let c = &p.config;
    let groups: Vec<_> = c.remotes[0].proposals.iter().map(|p| p.dh_group).collect();
    assert_eq!(
        groups,
        vec![DhGroup::Ecp256, DhGroup::Ecp384, DhGroup::Ecp521]
    );
    assert_eq!(
        groups.iter().map(|g| g.number()).collect::<Vec<_>>(),
        vec![19, 20, 21]
    );
    let s = &c.sainfos;
    assert_eq!(s[0].pfs_group, Some(DhGroup::Ecp256));
    assert_eq!(
        s[0].encryption,
        vec![
            WithKeyLen {
                alg: EspEnc::AesGcm16,
                key_len: Some(256)
            },
            WithKeyLen {
                alg: EspEnc::Aes,
                key_len: Some(128)
            }
        ]
    );
    assert_eq!(s[0].encryption[0].alg.number(), 20);
    assert_eq!(
        s[0].authentication,
        vec![AuthAlg::HmacSha1, AuthAlg::NonAuth]
    );
    // only combined-mode ciphers: authentication_algorithm may be left out
    assert_eq!(s[1].pfs_group, Some(DhGroup::Ecp384));
    assert_eq!(s[1].encryption[0].alg, EspEnc::AesGcm16);
    assert_eq!(s[1].authentication, vec![AuthAlg::NonAuth]);
}

/// ... but a non-combined cipher still needs authentication_algorithm, and GCM with only
/// HMACs is an error at the encryption_algorithm statement.
#[test]
fn aes_gcm_16_authentication_rules() {
    let e = parse(
        "sainfo anonymous {\n\tencryption_algorithm aes_gcm_16, aes;\n\tcompression_algorithm deflate;\n}\n",
        "t.conf",
    )
    .unwrap_err()
    .render();
    assert!(
        e.contains("t.conf:1:1: error: sainfo anonymous: no authentication algorithm"),
        "{e}"
    );
    let e = parse(
        "sainfo anonymous {\n\tencryption_algorithm aes_gcm_16 128;\n\tauthentication_algorithm hmac_sha256;\n\tcompression_algorithm deflate;\n}\n",
        "t.conf",
    )
    .unwrap_err()
    .render();
    assert!(
        e.contains("t.conf:2:2: error: sainfo anonymous: aes_gcm_16 authenticates by itself"),
        "{e}"
    );
}
