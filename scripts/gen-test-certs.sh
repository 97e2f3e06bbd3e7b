#!/bin/sh
# Generate the certificates used by the llmc integration tests.
#
# Usage: scripts/gen-test-certs.sh DIR
#
# Creates in DIR (EC P-256 keys, SHA-256 signatures):
#   ca.pem, ca.key                   test CA
#   server.pem, server.key           signed by the test CA; SAN DNS:localhost, IP:127.0.0.1
#                                    and 192.0.2.1 (below)
#   wrong-host.pem, wrong-host.key   signed by the test CA; SAN DNS:wrong.example only
#   other-ca.pem, other-ca.key       a second, unrelated CA
#   unknown-ca-server.pem, .key      signed by the second CA; same SAN as server.pem
#   expired.pem, expired.key         signed by the test CA, same SAN as server.pem,
#                                    valid in 2000 only
#   not-yet-valid.pem, .key          the same, valid from 2090 on
#   client-only.pem, .key            signed by the test CA, same SAN as server.pem,
#                                    extendedKeyUsage clientAuth only: not for a server
#   sha1-signed.pem, .key            signed by the test CA with SHA-1 (which mbedTLS's
#                                    default profile refuses), same SAN as server.pem
#
# 192.0.2.1 (TEST-NET-1) is the test servers' address in the lwIP tests
# (scripts/check.d/lwip.sh), which reach them by IP since the lwIP build
# resolves no names. It is in the SAN both as IP:192.0.2.1 and as
# DNS:192.0.2.1: mbedTLS 2.28 matches the host name only against dNSName
# entries, later versions match an IP address against iPAddress ones.
#
# Idempotent: if DIR/ca.pem exists and DIR/version holds this script's
# VERSION nothing is done; an older set is replaced. Files are generated in
# a scratch directory and moved into DIR with ca.pem last, so the presence
# of ca.pem (with the right version) implies the whole set is present.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi

DIR=$1
VERSION=5
current() { [ -f "$DIR/ca.pem" ] && [ "$(cat "$DIR/version" 2>/dev/null)" = "$VERSION" ]; }
if current; then
    exit 0
fi

command -v openssl >/dev/null 2>&1 || { echo "$0: openssl not found" >&2; exit 1; }

mkdir -p "$DIR"

# Serialise concurrent invocations (e.g. parallel test runs) when flock(1)
# is available, then re-check under the lock.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$DIR/.lock"
    flock 9
    if current; then
        exit 0
    fi
fi

WORK=$(mktemp -d "$DIR/.gen.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

DAYS=3650

genkey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -pkeyopt ec_param_enc:named_curve -out "$1" 2>/dev/null
}

# make_ca NAME CN
make_ca() {
    cat >"$WORK/$1.ext" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $2
O = llmc tests
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
    genkey "$WORK/$1.key"
    openssl req -new -x509 -sha256 -days "$DAYS" -key "$WORK/$1.key" \
        -config "$WORK/$1.ext" -extensions v3_ca -out "$WORK/$1.pem"
}

# leaf_csr NAME SAN [EKU]: a leaf's key, its request and its extensions
# (EKU: extendedKeyUsage, serverAuth unless given)
leaf_csr() {
    cat >"$WORK/$1.ext" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $1
O = llmc tests
[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = ${3:-serverAuth}
subjectAltName = $2
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
    genkey "$WORK/$1.key"
    openssl req -new -sha256 -key "$WORK/$1.key" -config "$WORK/$1.ext" \
        -out "$WORK/$1.csr"
}

# make_leaf NAME CA SAN [EKU [DIGEST]]
make_leaf() {
    leaf_csr "$1" "$3" "${4:-}"
    openssl x509 -req "-${5:-sha256}" -days "$DAYS" -in "$WORK/$1.csr" \
        -CA "$WORK/$2.pem" -CAkey "$WORK/$2.key" -set_serial "0x$(openssl rand -hex 8)" \
        -extfile "$WORK/$1.ext" -extensions v3_leaf -out "$WORK/$1.pem" 2>/dev/null
}

# make_leaf_dated NAME CA SAN START END: as make_leaf, valid from START to
# END (YYYYMMDDHHMMSSZ); `openssl x509 -req` sets no start date before
# OpenSSL 3.4, `openssl ca` does
make_leaf_dated() {
    leaf_csr "$1" "$3"
    : >"$WORK/$1.db"
    openssl rand -hex 8 >"$WORK/$1.serial"
    cat >"$WORK/$1.ca" <<EOF
[ca]
default_ca = dated
[dated]
database = $WORK/$1.db
serial = $WORK/$1.serial
new_certs_dir = $WORK
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
EOF
    openssl ca -batch -notext -config "$WORK/$1.ca" -cert "$WORK/$2.pem" \
        -keyfile "$WORK/$2.key" -in "$WORK/$1.csr" -out "$WORK/$1.pem" \
        -startdate "$4" -enddate "$5" \
        -extfile "$WORK/$1.ext" -extensions v3_leaf 2>/dev/null
}

make_ca ca "llmc test CA"
make_ca other-ca "llmc other test CA"
SAN="DNS:localhost, IP:127.0.0.1, DNS:192.0.2.1, IP:192.0.2.1"
make_leaf server ca "$SAN"
make_leaf wrong-host ca "DNS:wrong.example"
make_leaf unknown-ca-server other-ca "$SAN"
make_leaf_dated expired ca "$SAN" 20000101000000Z 20001231000000Z
make_leaf_dated not-yet-valid ca "$SAN" 20900101000000Z 20991231000000Z
make_leaf client-only ca "$SAN" clientAuth
make_leaf sha1-signed ca "$SAN" serverAuth sha1

openssl verify -CAfile "$WORK/ca.pem" "$WORK/server.pem" "$WORK/wrong-host.pem" >/dev/null
openssl verify -CAfile "$WORK/other-ca.pem" "$WORK/unknown-ca-server.pem" >/dev/null

# an older set loses its ca.pem first: never a mix that looks complete
rm -f "$DIR/ca.pem" "$DIR/version"
for f in ca.key other-ca.pem other-ca.key \
         server.pem server.key wrong-host.pem wrong-host.key \
         unknown-ca-server.pem unknown-ca-server.key \
         expired.pem expired.key not-yet-valid.pem not-yet-valid.key \
         client-only.pem client-only.key sha1-signed.pem sha1-signed.key; do
    chmod 0644 "$WORK/$f"
    mv -f "$WORK/$f" "$DIR/$f"
done
echo "$VERSION" >"$WORK/version"
chmod 0644 "$WORK/version" "$WORK/ca.pem"
mv -f "$WORK/version" "$DIR/version"
mv -f "$WORK/ca.pem" "$DIR/ca.pem"
