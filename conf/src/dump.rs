//! A readable dump of the effective remotes and sainfos (`racoon -C`), written in
//! racoon.conf syntax with every value explicit (inheritance resolved, defaults filled).
//! Parsing a dump gives back the same remotes and sainfos.

use crate::config::*;
use std::fmt::Write;

fn onoff(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn tri(t: Tristate) -> &'static str {
    match t {
        Tristate::Off => "off",
        Tristate::On => "on",
        Tristate::Force => "force",
    }
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}

fn ident(id: &Identifier) -> String {
    match id {
        Identifier::Address(Some(a)) => format!("address {a}"),
        Identifier::Address(None) => "address".into(),
        Identifier::Fqdn(s) => format!("fqdn {}", q(s)),
        Identifier::UserFqdn(s) => format!("user_fqdn {}", q(s)),
        Identifier::KeyIdFile(s) => format!("keyid file {}", q(s)),
        Identifier::KeyIdTag(s) => format!("keyid tag {}", q(s)),
        Identifier::Asn1Dn(Some(s)) => format!("asn1dn {}", q(s)),
        Identifier::Asn1Dn(None) => "asn1dn".into(),
        Identifier::Subnet(Some(s)) => format!("subnet {}", q(s)),
        Identifier::Subnet(None) => "subnet".into(),
    }
}

fn port_str(p: u16) -> String {
    format!("[{p}]")
}

/// Dump one remote block.
pub fn remote(r: &Remote) -> String {
    let mut o = String::new();
    let header = match &r.selector {
        RemoteSelector::Named => format!("remote {}", q(&r.name)),
        RemoteSelector::Address(a) => format!("remote {} {}", a.addr, port_str(a.port)),
        RemoteSelector::Anonymous { port } => format!("remote anonymous {}", port_str(*port)),
    };
    let _ = writeln!(o, "{header} {{");
    if let Some(p) = &r.inherit {
        let _ = writeln!(o, "\t# inherited from {p}");
    }
    if let Some(a) = &r.remote_address {
        let _ = writeln!(o, "\tremote_address {} {};", a.addr, port_str(a.port));
    }
    let modes: Vec<String> = r.exchange_mode.iter().map(|m| m.to_string()).collect();
    let _ = writeln!(o, "\texchange_mode {};", modes.join(", "));
    let _ = writeln!(o, "\tmy_identifier {};", ident(&r.my_identifier));
    for id in &r.peers_identifier {
        let _ = writeln!(o, "\tpeers_identifier {};", ident(id));
    }
    let _ = writeln!(o, "\tverify_identifier {};", onoff(r.verify_identifier));
    if let Some(x) = &r.xauth_login {
        let _ = writeln!(o, "\txauth_login {};", q(x));
    }
    match &r.certificate_type {
        Some(CertType::X509 { cert, key }) => {
            let _ = writeln!(o, "\tcertificate_type x509 {} {};", q(cert), q(key));
        }
        Some(CertType::PlainRsa { key }) => {
            let _ = writeln!(o, "\tcertificate_type plain_rsa {};", q(key));
        }
        None => {}
    }
    match &r.peers_certfile {
        Some(PeersCert::X509(f)) => {
            let _ = writeln!(o, "\tpeers_certfile x509 {};", q(f));
        }
        Some(PeersCert::PlainRsa(f)) => {
            let _ = writeln!(o, "\tpeers_certfile plain_rsa {};", q(f));
        }
        Some(PeersCert::Dnssec) => {
            let _ = writeln!(o, "\tpeers_certfile dnssec;");
        }
        None => {}
    }
    if let Some(c) = &r.ca_type {
        let _ = writeln!(o, "\tca_type x509 {};", q(c));
    }
    // plain_rsa forces these off while parsing; only print them where they mean something.
    let _ = writeln!(o, "\tverify_cert {};", onoff(r.verify_cert));
    let _ = writeln!(o, "\tsend_cert {};", onoff(r.send_cert));
    let _ = writeln!(o, "\tsend_cr {};", onoff(r.send_cr));
    let _ = writeln!(o, "\tmatch_empty_cr {};", onoff(r.match_empty_cr));
    let _ = writeln!(o, "\tnonce_size {};", r.nonce_size);
    let _ = writeln!(o, "\tlifetime time {} sec;", r.lifetime);
    let pc = match r.proposal_check {
        ProposalCheck::Obey => "obey",
        ProposalCheck::Strict => "strict",
        ProposalCheck::Claim => "claim",
        ProposalCheck::Exact => "exact",
    };
    let _ = writeln!(o, "\tproposal_check {pc};");
    let _ = writeln!(o, "\tpassive {};", onoff(r.passive));
    let _ = writeln!(o, "\tinitial_contact {};", onoff(r.initial_contact));
    let _ = writeln!(o, "\tsupport_proxy {};", onoff(r.support_proxy));
    let gp = match r.generate_policy {
        GeneratePolicy::Off => "off",
        GeneratePolicy::On => "on",
        GeneratePolicy::Unique => "unique",
    };
    let _ = writeln!(o, "\tgenerate_policy {gp};");
    let _ = writeln!(o, "\tnat_traversal {};", tri(r.nat_traversal));
    let _ = writeln!(o, "\tdpd {};", onoff(r.dpd));
    let _ = writeln!(o, "\tdpd_delay {};", r.dpd_delay);
    let _ = writeln!(o, "\tdpd_retry {};", r.dpd_retry);
    let _ = writeln!(o, "\tdpd_maxfail {};", r.dpd_maxfail);
    let _ = writeln!(o, "\trekey {};", tri(r.rekey));
    let _ = writeln!(o, "\tike_frag {};", tri(r.ike_frag));
    if let Some(f) = r.esp_frag {
        let _ = writeln!(o, "\tesp_frag {f};");
    }
    for (ev, path) in &r.scripts {
        let ev = match ev {
            ScriptEvent::Phase1Up => "phase1_up",
            ScriptEvent::Phase1Down => "phase1_down",
            ScriptEvent::Phase1Dead => "phase1_dead",
        };
        let _ = writeln!(o, "\tscript {} {ev};", q(path));
    }
    let _ = writeln!(o, "\tmode_cfg {};", onoff(r.mode_cfg));
    let _ = writeln!(o, "\tweak_phase1_check {};", onoff(r.weak_phase1_check));
    let _ = writeln!(o, "\tph1id {};", r.ph1id);
    for p in &r.proposals {
        let _ = writeln!(o, "\tproposal {{");
        let _ = writeln!(o, "\t\tencryption_algorithm {};", p.encryption);
        let _ = writeln!(o, "\t\thash_algorithm {};", p.hash);
        let _ = writeln!(o, "\t\tauthentication_method {};", p.auth_method);
        let _ = writeln!(o, "\t\tdh_group {};", p.dh_group);
        if let Some(l) = p.lifetime {
            let _ = writeln!(o, "\t\tlifetime time {l} sec;");
        }
        if let Some(g) = &p.gss_id {
            let _ = writeln!(o, "\t\tgss_id {};", q(g));
        }
        let _ = writeln!(o, "\t}}");
    }
    o.push_str("}\n");
    o
}

/// Dump one sainfo block.
pub fn sainfo(s: &SaInfo) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "sainfo {} {{", s.header());
    let join = |v: Vec<String>| v.join(", ");
    let _ = writeln!(
        o,
        "\tencryption_algorithm {};",
        join(s.encryption.iter().map(|e| e.to_string()).collect())
    );
    let _ = writeln!(
        o,
        "\tauthentication_algorithm {};",
        join(s.authentication.iter().map(|e| e.to_string()).collect())
    );
    let _ = writeln!(
        o,
        "\tcompression_algorithm {};",
        join(s.compression.iter().map(|e| e.to_string()).collect())
    );
    if let Some(g) = s.pfs_group {
        let _ = writeln!(o, "\tpfs_group {g};");
    }
    let _ = writeln!(o, "\tlifetime time {} sec;", s.lifetime);
    if s.remoteid != 0 {
        let _ = writeln!(o, "\tremoteid {};", s.remoteid);
    }
    o.push_str("}\n");
    o
}

/// Every remote, then every sainfo, separated by blank lines.
pub fn remotes_and_sainfos(c: &Config) -> String {
    let mut parts: Vec<String> = c.remotes.iter().map(remote).collect();
    parts.extend(c.sainfos.iter().map(sainfo));
    parts.join("\n")
}
