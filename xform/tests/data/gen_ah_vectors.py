#!/usr/bin/env python3
"""Generate AH known-answer vectors with scapy (an independent implementation
of RFC 4302 ICV computation with mutable-field zeroing). Output:
ah-scapy.json beside this script. Needs `pip install scapy cryptography`."""
import json
import os
from scapy.all import IP, IPv6, ICMP, UDP, Raw, IPOption_Router_Alert, IPOption_RR
from scapy.layers.inet6 import IPv6ExtHdrHopByHop, HBHOptUnknown, RouterAlert
from scapy.layers.ipsec import SecurityAssociation, AH

cases = []


def add(name, pkt, alg, key, seq, mode="transport"):
    sa = SecurityAssociation(AH, spi=0x1234, auth_algo=alg, auth_key=key)
    out = sa.encrypt(pkt, seq_num=seq)
    cases.append({
        "name": name,
        "auth": alg,
        "key": key.hex(),
        "spi": 0x1234,
        "seq": seq,
        "plain": bytes(pkt).hex(),
        "ah": bytes(out).hex(),
    })


k1 = bytes(range(20))
k2 = bytes(range(32))
p4 = IP(src="192.0.2.1", dst="198.51.100.7", tos=0x28, ttl=61, id=77, flags="DF") / ICMP(id=5, seq=9) / Raw(b"racoon-rs AH test" * 3)
add("ipv4 hmac-sha1-96", p4, "HMAC-SHA1-96", k1, 1)
add("ipv4 hmac-sha256-128", p4, "SHA2-256-128", k2, 7)
p4o = IP(src="192.0.2.1", dst="198.51.100.7", ttl=12, options=[IPOption_Router_Alert(), IPOption_RR(routers=["10.0.0.1"])]) / UDP(sport=1000, dport=2000) / Raw(b"x" * 33)
add("ipv4 options hmac-sha1-96", p4o, "HMAC-SHA1-96", k1, 3)
p6 = IPv6(src="2001:db8::1", dst="2001:db8::2", tc=0x28, fl=0x12345, hlim=9) / UDP(sport=500, dport=500) / Raw(b"ipv6 payload")
add("ipv6 hmac-sha1-96", p6, "HMAC-SHA1-96", k1, 2)
add("ipv6 hmac-sha256-128 (icv padded to 8)", p6, "SHA2-256-128", k2, 2)
p6h = IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=1) / IPv6ExtHdrHopByHop(options=[RouterAlert(), HBHOptUnknown(otype=0x3e, optdata=b"\x01\x02")]) / UDP(sport=1, dport=2) / Raw(b"hbh")
add("ipv6 hop-by-hop hmac-md5-96", p6h, "HMAC-MD5-96", bytes(range(16)), 5)

with open(os.path.join(os.path.dirname(__file__), "ah-scapy.json"), "w") as f:
    json.dump(cases, f, indent=1)
print(len(cases), "cases")
