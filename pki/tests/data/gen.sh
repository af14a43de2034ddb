#!/bin/sh
# Regenerates the pki test fixtures (committed; tests never run this).
# Needs strongSwan's `pki` (Debian strongswan-pki), `openssl` and python3 with `cryptography`.
# All dates are fixed so the tests can inject `now` deterministically.
set -eu
cd "$(dirname "$0")"
rm -rf certdir && mkdir certdir
P="pki"
D="-D %Y%m%d%H%M%S"
CA_LIFE="$D -F 20200101000000 -T 20400101000000"
EE_LIFE="$D -F 20240101000000 -T 20340101000000"
gen() { $P --gen --type rsa --size 2048 --outform pem > "$1"; }

gen root.key; gen inter.key; gen end.key; gen peer.key; gen rogue.key; gen pl0.key; gen pl0inter.key
$P --self --in root.key --dn "C=XX, O=Racoon Test, CN=Racoon Test Root CA" --ca $CA_LIFE --outform pem > root.crt
$P --issue --cacert root.crt --cakey root.key --type priv --in inter.key \
   --dn "C=XX, O=Racoon Test, CN=Racoon Test Intermediate CA" --ca $CA_LIFE --serial 02 --outform pem > inter.crt
issue_ee() { # out key dn serial digest [san...]
  out=$1; key=$2; dn=$3; serial=$4; dig=$5; shift 5
  sans=""; for s in "$@"; do sans="$sans --san $s"; done
  $P --issue --cacert inter.crt --cakey inter.key --type priv --in "$key" --dn "$dn" $sans \
     $EE_LIFE --serial "$serial" --digest "$dig" --outform pem > "$out"
}
issue_ee end.crt end.key "C=XX, O=Example, CN=gw.example.net" 1001 sha256 gw.example.net admin@example.net 192.0.2.1
issue_ee peer.crt peer.key "C=XX, O=Example, OU=Branch East, CN=peer.example.net" 1002 sha256 peer.example.net 2001:db8::2
issue_ee revoked.crt peer.key "C=XX, O=Example, CN=revoked.example.net" 1003 sha256 revoked.example.net
issue_ee end-sha1.crt end.key "C=XX, O=Example, CN=sha1.example.net" 1004 sha1
issue_ee end-sha384.crt end.key "C=XX, O=Example, CN=sha384.example.net" 1005 sha384
issue_ee end-sha512.crt end.key "C=XX, O=Example, CN=sha512.example.net" 1006 sha512
# a leaf certificate used as an issuer (must be rejected: not a CA); pki refuses, so openssl signs it
openssl req -new -key peer.key -subj "/C=XX/O=Example/CN=under-leaf" -out underleaf.csr
openssl x509 -req -in underleaf.csr -CA end.crt -CAkey end.key -set_serial 0x2001 -days 7300 -sha256 \
   -out underleaf.crt 2>/dev/null
rm -f underleaf.csr
# a root nobody trusts, and a leaf with the same subject as end.crt under it
$P --self --in rogue.key --dn "C=XX, O=Racoon Test, CN=Racoon Test Root CA" --ca $CA_LIFE --outform pem > rogue-root.crt
$P --issue --cacert rogue-root.crt --cakey rogue.key --type priv --in end.key \
   --dn "C=XX, O=Example, CN=gw.example.net" --san gw.example.net $EE_LIFE --serial 3001 --outform pem > rogue-end.crt
# path length: root(pathlen 0) -> intermediate -> leaf must fail
$P --self --in pl0.key --dn "C=XX, O=Racoon Test, CN=PathLen0 Root" --ca --pathlen 0 $CA_LIFE --outform pem > pl0-root.crt
$P --issue --cacert pl0-root.crt --cakey pl0.key --type priv --in pl0inter.key \
   --dn "C=XX, O=Racoon Test, CN=PathLen0 Intermediate" --ca $CA_LIFE --serial 04 --outform pem > pl0-inter.crt
$P --issue --cacert pl0-inter.crt --cakey pl0inter.key --type priv --in end.key \
   --dn "C=XX, O=Example, CN=pl0leaf.example.net" $EE_LIFE --serial 4001 --outform pem > pl0-end.crt
# CRL of the intermediate revoking revoked.crt (serial 1003)
$P --signcrl --cacert inter.crt --cakey inter.key --cert revoked.crt --reason key-compromise --date 1735689600 \
   $D -F 20250101000000 -T 20350101000000 --outform der > inter.crl
# formats
openssl x509 -in end.crt -outform der -out end.der
openssl x509 -in root.crt -outform der -out root.der
cat inter.crt end.crt > chain.pem
openssl rsa -in end.key -traditional -outform der -out end.key.der 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in end.key -out end.pk8.pem
openssl pkcs8 -topk8 -nocrypt -in end.key -outform der -out end.pk8.der
openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:secret -in end.key -out end.enc.pk8.pem
openssl rsa -in end.key -aes128 -traditional -passout pass:secret -out end.enc-legacy.pem 2>/dev/null
# OpenSSL-hashed CApath with the trust anchor, the intermediate and the CRL
cp root.crt "certdir/$(openssl x509 -hash -noout -in root.crt).0"
cp inter.crt "certdir/$(openssl x509 -hash -noout -in inter.crt).0"
openssl crl -inform der -in inter.crl -out "certdir/$(openssl crl -inform der -hash -noout -in inter.crl).r0"
# plainrsa-gen style private key and public key files for end.key
python3 - <<'PY'
import base64
from cryptography.hazmat.primitives import serialization
k = serialization.load_pem_private_key(open("end.key", "rb").read(), None)
n = k.private_numbers(); p = n.public_numbers
def hx(v): return "0x%X" % v if len("%X" % v) % 2 == 0 else "0x0%X" % v
def b(v): return v.to_bytes((v.bit_length() + 7) // 8, "big")
e = b(p.e); rfc3110 = bytes([len(e)]) + e + b(p.n)
pub = "0s" + base64.b64encode(rfc3110).decode()
with open("end.plainrsa", "w") as f:
    f.write("# generated like plainrsa-gen -b 2048\n: RSA\t{\n")
    f.write("\t# RSA 2048 bits   fixture\n\t# pubkey=%s\n" % pub)
    for name, v in [("Modulus", p.n), ("PublicExponent", p.e), ("PrivateExponent", n.d),
                    ("Prime1", n.p), ("Prime2", n.q), ("Exponent1", n.dmp1),
                    ("Exponent2", n.dmq1), ("Coefficient", n.iqmp)]:
        f.write("\t%s: %s\n" % (name, hx(v)))
    f.write("\t}\n# racoon.conf: certificate_type plain_rsa \"end.plainrsa\";\n")
with open("end.pub", "w") as f:
    f.write("# peers_certfile plain_rsa\n192.0.2.1 : PUB %s\n" % pub)
PY
