#!/usr/bin/env bash
# make size: code size per object file of the cross builds (text+data, as
# size(1) counts them: .rodata is in text) and the RAM parts of an
# llmc_client_t, read from tests/mcu/sizes.c compiled for each target.
# Usage: size.sh CROSS_DIR "t:tool-prefix:name ..." "tls-targets ..."
set -euo pipefail
dir=$1; targets=($2); tls_targets=($3)

names=(); prefixes=(); keys=()
for spec in "${targets[@]}"; do
    IFS=: read -r key prefix name <<<"$spec"
    keys+=("$key"); prefixes+=("$prefix"); names+=("$name")
done
n=${#keys[@]}

# objsize PREFIX FILE -> "text data bss"
objsize() { "${1}size" "$2" | awk 'NR == 2 { print $1, $2, $3 }'; }
# symsize PREFIX OBJ SYMBOL -> decimal size (0 when absent)
symsize() {
    local hex
    hex=$("${1}nm" -S "$2" | awk -v s="$3" '$4 == s { print $2 }')
    [ -n "$hex" ] && echo $((16#$hex)) || echo 0
}
row() { # label values...
    local label=$1; shift
    printf '%-28s' "$label"
    for v in "$@"; do printf ' %13s' "$v"; done
    printf '\n'
}

files=$(cd "$dir/${keys[0]}/obj" && ls *.o)

echo "llmc code size: src/ (the whole library; no other code), -Os, LLMC_TLS=0"
echo "(TLS glue excluded), MCU default knobs; text+data bytes per object file"
echo
row "file" "${names[@]}"
declare -A tot_t tot_d tot_b
for k in "${keys[@]}"; do tot_t[$k]=0; tot_d[$k]=0; tot_b[$k]=0; done
for f in $files; do
    vals=()
    for i in $(seq 0 $((n - 1))); do
        k=${keys[$i]}
        read -r t d b < <(objsize "${prefixes[$i]}" "$dir/$k/obj/$f")
        tot_t[$k]=$((tot_t[$k] + t)); tot_d[$k]=$((tot_d[$k] + d)); tot_b[$k]=$((tot_b[$k] + b))
        vals+=($((t + d)))
    done
    row "$f" "${vals[@]}"
done
vals=(); tv=(); dv=(); bv=()
for k in "${keys[@]}"; do
    vals+=($((tot_t[$k] + tot_d[$k]))); tv+=(${tot_t[$k]}); dv+=(${tot_d[$k]}); bv+=(${tot_b[$k]})
done
row "total text+data" "${vals[@]}"
row "  text" "${tv[@]}"
row "  data" "${dv[@]}"
row "  bss" "${bv[@]}"
echo

if [ ${#tls_targets[@]} -gt 0 ]; then
    echo "TLS glue: llmc_conn.o and llmc_client.o with LLMC_TLS=1, against Debian's"
    echo "mbedTLS 2.28 headers (its config without threading and file I/O);"
    echo "mbedTLS's own code is not counted"
    echo
    hdr=(); conn=(); client=(); delta=(); total=()
    for tk in "${tls_targets[@]}"; do
        for i in $(seq 0 $((n - 1))); do
            [ "${keys[$i]}" = "$tk" ] || continue
            p=${prefixes[$i]}; hdr+=("${names[$i]}")
            d0=0; d1=0
            for f in llmc_conn.o llmc_client.o; do
                read -r t d b < <(objsize "$p" "$dir/$tk/obj/$f"); d0=$((d0 + t + d))
                read -r t d b < <(objsize "$p" "$dir/$tk/tls/$f"); d1=$((d1 + t + d))
                if [ $f = llmc_conn.o ]; then conn+=($((t + d))); else client+=($((t + d))); fi
            done
            delta+=("+$((d1 - d0))")
            total+=($((tot_t[$tk] + tot_d[$tk] + d1 - d0)))
        done
    done
    row "file (LLMC_TLS=1)" "${hdr[@]}"
    row "llmc_conn.o" "${conn[@]}"
    row "llmc_client.o" "${client[@]}"
    row "TLS glue" "${delta[@]}"
    row "total with TLS glue" "${total[@]}"
    echo
fi

s0="$dir/${keys[0]}/sizes.o"; p0=${prefixes[0]}
knobs=""
for kn in SLOTS CONNS QUEUE_LEN MAX_PROVIDERS IAM_PROVIDERS EVENT_BUF_SIZE RECV_BUF_SIZE MAX_ATTEMPTS MSG_LEN TOKEN_MAX; do
    knobs="$knobs LLMC_$kn=$(symsize "$p0" "$s0" "llmc_knob_$kn")"
done
echo "RAM of one client (bytes), MCU defaults of llmc_config_defaults.h:"
echo "$knobs" | fold -s -w 78 | sed 's/^ */  /; s/ *$//'
echo
parts=(
    "llmc_client_t:client"
    "  slots:slots"
    "    one slot (llmc_slot_t):slot"
    "      event buffer:slot_buf"
    "      result (llmc_result_t):slot_result"
    "      HTTP parser:slot_http"
    "      request writer:slot_writer"
    "      JSON shape cache:slot_shape"
    "  conns:conns"
    "    one llmc_conn_t:conn"
    "  provider state:prov"
    "    one provider:provider_state"
    "  IAM tokens:iam"
    "  queue:queue"
    "  receive buffer:rx"
)
row "LLMC_TLS=0" "${names[@]}"
for part in "${parts[@]}"; do
    label=${part%%:*}; sym=llmc_sizeof_${part##*:}
    vals=()
    for i in $(seq 0 $((n - 1))); do
        vals+=($(symsize "${prefixes[$i]}" "$dir/${keys[$i]}/sizes.o" "$sym"))
    done
    row "$label" "${vals[@]}"
done
echo

if [ ${#tls_targets[@]} -gt 0 ]; then
    tparts=(
        "llmc_client_t:client"
        "  conns:conns"
        "    one llmc_conn_t:conn"
        "      mbedtls_ssl_context:tls_ssl"
        "  provider state:prov"
        "    saved TLS session:tls_session"
        "  mbedtls_ssl_config:tls_conf"
        "  mbedtls_x509_crt:tls_ca"
        "  mbedtls_ctr_drbg_context:tls_drbg"
        "  one slot (llmc_slot_t):slot"
    )
    hdr=()
    for tk in "${tls_targets[@]}"; do
        for i in $(seq 0 $((n - 1))); do [ "${keys[$i]}" = "$tk" ] && hdr+=("${names[$i]}"); done
    done
    echo "With LLMC_TLS=1 (mbedTLS contexts inside; mbedTLS's record buffers and"
    echo "certificates live on its heap and are not counted):"
    row "LLMC_TLS=1" "${hdr[@]}"
    for part in "${tparts[@]}"; do
        label=${part%%:*}; sym=llmc_sizeof_${part##*:}
        vals=()
        for tk in "${tls_targets[@]}"; do
            for i in $(seq 0 $((n - 1))); do
                [ "${keys[$i]}" = "$tk" ] || continue
                vals+=($(symsize "${prefixes[$i]}" "$dir/$tk/tls/sizes.o" "$sym"))
            done
        done
        row "$label" "${vals[@]}"
    done
fi

if [ ${#tls_targets[@]} -gt 0 ]; then
    # the same targets, with Evolution IAM compiled out
    echo
    echo "With LLMC_IAM_PROVIDERS=0 (Evolution IAM compiled out, for firmware that"
    echo "only uses API keys; LLMC_TLS=0), files that change and totals:"
    hdr=(); declare -A ntot
    for tk in "${tls_targets[@]}"; do
        for i in $(seq 0 $((n - 1))); do [ "${keys[$i]}" = "$tk" ] && hdr+=("${names[$i]}"); done
        ntot[$tk]=0
    done
    row "LLMC_IAM_PROVIDERS=0" "${hdr[@]}"
    for f in $files; do
        vals=(); changed=0
        for tk in "${tls_targets[@]}"; do
            for i in $(seq 0 $((n - 1))); do
                [ "${keys[$i]}" = "$tk" ] || continue
                read -r t d b < <(objsize "${prefixes[$i]}" "$dir/$tk/noiam/$f")
                read -r t0 d0 b0 < <(objsize "${prefixes[$i]}" "$dir/$tk/obj/$f")
                ntot[$tk]=$((ntot[$tk] + t + d))
                [ $((t + d)) -ne $((t0 + d0)) ] && changed=1
                vals+=($((t + d)))
            done
        done
        [ $changed -eq 1 ] && row "$f" "${vals[@]}"
    done
    vals=(); dv=(); rv=()
    for tk in "${tls_targets[@]}"; do
        for i in $(seq 0 $((n - 1))); do
            [ "${keys[$i]}" = "$tk" ] || continue
            vals+=(${ntot[$tk]})
            dv+=("-$((tot_t[$tk] + tot_d[$tk] - ntot[$tk]))")
            rv+=($(symsize "${prefixes[$i]}" "$dir/$tk/noiam/sizes.o" llmc_sizeof_client))
        done
    done
    row "total text+data" "${vals[@]}"
    row "  against the default" "${dv[@]}"
    row "llmc_client_t (RAM)" "${rv[@]}"
fi

echo
k0=${keys[0]}
code=$((tot_t[$k0] + tot_d[$k0]))
slot=$(symsize "$p0" "$s0" llmc_sizeof_slot)
verdict() { [ "$1" -le "$2" ] && echo "within" || echo "over by $(($1 - $2))"; }
echo "Targets (${names[0]}): src/ <= 12288 B text+data: $code B, $(verdict "$code" 12288);"
echo "one request slot <= 4096 B of RAM (TLS excluded): $slot B, $(verdict "$slot" 4096)."
if [ -n "${ntot[$k0]:-}" ]; then
    echo "With LLMC_IAM_PROVIDERS=0: src/ ${ntot[$k0]} B, $(verdict "${ntot[$k0]}" 12288)."
fi
