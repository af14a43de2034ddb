#!/usr/bin/env python3
"""An independent PF_KEY v2 client, written from RFC 2367 and the Linux headers
(<linux/pfkeyv2.h>, <linux/ipsec.h>) alone, that drives ipsecd over its unix
SOCK_SEQPACKET socket (one PF_KEY message per packet).

It shares no code with the Rust crates: if ipsecd and this script agree, the
engine speaks PF_KEY as the headers define it, not only as our own codec does.

Usage: pfkey_client.py SOCKET_PATH      (exit 0 = every step passed)
"""
import errno
import os
import select
import socket
import struct
import sys
import time

# --- constants from <linux/pfkeyv2.h> and <linux/ipsec.h> -------------------
PF_KEY_V2 = 2
SADB_GETSPI, SADB_UPDATE, SADB_ADD, SADB_DELETE, SADB_GET = 1, 2, 3, 4, 5
SADB_ACQUIRE, SADB_REGISTER, SADB_EXPIRE, SADB_FLUSH, SADB_DUMP = 6, 7, 8, 9, 10
SADB_X_SPDADD, SADB_X_SPDDUMP, SADB_X_SPDFLUSH = 14, 18, 19

SADB_EXT_SA = 1
SADB_EXT_LIFETIME_CURRENT, SADB_EXT_LIFETIME_HARD, SADB_EXT_LIFETIME_SOFT = 2, 3, 4
SADB_EXT_ADDRESS_SRC, SADB_EXT_ADDRESS_DST = 5, 6
SADB_EXT_KEY_AUTH, SADB_EXT_KEY_ENCRYPT = 8, 9
SADB_EXT_SUPPORTED_AUTH, SADB_EXT_SUPPORTED_ENCRYPT = 14, 15
SADB_EXT_SPIRANGE = 16
SADB_X_EXT_POLICY, SADB_X_EXT_SA2 = 18, 19

SADB_SATYPE_UNSPEC, SADB_SATYPE_ESP = 0, 3
SADB_AALG_SHA1HMAC = 3
SADB_EALG_AESCBC = 12
SADB_SASTATE_MATURE = 1

IPSEC_MODE_TUNNEL = 2
IPSEC_POLICY_IPSEC = 2
IPSEC_DIR_OUTBOUND = 2
IPSEC_LEVEL_REQUIRE = 2
IPPROTO_ESP = 50
IPSEC_ULPROTO_ANY = 255
AF_INET = 2

SRC, DST = "192.0.2.1", "192.0.2.2"
ENC_KEY = bytes(range(0x10, 0x20))          # aes-cbc 128
AUTH_KEY = bytes(range(0x40, 0x54))         # hmac-sha1 160

PID = os.getpid()
seq_counter = [100]


def next_seq():
    seq_counter[0] += 1
    return seq_counter[0]


def pad8(b):
    return b + b"\0" * (-len(b) % 8)


# --- encoding -----------------------------------------------------------------
def ext_raw(ext_type, payload_after_header):
    """payload_after_header excludes the 4-byte sadb_ext header."""
    total = 4 + len(payload_after_header)
    padded = payload_after_header + b"\0" * (-total % 8)
    return struct.pack("=HH", (4 + len(padded)) // 8, ext_type) + padded


def sockaddr_in(addr, port=0):
    return struct.pack("=H", AF_INET) + struct.pack("!H", port) + socket.inet_aton(addr) + b"\0" * 8


def ext_sa(spi, auth=SADB_AALG_SHA1HMAC, enc=SADB_EALG_AESCBC, replay=32, state=SADB_SASTATE_MATURE):
    return ext_raw(SADB_EXT_SA, struct.pack("!I", spi) + struct.pack("=BBBBI", replay, state, auth, enc, 0))


def ext_addr(ext_type, addr, prefixlen=32, proto=IPSEC_ULPROTO_ANY):
    return ext_raw(ext_type, struct.pack("=BBH", proto, prefixlen, 0) + sockaddr_in(addr))


def ext_key(ext_type, key):
    return ext_raw(ext_type, struct.pack("=HH", len(key) * 8, 0) + key)


def ext_lifetime(ext_type, allocations=0, nbytes=0, addtime=0, usetime=0):
    return ext_raw(ext_type, struct.pack("=IQQQ", allocations, nbytes, addtime, usetime))


def ext_sa2(mode, reqid=0):
    return ext_raw(SADB_X_EXT_SA2, struct.pack("=BBHII", mode, 0, 0, 0, reqid))


def ext_spirange(lo, hi):
    return ext_raw(SADB_EXT_SPIRANGE, struct.pack("=III", lo, hi, 0))


def ext_policy_tunnel(direction, tsrc, tdst, level=IPSEC_LEVEL_REQUIRE, reqid=0):
    addrs = sockaddr_in(tsrc) + sockaddr_in(tdst)
    req_len = 16 + len(addrs)
    req = struct.pack("=HHBBHII", req_len, IPPROTO_ESP, IPSEC_MODE_TUNNEL, level, 0, reqid, 0) + addrs
    return ext_raw(SADB_X_EXT_POLICY, struct.pack("=HBBII", IPSEC_POLICY_IPSEC, direction, 0, 0, 0) + req)


def msg(msg_type, satype, exts, seq=None):
    body = b"".join(exts)
    length = (16 + len(body)) // 8
    seq = next_seq() if seq is None else seq
    return struct.pack("=BBBBHHII", PF_KEY_V2, msg_type, 0, satype, length, 0, seq, PID) + body, seq


# --- decoding -----------------------------------------------------------------
class Msg:
    def __init__(self, data):
        if len(data) < 16:
            raise AssertionError("reply shorter than sadb_msg: %d bytes" % len(data))
        (self.version, self.type, self.errno, self.satype, length, self.reserved,
         self.seq, self.pid) = struct.unpack_from("=BBBBHHII", data, 0)
        if self.version != PF_KEY_V2:
            raise AssertionError("bad version %d" % self.version)
        if length * 8 != len(data):
            raise AssertionError("sadb_msg_len %d words but %d bytes received" % (length, len(data)))
        self.exts = {}
        off = 16
        while off < len(data):
            if off + 4 > len(data):
                raise AssertionError("truncated extension header at %d" % off)
            elen, etype = struct.unpack_from("=HH", data, off)
            if elen == 0 or off + elen * 8 > len(data):
                raise AssertionError("bad extension length %d at %d" % (elen, off))
            if etype in self.exts:
                raise AssertionError("duplicate extension %d" % etype)
            self.exts[etype] = data[off:off + elen * 8]
            off += elen * 8

    def sa_spi(self):
        return struct.unpack_from("!I", self.exts[SADB_EXT_SA], 4)[0]

    def key(self, ext_type):
        raw = self.exts[ext_type]
        bits = struct.unpack_from("=H", raw, 4)[0]
        return raw[8:8 + bits // 8]

    def lifetime(self, ext_type):
        return struct.unpack_from("=IQQQ", self.exts[ext_type], 4)

    def policy_id(self):
        return struct.unpack_from("=I", self.exts[SADB_X_EXT_POLICY], 8)[0]

    def supported(self, ext_type):
        raw = self.exts[ext_type]
        algs = []
        for off in range(8, len(raw), 8):
            alg_id, ivlen, minbits, maxbits, _ = struct.unpack_from("=BBHHH", raw, off)
            algs.append((alg_id, minbits, maxbits))
        return algs


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(path)

    def send(self, data):
        self.sock.send(data)

    def recv(self, timeout=2.0):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        return Msg(self.sock.recv(65536))

    def request(self, msg_type, satype, exts, seq=None):
        data, seq = msg(msg_type, satype, exts, seq)
        self.send(data)
        deadline = time.time() + 3
        while time.time() < deadline:
            m = self.recv(max(0.05, deadline - time.time()))
            if m is None:
                break
            if m.type == msg_type and m.seq == seq and m.pid == PID:
                return m
        raise AssertionError("no reply to message type %d seq %d" % (msg_type, seq))

    def collect(self, msg_type, seq):
        """All replies of a dump, until the one with seq 0 (or an error)."""
        out = []
        deadline = time.time() + 3
        while time.time() < deadline:
            m = self.recv(max(0.05, deadline - time.time()))
            if m is None:
                break
            if m.type != msg_type or m.pid != PID:
                continue
            out.append(m)
            if m.errno or m.seq == 0:
                return out
        raise AssertionError("dump of type %d did not end with seq 0" % msg_type)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok   " + what)


def sa_exts(spi, soft=0, hard=0):
    exts = [ext_sa(spi)]
    if hard:
        exts.append(ext_lifetime(SADB_EXT_LIFETIME_HARD, addtime=hard))
    if soft:
        exts.append(ext_lifetime(SADB_EXT_LIFETIME_SOFT, addtime=soft))
    exts += [ext_addr(SADB_EXT_ADDRESS_SRC, SRC), ext_addr(SADB_EXT_ADDRESS_DST, DST),
             ext_key(SADB_EXT_KEY_AUTH, AUTH_KEY), ext_key(SADB_EXT_KEY_ENCRYPT, ENC_KEY),
             ext_sa2(IPSEC_MODE_TUNNEL)]
    return exts


def main(path):
    a = Client(path)          # does the work
    b = Client(path)          # registered listener for EXPIRE

    a.request(SADB_FLUSH, SADB_SATYPE_UNSPEC, [])
    a.request(SADB_X_SPDFLUSH, SADB_SATYPE_UNSPEC, [])

    # REGISTER: the reply lists the supported algorithms.
    r = b.request(SADB_REGISTER, SADB_SATYPE_ESP, [])
    check(r.errno == 0, "REGISTER esp answered without error")
    check(SADB_EXT_SUPPORTED_AUTH in r.exts and SADB_EXT_SUPPORTED_ENCRYPT in r.exts,
          "REGISTER reply carries SUPPORTED_AUTH and SUPPORTED_ENCRYPT")
    enc = {a_[0]: a_ for a_ in r.supported(SADB_EXT_SUPPORTED_ENCRYPT)}
    auth = {a_[0]: a_ for a_ in r.supported(SADB_EXT_SUPPORTED_AUTH)}
    check(SADB_EALG_AESCBC in enc and enc[SADB_EALG_AESCBC][1] <= 128 <= enc[SADB_EALG_AESCBC][2],
          "aes-cbc supported with 128-bit keys")
    check(SADB_AALG_SHA1HMAC in auth and auth[SADB_AALG_SHA1HMAC][1] <= 160 <= auth[SADB_AALG_SHA1HMAC][2],
          "hmac-sha1 supported with 160-bit keys")

    # ADD, then the same ADD again: EEXIST.
    r = a.request(SADB_ADD, SADB_SATYPE_ESP, sa_exts(0x1000))
    check(r.errno == 0, "ADD esp spi 0x1000")
    r = a.request(SADB_ADD, SADB_SATYPE_ESP, sa_exts(0x1000))
    check(r.errno == errno.EEXIST, "duplicate ADD answered EEXIST (got %d)" % r.errno)

    # GET returns the keys.
    r = a.request(SADB_GET, SADB_SATYPE_ESP,
                  [ext_sa(0x1000), ext_addr(SADB_EXT_ADDRESS_SRC, SRC), ext_addr(SADB_EXT_ADDRESS_DST, DST)])
    check(r.errno == 0 and r.sa_spi() == 0x1000, "GET finds spi 0x1000")
    check(r.key(SADB_EXT_KEY_ENCRYPT) == ENC_KEY and r.key(SADB_EXT_KEY_AUTH) == AUTH_KEY,
          "GET returns both keys unchanged")

    # GETSPI within a range, then UPDATE the larval SA.
    r = a.request(SADB_GETSPI, SADB_SATYPE_ESP,
                  [ext_addr(SADB_EXT_ADDRESS_SRC, DST), ext_addr(SADB_EXT_ADDRESS_DST, SRC),
                   ext_spirange(0x2000, 0x2fff), ext_sa2(IPSEC_MODE_TUNNEL)])
    check(r.errno == 0, "GETSPI in [0x2000, 0x2fff]")
    spi = r.sa_spi()
    check(0x2000 <= spi <= 0x2fff, "GETSPI chose 0x%x inside the range" % spi)
    upd = [ext_sa(spi), ext_addr(SADB_EXT_ADDRESS_SRC, DST), ext_addr(SADB_EXT_ADDRESS_DST, SRC),
           ext_key(SADB_EXT_KEY_AUTH, AUTH_KEY), ext_key(SADB_EXT_KEY_ENCRYPT, ENC_KEY),
           ext_sa2(IPSEC_MODE_TUNNEL)]
    r = a.request(SADB_UPDATE, SADB_SATYPE_ESP, upd, seq=r.seq)
    check(r.errno == 0, "UPDATE spi 0x%x with the GETSPI's seq" % spi)
    r = a.request(SADB_GET, SADB_SATYPE_ESP,
                  [ext_sa(spi), ext_addr(SADB_EXT_ADDRESS_SRC, DST), ext_addr(SADB_EXT_ADDRESS_DST, SRC)])
    state = struct.unpack_from("=B", r.exts[SADB_EXT_SA], 9)[0] if r.errno == 0 else None
    check(r.errno == 0 and state == SADB_SASTATE_MATURE, "UPDATE made the larval SA mature")

    # DUMP: two SAs, the last message has seq 0.
    data, seq = msg(SADB_DUMP, SADB_SATYPE_ESP, [])
    a.send(data)
    dump = a.collect(SADB_DUMP, seq)
    spis = sorted(m.sa_spi() for m in dump if m.errno == 0)
    check(spis == sorted([0x1000, spi]), "DUMP lists exactly the two SAs (%s)" % [hex(s) for s in spis])

    # DELETE, then GET: Linux af_key answers a missing SA with ESRCH
    # (pfkey_get/pfkey_delete), KAME with ENOENT; we follow the Linux ABI.
    del_exts = [ext_sa(0x1000), ext_addr(SADB_EXT_ADDRESS_SRC, SRC), ext_addr(SADB_EXT_ADDRESS_DST, DST)]
    r = a.request(SADB_DELETE, SADB_SATYPE_ESP, del_exts)
    check(r.errno == 0, "DELETE spi 0x1000")
    r = a.request(SADB_GET, SADB_SATYPE_ESP, del_exts)
    check(r.errno == errno.ESRCH, "GET after DELETE answered ESRCH (got %d)" % r.errno)

    # X_SPDADD with a tunnel-mode bundle, then X_SPDDUMP shows it.
    r = a.request(SADB_X_SPDADD, SADB_SATYPE_UNSPEC,
                  [ext_addr(SADB_EXT_ADDRESS_SRC, "10.1.0.0", 16), ext_addr(SADB_EXT_ADDRESS_DST, "10.2.0.0", 16),
                   ext_policy_tunnel(IPSEC_DIR_OUTBOUND, SRC, DST)])
    check(r.errno == 0, "X_SPDADD out 10.1/16 -> 10.2/16 esp/tunnel/%s-%s/require" % (SRC, DST))
    pid_ = r.policy_id()
    check(pid_ != 0, "X_SPDADD reply carries a kernel-assigned policy id (%d)" % pid_)
    data, seq = msg(SADB_X_SPDDUMP, SADB_SATYPE_UNSPEC, [])
    a.send(data)
    dump = [m for m in a.collect(SADB_X_SPDDUMP, seq) if m.errno == 0]
    check(len(dump) == 1 and dump[0].policy_id() == pid_, "X_SPDDUMP lists that one policy")
    pol = dump[0].exts[SADB_X_EXT_POLICY]
    ptype, pdir = struct.unpack_from("=HB", pol, 4)
    rlen, rproto, rmode, rlevel = struct.unpack_from("=HHBB", pol, 16)
    tsrc = socket.inet_ntoa(pol[16 + 16 + 4:16 + 16 + 8])
    tdst = socket.inet_ntoa(pol[16 + 32 + 4:16 + 32 + 8])
    check((ptype, pdir, rproto, rmode, rlevel, tsrc, tdst) ==
          (IPSEC_POLICY_IPSEC, IPSEC_DIR_OUTBOUND, IPPROTO_ESP, IPSEC_MODE_TUNNEL, IPSEC_LEVEL_REQUIRE, SRC, DST),
          "the dumped policy has the same bundle (esp tunnel %s-%s require)" % (tsrc, tdst))

    # Soft and hard EXPIRE on the registered socket.
    r = a.request(SADB_ADD, SADB_SATYPE_ESP, sa_exts(0x3000, soft=1, hard=2))
    check(r.errno == 0, "ADD spi 0x3000 with soft 1 s / hard 2 s lifetimes")
    got = {}
    deadline = time.time() + 6
    while time.time() < deadline and len(got) < 2:
        m = b.recv(0.2)
        if m is None or m.type != SADB_EXPIRE or m.sa_spi() != 0x3000:
            continue
        kind = "soft" if SADB_EXT_LIFETIME_SOFT in m.exts else "hard"
        got.setdefault(kind, time.time())
    check("soft" in got, "soft EXPIRE arrived on the registered socket")
    check("hard" in got, "hard EXPIRE arrived on the registered socket")
    check(got["soft"] <= got["hard"], "soft EXPIRE came before the hard one")
    r = a.request(SADB_GET, SADB_SATYPE_ESP,
                  [ext_sa(0x3000), ext_addr(SADB_EXT_ADDRESS_SRC, SRC), ext_addr(SADB_EXT_ADDRESS_DST, DST)])
    check(r.errno == errno.ESRCH, "the hard-expired SA is gone (GET answered %d)" % r.errno)

    a.request(SADB_FLUSH, SADB_SATYPE_UNSPEC, [])
    a.request(SADB_X_SPDFLUSH, SADB_SATYPE_UNSPEC, [])
    print("pfkey_client: all steps passed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: pfkey_client.py SOCKET_PATH")
    try:
        main(sys.argv[1])
    except AssertionError as e:
        print("FAIL " + str(e))
        sys.exit(1)
