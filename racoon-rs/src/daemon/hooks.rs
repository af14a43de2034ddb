//! The `script "path" phase1_up|phase1_down|phase1_dead;` hooks of a
//! `remote` block, run as racoon runs them: `path EVENT` (argv[1] is the
//! event name) with only racoon's variables in the environment
//! (`LOCAL_ADDR`, `LOCAL_PORT`, `REMOTE_ADDR`, `REMOTE_PORT`). Not set (no
//! mode_cfg/Xauth, identities not reported by the core): `REMOTE_ID`,
//! `INTERNAL_*`, `SPLIT_*`, `DEFAULT_DOMAIN`, `XAUTH_USER`.
//!
//! Triggers: phase 1 established → `phase1_up`; an established phase 1
//! deleted (either side, expiry, shutdown) → `phase1_down`; DPD declared the
//! peer dead → `phase1_dead`. The remote block is chosen like the core
//! chooses it: the block naming the peer's address, else an anonymous one.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::core::Hook;

/// Most phase-1 local addresses remembered for `phase1_down` (one per peer).
const MAX_PEERS: usize = 4096;

/// The scripts to run for one event: (hook, path, environment).
pub type Runs = Vec<(Hook, String, Vec<(String, String)>)>;

/// Remembers each peer's local address and number of established phase 1s
/// from `phase1_up`, so `phase1_down` (whose event carries only the peer)
/// gets `LOCAL_ADDR` too and runs only for a phase 1 that was up (the core
/// also reports deleted half-open negotiations, e.g. evicted ones).
#[derive(Debug, Default)]
pub struct Hooks {
    local_of: HashMap<SocketAddr, (SocketAddr, u32)>,
}

fn event_name(h: Hook) -> &'static str {
    match h {
        Hook::Phase1Up => "phase1_up",
        Hook::Phase1Down => "phase1_down",
        Hook::Phase1Dead => "phase1_dead",
    }
}

/// The argv[1] racoon passes for a hook.
pub fn name(h: Hook) -> &'static str {
    event_name(h)
}

/// The `remote` block for a peer: the one naming its address, else the
/// first anonymous one.
fn remote_for(config: &conf::Config, peer: std::net::IpAddr) -> Option<&conf::Remote> {
    config
        .remotes
        .iter()
        .find(|r| r.peer().is_some_and(|a| a.addr.ip == peer))
        .or_else(|| config.remotes.iter().find(|r| r.is_anonymous()))
}

impl Hooks {
    /// Whether a phase 1 with `remote` is up (seen in `phase1_up`, not yet down).
    pub fn was_up(&self, remote: SocketAddr) -> bool {
        self.local_of.contains_key(&remote)
    }

    /// The scripts to run for `hook` with this peer (`local` if known).
    pub fn runs(
        &mut self,
        config: &conf::Config,
        hook: Hook,
        local: Option<SocketAddr>,
        remote: SocketAddr,
    ) -> Runs {
        let local = match hook {
            Hook::Phase1Up => {
                if let Some(l) = local {
                    if self.local_of.len() < MAX_PEERS || self.local_of.contains_key(&remote) {
                        let e = self.local_of.entry(remote).or_insert((l, 0));
                        *e = (l, e.1.saturating_add(1));
                    }
                }
                local
            }
            Hook::Phase1Down => {
                let Some((l, n)) = self.local_of.get(&remote).copied() else {
                    return Vec::new(); // never up: a half-open negotiation went away
                };
                if n <= 1 {
                    self.local_of.remove(&remote);
                } else {
                    self.local_of.insert(remote, (l, n - 1));
                }
                local.or(Some(l))
            }
            Hook::Phase1Dead => local.or_else(|| self.local_of.remove(&remote).map(|(l, _)| l)),
        };
        let Some(r) = remote_for(config, remote.ip()) else {
            return Vec::new();
        };
        let want = match hook {
            Hook::Phase1Up => conf::ScriptEvent::Phase1Up,
            Hook::Phase1Down => conf::ScriptEvent::Phase1Down,
            Hook::Phase1Dead => conf::ScriptEvent::Phase1Dead,
        };
        let mut env = Vec::new();
        if let Some(l) = local {
            env.push(("LOCAL_ADDR".to_string(), l.ip().to_string()));
            env.push(("LOCAL_PORT".to_string(), l.port().to_string()));
        }
        env.push(("REMOTE_ADDR".to_string(), remote.ip().to_string()));
        env.push(("REMOTE_PORT".to_string(), remote.port().to_string()));
        r.scripts
            .iter()
            .filter(|(e, _)| *e == want)
            .map(|(_, path)| (hook, path.clone(), env.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = r#"
remote 192.0.2.2 {
	exchange_mode main;
	script "/etc/racoon/up.sh" phase1_up;
	script "/etc/racoon/down.sh" phase1_down;
	proposal { encryption_algorithm aes; hash_algorithm sha1; authentication_method pre_shared_key; dh_group modp2048; }
}
remote anonymous {
	exchange_mode main;
	script "/etc/racoon/dead.sh" phase1_dead;
	proposal { encryption_algorithm aes; hash_algorithm sha1; authentication_method pre_shared_key; dh_group modp2048; }
}
"#;

    #[test]
    fn scripts_and_racoon_environment() {
        let config = conf::parse(CONF, "t.conf").expect("parses").config;
        let mut h = Hooks::default();
        let local: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let peer: SocketAddr = "192.0.2.2:4500".parse().unwrap();
        let up = h.runs(&config, Hook::Phase1Up, Some(local), peer);
        assert!(h.was_up(peer));
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].1, "/etc/racoon/up.sh");
        let env: HashMap<_, _> = up[0].2.iter().cloned().collect();
        assert_eq!(env["LOCAL_ADDR"], "192.0.2.1");
        assert_eq!(env["LOCAL_PORT"], "500");
        assert_eq!(env["REMOTE_ADDR"], "192.0.2.2");
        assert_eq!(env["REMOTE_PORT"], "4500");
        // phase1_down has no local address in its event: remembered from up
        let down = h.runs(&config, Hook::Phase1Down, None, peer);
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].1, "/etc/racoon/down.sh");
        assert!(down[0]
            .2
            .contains(&("LOCAL_ADDR".into(), "192.0.2.1".into())));
        // no phase1_dead script on that block
        assert!(h.runs(&config, Hook::Phase1Dead, None, peer).is_empty());
        // a second down without an up (a deleted half-open negotiation): nothing
        assert!(!h.was_up(peer));
        assert!(h.runs(&config, Hook::Phase1Down, None, peer).is_empty());
        // another peer falls to the anonymous block
        let other: SocketAddr = "198.51.100.9:500".parse().unwrap();
        let dead = h.runs(&config, Hook::Phase1Dead, None, other);
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].1, "/etc/racoon/dead.sh");
        assert!(!dead[0].2.iter().any(|(k, _)| k == "LOCAL_ADDR"));
        assert_eq!(name(Hook::Phase1Dead), "phase1_dead");
    }

    #[test]
    fn remembered_locals_are_bounded() {
        let config = conf::parse(CONF, "t.conf").expect("parses").config;
        let mut h = Hooks::default();
        let local: SocketAddr = "192.0.2.1:500".parse().unwrap();
        for i in 0..(MAX_PEERS as u32 + 100) {
            let peer = SocketAddr::new(std::net::Ipv4Addr::from(0x0a00_0000 + i).into(), 500);
            h.runs(&config, Hook::Phase1Up, Some(local), peer);
        }
        assert_eq!(h.local_of.len(), MAX_PEERS);
    }
}
