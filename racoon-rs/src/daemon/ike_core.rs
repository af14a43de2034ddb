//! The real IKE core: [`ike::Endpoint`] behind the driver's [`IkeCore`] trait.
//!
//! A thin translation layer: datagrams, PF_KEY messages and timers pass
//! straight through; the endpoint's events become the driver's events
//! (racoonctl status codes, log lines, key-log lines) and its phase-1 list
//! becomes `show-sa isakmp` rows.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use pfkey::Message;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::core::{
    AdminError, CoreConfig, Establish, EstablishProto, Event, EventCode, IkeCore, LogLevel,
    Phase1Info, Transmit,
};

/// `ike::Endpoint` as the daemon's core.
pub struct IkeEndpointCore {
    ep: ike::Endpoint,
    ike_port: u16,
    /// Events produced while translating (one endpoint event can give two).
    pending: std::collections::VecDeque<Event>,
}

impl IkeEndpointCore {
    /// An endpoint for `config`; `pid` goes into its PF_KEY messages.
    ///
    /// The driver has already sent REGISTER and X_SPDDUMP and feeds the dump
    /// to [`IkeCore::handle_kernel`], so the endpoint's own start-up requests
    /// are dropped here rather than sent twice.
    pub fn new(
        config: conf::Config,
        psk: Option<&conf::PskFile>,
        pid: u32,
        ike_port: u16,
        natt_port: u16,
        key_log: bool,
    ) -> IkeEndpointCore {
        let opts = ike::Options {
            pid,
            ike_port,
            natt_port,
            key_log,
            // Main Mode responders compute g^xy on a helper thread (ike::Options::dh_offload)
            dh_offload: true,
        };
        // ChaCha12 seeded from the OS: a CSPRNG for cookies, nonces, DH
        // exponents and SPIs, without a system call per draw.
        let rng = Box::new(StdRng::from_entropy());
        let creds = super::creds::load(&config);
        let mut ep = ike::Endpoint::new(config, psk.cloned().unwrap_or_default(), opts, rng);
        ep.set_credentials(creds);
        while ep.poll_kernel().is_some() {}
        IkeEndpointCore {
            ep,
            ike_port,
            pending: Default::default(),
        }
    }

    fn translate(&mut self, e: ike::Event) {
        use ike::Event as E;
        let status = |code: EventCode, local: Option<SocketAddr>, remote: Option<SocketAddr>| {
            Event::Status {
                code,
                local,
                remote,
                ph2_msgid: 0,
            }
        };
        match e {
            E::Log { level, peer, text } => self.pending.push_back(Event::Log {
                level: log_level(level),
                peer,
                text,
            }),
            E::Phase1Established { local, remote, .. } => {
                self.pending
                    .push_back(status(EventCode::PHASE1_UP, Some(local), Some(remote)));
            }
            E::Phase1Deleted { remote, .. } => {
                self.pending
                    .push_back(status(EventCode::PHASE1_DOWN, None, Some(remote)));
            }
            E::Phase1Failed { remote, reason } => {
                let code = failure_code(&reason);
                self.pending.push_back(Event::Log {
                    level: LogLevel::Error,
                    peer: Some(remote.ip()),
                    text: format!("phase 1 failed: {reason}"),
                });
                self.pending.push_back(status(code, None, Some(remote)));
            }
            E::Phase2Established { remote, .. } => {
                self.pending
                    .push_back(status(EventCode::PHASE2_UP, None, Some(remote)));
            }
            E::Phase2Deleted { remote, .. } => {
                self.pending
                    .push_back(status(EventCode::PHASE2_DOWN, None, Some(remote)));
            }
            E::Phase2Failed { remote, reason } => {
                self.pending.push_back(Event::Log {
                    level: LogLevel::Error,
                    peer: Some(remote.ip()),
                    text: format!("phase 2 failed: {reason}"),
                });
                self.pending
                    .push_back(status(EventCode::PHASE2_NO_RESPONSE, None, Some(remote)));
            }
            E::PeerDead { remote } => {
                self.pending
                    .push_back(status(EventCode::PHASE1_DPD_TIMEOUT, None, Some(remote)));
            }
            E::KeyLog(k) => self.pending.push_back(Event::KeyLog(k)),
            // `ike::Event` is non-exhaustive: new kinds are logged until mapped.
            other => self.pending.push_back(Event::Log {
                level: LogLevel::Debug,
                peer: None,
                text: format!("{other:?}"),
            }),
        }
    }
}

fn log_level(l: ike::Level) -> LogLevel {
    match l {
        conf::LogLevel::Error => LogLevel::Error,
        conf::LogLevel::Warning => LogLevel::Warning,
        conf::LogLevel::Notify => LogLevel::Notify,
        conf::LogLevel::Info => LogLevel::Info,
        conf::LogLevel::Debug => LogLevel::Debug,
        conf::LogLevel::Debug2 => LogLevel::Debug2,
    }
}

/// racoonctl's phase-1 error event for a failure reason.
fn failure_code(reason: &str) -> EventCode {
    let r = reason.to_ascii_lowercase();
    // "authentication failed", "signature authentication failed", "invalid certificate"
    if r.contains("auth") || r.contains("certificate") {
        EventCode::PHASE1_AUTH_FAILED
    } else if r.contains("proposal") {
        EventCode::PHASE1_NO_PROPOSAL
    } else if r.contains("dead") {
        EventCode::PHASE1_DPD_TIMEOUT
    } else {
        EventCode::PHASE1_NO_RESPONSE
    }
}

impl IkeCore for IkeEndpointCore {
    fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) {
        self.ep.handle_datagram(now, local, remote, data);
    }

    fn handle_kernel(&mut self, now: Instant, msg: Message) {
        self.ep.handle_kernel(now, msg);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.ep.handle_timeout(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        // The driver adds the non-ESP marker on NAT-T sockets itself (and
        // never to a keepalive), which is exactly when the endpoint asks.
        self.ep.poll_transmit().map(|t| Transmit {
            local: t.local,
            remote: t.remote,
            data: t.data,
        })
    }

    fn poll_kernel(&mut self) -> Option<Message> {
        self.ep.poll_kernel()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.ep.poll_timeout()
    }

    fn poll_event(&mut self) -> Option<Event> {
        while self.pending.is_empty() {
            let e = self.ep.poll_event()?;
            self.translate(e);
        }
        self.pending.pop_front()
    }

    fn phase1_sas(&self) -> Vec<Phase1Info> {
        self.ep
            .list_phase1()
            .into_iter()
            .map(|p| {
                let mut cookies = [0u8; 16];
                cookies[..8].copy_from_slice(&p.icookie);
                cookies[8..].copy_from_slice(&p.rcookie);
                Phase1Info {
                    cookies,
                    // racoon's PHASE1ST_ESTABLISHED is 9; anything earlier
                    // shows as "negotiating" (2, PHASE1ST_START).
                    status: if p.state.contains("established") {
                        9
                    } else {
                        2
                    },
                    initiator: matches!(p.role, ike::Role::Initiator),
                    local: p.local,
                    remote: p.remote,
                    version: 0x10,
                    etype: if p.aggressive { 4 } else { 2 },
                    created: p.created,
                    ph2_count: p.ph2_count,
                }
            })
            .collect()
    }

    fn establish(&mut self, now: Instant, req: Establish) -> Result<(), AdminError> {
        match req.proto {
            EstablishProto::Isakmp => {
                let port = |a: SocketAddr| {
                    if a.port() == 0 {
                        SocketAddr::new(a.ip(), self.ike_port)
                    } else {
                        a
                    }
                };
                if self.ep.establish_sa(now, port(req.src), port(req.dst)) {
                    Ok(())
                } else {
                    Err(AdminError::NotFound)
                }
            }
            // Phase 2 is started by the kernel's ACQUIRE (send traffic that
            // matches an ipsec policy); establish-sa esp/ah is not wired yet.
            EstablishProto::Esp | EstablishProto::Ah => Err(AdminError::NotAvailable),
        }
    }

    fn delete_peer(
        &mut self,
        now: Instant,
        local: Option<IpAddr>,
        remote: IpAddr,
    ) -> Result<usize, AdminError> {
        let n = self
            .ep
            .list_phase1()
            .iter()
            .filter(|p| p.remote.ip() == remote && local.map_or(true, |l| p.local.ip() == l))
            .count();
        if n == 0 {
            return Err(AdminError::NotFound);
        }
        self.ep.delete_sa(now, remote);
        Ok(n)
    }

    fn flush_phase1(&mut self, now: Instant) {
        self.ep.flush_phase1(now);
    }

    fn drop_half_open(&mut self, icookie: [u8; 8], remote: SocketAddr) -> bool {
        self.ep.drop_half_open(icookie, remote)
    }

    fn reload(&mut self, _now: Instant, config: CoreConfig) {
        let psk = config.psk.as_deref().cloned().unwrap_or_default();
        self.ep.reload((*config.config).clone(), psk);
        self.ep.set_credentials(super::creds::load(&config.config));
    }

    fn shutdown(&mut self, now: Instant) {
        // As racoon: DELETE every phase 2 (so the peers drop their SAs too),
        // then every phase 1.
        let peers: std::collections::BTreeSet<IpAddr> = self
            .ep
            .list_phase1()
            .iter()
            .map(|p| p.remote.ip())
            .collect();
        for peer in peers {
            self.ep.delete_sa(now, peer);
        }
        self.ep.flush_phase1(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_failures_are_authentication_failures() {
        for r in [
            "phase1 negotiation failed: invalid certificate: certificate \"CN=x\" has expired",
            "phase1 negotiation failed: signature authentication failed: RSA signature does not verify",
            "phase1 negotiation failed: authentication failed (bad pre-shared key?)",
        ] {
            assert_eq!(failure_code(r), EventCode::PHASE1_AUTH_FAILED, "{r}");
        }
        assert_eq!(
            failure_code("no suitable proposal found."),
            EventCode::PHASE1_NO_PROPOSAL
        );
        assert_eq!(failure_code("time up"), EventCode::PHASE1_NO_RESPONSE);
    }
}
