//! Informational exchanges (HASH(1)-verified notifies and deletes; nothing unauthenticated
//! is acted on, CVE-2004-0164), DPD (RFC 3706), INITIAL-CONTACT, and the PF_KEY input.

use std::time::{Duration, Instant};

use isakmp::{encode_payloads, ExchangeType, Flags, NotifyType, Payload, ProtocolId};
use pfkey::{Message, MsgType, SaState, SaType};

use crate::crypto::phase2_iv;
use crate::endpoint::{Endpoint, Inbound, P2State};
use crate::error::{Error, Result};
use crate::kernel;
use crate::rules::{check, MsgKind};
use crate::types::{Event, Level, Transmit};

impl Endpoint {
    /// Sends an encrypted informational with HASH(1) under phase 1 `id`.
    pub(crate) fn send_info(
        &mut self,
        _now: Instant,
        id: u64,
        payloads: Vec<Payload>,
    ) -> Result<()> {
        let msgid = self.rand_msgid();
        let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("ph1"))?;
        let keys = p.keys.as_ref().ok_or(Error::UnexpectedState("keys"))?;
        let mut rest = Vec::new();
        encode_payloads(&payloads, &mut rest).map_err(|_| Error::Limit("size"))?;
        let h = keys.informational_hash(msgid, &rest);
        let mut all = vec![Payload::Hash(h)];
        all.extend(payloads);
        let b = p.cipher.as_ref().map_or(8, |c| c.block_size());
        let iv = phase2_iv(p.hash(), &p.iv, msgid, b);
        let (bytes, _) = Self::seal(
            p,
            ExchangeType::INFORMATIONAL,
            msgid,
            Flags::default(),
            &all,
            &iv,
        )?;
        self.out.push_tx(Transmit {
            local: p.local,
            remote: p.remote,
            data: bytes,
            non_esp_marker: p.natt.floated,
        });
        Ok(())
    }

    pub(crate) fn send_delete_ph1(&mut self, now: Instant, id: u64) {
        let Some(p) = self.ph1s.get(&id) else {
            return;
        };
        if !p.is_established() {
            return;
        }
        let d = Payload::Delete(isakmp::Delete {
            doi: isakmp::Doi::IPSEC,
            protocol: ProtocolId::ISAKMP,
            spi_size: 16,
            spis: vec![[p.icky, p.rcky].concat()],
        });
        let _ = self.send_info(now, id, vec![d]);
    }

    /// An informational message. Unencrypted ones are only logged.
    pub(crate) fn info_input(&mut self, id: u64, m: &Inbound<'_>) -> Result<()> {
        check(MsgKind::Info, m.payloads, m.hdr.is_encrypted())?;
        let peer = m.remote.ip();
        if !m.hdr.is_encrypted() {
            for n in m.payloads.iter().filter_map(|x| match x {
                Payload::Notify(n) => Some(n),
                _ => None,
            }) {
                self.out.log(
                    Level::Warning,
                    Some(peer),
                    format!(
                        "ignoring unauthenticated notification {:?} from {}",
                        n.notify_type, m.remote
                    ),
                );
            }
            return Ok(());
        }
        let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("ph1"))?;
        // the keys exist from MM3/MM4 (AM1/AM2) on: HASH(1) can be checked before phase 1 ends
        if p.keys.is_none() {
            return Err(Error::UnexpectedState("informational before phase 1"));
        }
        let mid = m.hdr.message_id;
        self.verify_hash(id, m, |k, rest| k.informational_hash(mid, rest))?;
        let p = self.ph1s.get(&id).ok_or(Error::UnexpectedState("ph1"))?;
        if !p.is_established() {
            self.ph1_peer_gave_up(id, m);
            return Ok(());
        }
        let (icky, rcky) = (p.icky, p.rcky);
        for pl in &m.payloads[1..] {
            match pl {
                Payload::Notify(n) => self.on_notify(m.now, id, n, icky, rcky),
                Payload::Delete(d) => self.on_delete(m.now, id, d, icky, rcky),
                _ => {}
            }
        }
        Ok(())
    }

    /// An authenticated (HASH(1)) informational before phase 1 completed: an error notify
    /// means the peer gave this negotiation up (strongSwan sends AUTHENTICATION-FAILED after
    /// MM5 when it finds no configuration for our identity or our hash does not verify).
    /// The SA ends with the reason in the log; anything else is ignored.
    fn ph1_peer_gave_up(&mut self, id: u64, m: &Inbound<'_>) {
        let Some(nt) = m.payloads.iter().find_map(|x| match x {
            Payload::Notify(n) if n.notify_type.is_error() => Some(n.notify_type),
            _ => None,
        }) else {
            return;
        };
        let Some(p) = self.ph1s.get(&id) else {
            return;
        };
        let remote = p.remote;
        let why = if nt == NotifyType::AUTHENTICATION_FAILED {
            " (it did not accept our identifier or our pre-shared key)"
        } else {
            ""
        };
        let msg = format!("phase1 negotiation failed: the peer sent {nt:?}{why}");
        self.out.log(Level::Error, Some(remote.ip()), msg.clone());
        self.out.event(Event::Phase1Failed {
            remote,
            reason: msg,
        });
        self.remove_ph1(id, false);
    }

    /// A phase-1 message (from `local`/`remote`) that does not decrypt before the SA is
    /// established: the peer holds another pre-shared key. Tell it in the clear, as racoon
    /// does when phase-1 authentication fails (isakmp_info_send_n1 with AUTHENTICATION-FAILED),
    /// so that it stops instead of retransmitting. One notify per such datagram (never larger
    /// than what came in); the SA itself is kept: garbage from anyone must not end it.
    pub(crate) fn notify_undecryptable(
        &mut self,
        id: u64,
        local: std::net::SocketAddr,
        remote: std::net::SocketAddr,
    ) {
        let Some(p) = self.ph1s.get(&id) else {
            return;
        };
        let nt = Payload::Notify(isakmp::Notify {
            doi: isakmp::Doi::IPSEC,
            protocol: ProtocolId::ISAKMP,
            notify_type: NotifyType::AUTHENTICATION_FAILED,
            spi: [p.icky, p.rcky].concat(),
            data: Vec::new(),
        });
        if let Ok(bytes) = Self::plain(p, ExchangeType::INFORMATIONAL, vec![nt]) {
            self.out.push_tx(Transmit {
                local,
                remote,
                data: bytes,
                non_esp_marker: local.port() == self.opts.natt_port,
            });
        }
    }

    pub(crate) fn on_notify(
        &mut self,
        now: Instant,
        id: u64,
        n: &isakmp::Notify,
        icky: [u8; 8],
        rcky: [u8; 8],
    ) {
        let delay = self
            .ph1s
            .get(&id)
            .map_or(0, |p| self.remote_cfg(p.remote_cfg).dpd_delay);
        let Some(p) = self.ph1s.get_mut(&id) else {
            return;
        };
        let peer = p.remote.ip();
        let cookies_ok = n.spi.len() == 16 && n.spi[..8] == icky && n.spi[8..] == rcky;
        match n.notify_type {
            NotifyType::R_U_THERE if cookies_ok && n.data.len() == 4 => {
                let ack = Payload::Notify(isakmp::Notify {
                    notify_type: NotifyType::R_U_THERE_ACK,
                    ..n.clone()
                });
                let _ = self.send_info(now, id, vec![ack]);
            }
            NotifyType::R_U_THERE_ACK if cookies_ok && n.data.len() == 4 => {
                let seq = u32::from_be_bytes([n.data[0], n.data[1], n.data[2], n.data[3]]);
                let d = &mut p.dpd;
                // in (last_ack, seq]
                if seq.wrapping_sub(d.last_ack) != 0
                    && seq.wrapping_sub(d.last_ack) <= d.seq.wrapping_sub(d.last_ack)
                {
                    d.last_ack = seq;
                    d.fails = 0;
                    d.waiting = false;
                    if d.next.is_some() {
                        d.next = Some(now + Duration::from_secs(u64::from(delay.max(1))));
                    }
                }
            }
            NotifyType::INITIAL_CONTACT => {
                self.out
                    .log(Level::Info, Some(peer), "received INITIAL-CONTACT");
                // the peer restarted: phase 1s with it established before this one began are
                // stale (ipsec-tools racoon keeps them until lifetime or DPD; we drop them, so
                // `show-sa isakmp` matches the peer). Only those: two phase 1s started at
                // the same time by both sides, each with its own INITIAL-CONTACT, must not
                // remove each other. Their phase 2 records go with the SAs the DUMP finds.
                let started = p.created;
                let stale: Vec<u64> = self
                    .ph1s
                    .values()
                    .filter(|o| o.id != id && o.remote.ip() == peer)
                    .filter(|o| o.established.is_some_and(|t| t < started))
                    .map(|o| o.id)
                    .collect();
                for old in stale {
                    self.remove_ph1(old, true);
                }
                let Some(p) = self.ph1s.get(&id) else {
                    return;
                };
                let local = p.local.ip();
                let keep: Vec<u32> = self
                    .ph2s
                    .values()
                    .filter(|q| q.ph1 == Some(id))
                    .flat_map(|q| q.installed.iter().flat_map(|(_, a, b)| [*a, *b]))
                    .collect();
                self.purges.push((local, peer, keep));
                if self.purges.len() > 64 {
                    self.purges.remove(0);
                }
                for t in [SaType::ESP, SaType::AH] {
                    let s = self.next_seq();
                    self.out.kernel(
                        Message::new(MsgType::DUMP, t)
                            .with_seq(s)
                            .with_pid(self.opts.pid),
                    );
                }
            }
            t => {
                self.out.log(
                    Level::Info,
                    Some(peer),
                    format!("notification {t:?} received"),
                );
            }
        }
    }

    fn on_delete(
        &mut self,
        now: Instant,
        id: u64,
        d: &isakmp::Delete,
        icky: [u8; 8],
        rcky: [u8; 8],
    ) {
        match d.protocol {
            ProtocolId::ISAKMP
                if d.spis
                    .iter()
                    .any(|s| s.len() == 16 && s[..8] == icky && s[8..] == rcky) =>
            {
                if let Some(p) = self.ph1s.get(&id) {
                    // a peer that checks our ID only in MM6 (the Main Mode initiator) can
                    // only delete: say what is likely wrong when it does so at once
                    let age = now.saturating_duration_since(p.created);
                    if p.ph2_count == 0 && age < Duration::from_secs(30) {
                        self.out.log(
                            Level::Error,
                            Some(p.remote.ip()),
                            format!(
                                "the peer deleted the ISAKMP-SA {} ms after it began, before \
                                 any phase 2: it probably did not accept our identifier",
                                age.as_millis()
                            ),
                        );
                    }
                }
                self.remove_ph1(id, true);
            }
            ProtocolId::IPSEC_ESP | ProtocolId::IPSEC_AH => {
                let Some(peer) = self.ph1s.get(&id).map(|p| p.remote.ip()) else {
                    return;
                };
                for s in &d.spis {
                    if s.len() != 4 {
                        continue;
                    }
                    let spi = u32::from_be_bytes([s[0], s[1], s[2], s[3]]);
                    let found = self
                        .ph2s
                        .values()
                        .find(|q| q.peer == peer && q.installed.iter().any(|(_, _, o)| *o == spi))
                        .map(|q| q.id);
                    if let Some(q) = found {
                        self.delete_ph2(now, q, false);
                    }
                }
            }
            _ => {}
        }
    }

    pub(crate) fn dpd_tick(&mut self, now: Instant, id: u64) {
        let (retry, maxfail) = {
            let Some(p) = self.ph1s.get(&id) else {
                return;
            };
            let r = self.remote_cfg(p.remote_cfg);
            (r.dpd_retry.max(1), r.dpd_maxfail)
        };
        let Some(p) = self.ph1s.get_mut(&id) else {
            return;
        };
        if p.dpd.waiting {
            p.dpd.fails += 1;
            if p.dpd.fails >= maxfail.max(1) {
                let remote = p.remote;
                self.out.log(
                    Level::Error,
                    Some(remote.ip()),
                    format!("DPD: remote ({remote}) seems to be dead."),
                );
                self.out.event(Event::PeerDead { remote });
                let ph2: Vec<u64> = self
                    .ph2s
                    .values()
                    .filter(|q| q.peer == remote.ip())
                    .map(|q| q.id)
                    .collect();
                for q in ph2 {
                    self.delete_ph2(now, q, false);
                }
                let ph1: Vec<u64> = self
                    .ph1s
                    .values()
                    .filter(|x| x.remote.ip() == remote.ip())
                    .map(|x| x.id)
                    .collect();
                for x in ph1 {
                    self.remove_ph1(x, true);
                }
                return;
            }
        }
        p.dpd.seq = p.dpd.seq.wrapping_add(1);
        p.dpd.waiting = true;
        // look again after dpd_retry; an ACK moves the next probe to dpd_delay
        p.dpd.next = Some(now + Duration::from_secs(u64::from(retry)));
        let n = Payload::Notify(isakmp::Notify {
            doi: isakmp::Doi::IPSEC,
            protocol: ProtocolId::ISAKMP,
            notify_type: NotifyType::R_U_THERE,
            spi: [p.icky, p.rcky].concat(),
            data: p.dpd.seq.to_be_bytes().to_vec(),
        });
        let _ = self.send_info(now, id, vec![n]);
    }

    /// A PF_KEY message from the kernel (reply or broadcast).
    pub fn handle_kernel(&mut self, now: Instant, m: Message) {
        let ours = m.header.pid == self.opts.pid;
        match m.header.msg_type {
            MsgType::X_SPDADD
            | MsgType::X_SPDUPDATE
            | MsgType::X_SPDDUMP
            | MsgType::X_SPDDELETE
            | MsgType::X_SPDDELETE2
            | MsgType::X_SPDEXPIRE
            | MsgType::X_SPDFLUSH => {
                if m.header.errno != 0 && m.header.msg_type != MsgType::X_SPDDUMP {
                    self.out.log(
                        Level::Error,
                        None,
                        format!(
                            "pfkey {:?} failed: errno {}",
                            m.header.msg_type, m.header.errno
                        ),
                    );
                }
                self.spd.apply(&m);
            }
            MsgType::GETSPI if ours => self.on_getspi(now, &m),
            MsgType::UPDATE | MsgType::ADD if ours && m.header.errno != 0 => {
                self.out.log(
                    Level::Error,
                    None,
                    format!(
                        "pfkey {:?} failed: errno {}",
                        m.header.msg_type, m.header.errno
                    ),
                );
            }
            MsgType::ACQUIRE if m.header.pid == 0 && m.header.errno == 0 => {
                if let Err(e) = self.on_acquire(now, &m) {
                    self.out.log(Level::Error, None, format!("ACQUIRE: {e}"));
                }
            }
            MsgType::EXPIRE => self.on_expire(now, &m),
            MsgType::DUMP if ours && m.header.errno == 0 => self.on_dump(&m),
            MsgType::DELETE if !ours && m.header.errno == 0 => {
                // someone else (setkey) deleted an SA we negotiated: forget it
                if let Some(spi) = m.sa().map(|s| s.spi) {
                    let found = self
                        .ph2s
                        .values()
                        .find(|q| {
                            q.state == P2State::Established
                                && q.installed.iter().any(|(_, a, _)| *a == spi)
                        })
                        .map(|q| q.id);
                    if let Some(q) = found {
                        self.delete_ph2(now, q, true);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_dump(&mut self, m: &Message) {
        let (Some(sa), Some(src), Some(dst)) = (m.sa(), m.addr_src(), m.addr_dst()) else {
            if m.header.seq == 0 {
                self.purges.clear();
            }
            return;
        };
        if sa.state == SaState::MATURE || sa.state == SaState::DYING {
            let (s, d) = (src.addr.ip(), dst.addr.ip());
            let hit = self.purges.iter().any(|(l, r, keep)| {
                ((s == *l && d == *r) || (s == *r && d == *l)) && !keep.contains(&sa.spi)
            });
            if hit {
                self.out
                    .kernel(kernel::delete(m.header.satype, sa.spi, s, d, self.opts.pid));
                // and forget our record of it
                let ids: Vec<u64> = self
                    .ph2s
                    .values()
                    .filter(|q| {
                        q.installed
                            .iter()
                            .any(|(_, a, b)| *a == sa.spi || *b == sa.spi)
                    })
                    .map(|q| q.id)
                    .collect();
                for id in ids {
                    self.ph2s.remove(&id);
                }
            }
        }
        if m.header.seq == 0 && m.header.satype == SaType::AH {
            self.purges.clear();
        }
    }
}
