# Sourced by the cert-* scenarios' `prepare` (run by interop/run.sh once the peers' files are
# in place): a fresh two-level CA for this run, made with strongSwan's pki. Nothing here is
# committed: keys live only in the run directory.
#   root CA -> intermediate CA -> a.interop.test (racoon-rs, side A), b.interop.test (side B)
# gen_certs BITS [rogue]: A gets $RUN/A/certs/{a-chain.pem (end + intermediate), a.key, root.crt} and
# the hashed CA directory $RUN/A/cadir; B gets x509/b.crt, private/b.key, x509ca/{root,inter}.crt.
# With `rogue`, B's certificate is issued by another root A does not trust.
gen_certs() {
    local bits=$1 c=$RUN/certs p
    mkdir -p "$c" "$RUN/A/certs" "$RUN/A/cadir"
    # pki without the TPM plugin noise; bounded like everything else
    printf 'pki { load = random openssl pem pkcs1 pkcs8 x509 gmp sha1 sha2 }\n' >"$c/pki.conf"
    p() { STRONGSWAN_CONF=$c/pki.conf timeout 120 pki "$@" 2>>"$c/pki.err"; }
    local k
    for k in root inter a b; do
        p --gen --type rsa --size "$bits" --outform pem >"$c/$k.key" || fail "pki --gen $k"
    done
    p --self --in "$c/root.key" --dn "C=XX, O=Interop, CN=Interop Root CA" --ca --lifetime 3650 \
        --outform pem >"$c/root.crt" || fail "pki --self"
    p --issue --cacert "$c/root.crt" --cakey "$c/root.key" --type priv --in "$c/inter.key" \
        --dn "C=XX, O=Interop, CN=Interop Intermediate CA" --ca --lifetime 1825 --serial 02 \
        --outform pem >"$c/inter.crt" || fail "pki --issue intermediate"
    for k in a b; do
        p --issue --cacert "$c/inter.crt" --cakey "$c/inter.key" --type priv --in "$c/$k.key" \
            --dn "C=XX, O=Interop, CN=$k.interop.test" --san "$k.interop.test" --lifetime 365 \
            --outform pem >"$c/$k.crt" || fail "pki --issue $k"
    done
    if [ "${2:-}" = rogue ]; then # B's certificate from a CA that A does not know
        p --gen --type rsa --size "$bits" --outform pem >"$c/rogue.key" || fail "pki --gen rogue"
        p --self --in "$c/rogue.key" --dn "C=XX, O=Elsewhere, CN=Unknown Root CA" --ca \
            --lifetime 3650 --outform pem >"$c/rogue.crt" || fail "pki --self rogue"
        p --issue --cacert "$c/rogue.crt" --cakey "$c/rogue.key" --type priv --in "$c/b.key" \
            --dn "C=XX, O=Interop, CN=b.interop.test" --san b.interop.test --lifetime 365 \
            --outform pem >"$c/b.crt" || fail "pki --issue rogue b"
    fi
    cat "$c/a.crt" "$c/inter.crt" >"$RUN/A/certs/a-chain.pem"
    cp "$c/a.key" "$RUN/A/certs/a.key"; chmod 600 "$RUN/A/certs/a.key"
    cp "$c/root.crt" "$RUN/A/certs/root.crt"
    cp "$c/root.crt" "$RUN/A/cadir/$(openssl x509 -hash -noout -in "$c/root.crt").0" ||
        fail "openssl x509 -hash"
    cp "$c/b.crt" "$RUN/B/swanctl/x509/b.crt"
    cp "$c/b.key" "$RUN/B/swanctl/private/b.key"
    cp "$c/root.crt" "$c/inter.crt" "$RUN/B/swanctl/x509ca/"
    note "certificates: RSA-$bits root -> intermediate -> a/b ($(wc -c <"$RUN/A/certs/a-chain.pem") B chain for A)"
}
