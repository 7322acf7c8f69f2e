# shellcheck shell=bash
# Part of cluster/lib.sh (sourced by it; do not source or run it alone): HTTPS on the public port of the local
# cluster (cluster/up --tls): a local public CA, one server certificate per node, a client CA for aggregators
# with one client certificate, and curl that trusts the public CA.

PUBLIC_PKI_DIR="$SECRETS_DIR/public-pki"        # ca.pem|key (servers), clients-ca.pem|key, client/client.pem|key
PUBLIC_TLS_MARKER="$STATE_DIR/public-tls"       # present: the cluster serves HTTPS (set once by cluster/up --tls)
PUBLIC_CERT_DAYS=825

# True when the cluster serves HTTPS on its public ports.
public_tls_on() { [[ -f $PUBLIC_TLS_MARKER ]]; }

# curl for the cluster's public URLs: trusts the local public CA when the cluster serves HTTPS. Every cluster/ script
# calls curl only for the local cluster, so this wrapper covers them all.
curl() {
    if public_tls_on && [[ -s $PUBLIC_PKI_DIR/ca.pem ]]; then
        command curl --cacert "$PUBLIC_PKI_DIR/ca.pem" "$@"
    else
        command curl "$@"
    fi
}

# Makes a self-signed P-256 CA (DIR/NAME.pem, NAME.key 0600) unless it exists.
public_ca_make() { # DIR NAME COMMON_NAME
    local dir=$1 name=$2 cn=$3
    [[ -s $dir/$name.pem && -s $dir/$name.key ]] && return 0
    info "creating the $cn ($dir/$name.pem)"
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 3650 \
        -subj "/O=SMA local cluster/CN=$cn" -keyout "$dir/$name.key" -out "$dir/$name.pem" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" >/dev/null 2>&1) || die "openssl could not create the $cn in $dir"
}

# Issues a P-256 leaf from CA DIR/CA.pem into OUT.pem / OUT.key (written next to them, then renamed, so a node
# reloading at that moment never reads half a file).
public_leaf_issue() { # CA_DIR CA_NAME OUT_BASE SUBJECT_CN EXTENSIONS
    local cadir=$1 caname=$2 out=$3 cn=$4 ext=$5 tmp
    tmp=$(mktemp -d "$(dirname "$out")/.issue.XXXXXX") || die "cannot create a temporary directory next to $out"
    if ! (umask 077 && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
              -subj "/O=SMA local cluster/CN=$cn" -keyout "$tmp/leaf.key" -out "$tmp/leaf.csr" >/dev/null 2>&1 \
          && printf '%b' "$ext" >"$tmp/ext" \
          && openssl x509 -req -in "$tmp/leaf.csr" -CA "$cadir/$caname.pem" -CAkey "$cadir/$caname.key" -CAcreateserial \
              -CAserial "$tmp/serial" -days "$PUBLIC_CERT_DAYS" -sha256 -extfile "$tmp/ext" -out "$tmp/leaf.pem" >/dev/null 2>&1); then
        rm -rf "$tmp"
        die "openssl could not issue the certificate $out.pem (CN=$cn)"
    fi
    mv "$tmp/leaf.key" "$out.key" && mv "$tmp/leaf.pem" "$out.pem" || die "cannot move the new certificate into $out.pem"
    rm -rf "$tmp"
}

# The public CA, the aggregators' client CA and one client certificate (CN local-aggregator), once.
ensure_public_pki() {
    command -v openssl >/dev/null 2>&1 || die "openssl is needed for cluster/up --tls (apt-get install openssl)"
    { mkdir -p "$PUBLIC_PKI_DIR/client" && chmod 0700 "$PUBLIC_PKI_DIR" "$PUBLIC_PKI_DIR/client"; } || die "cannot create $PUBLIC_PKI_DIR"
    public_ca_make "$PUBLIC_PKI_DIR" ca "SMA local public CA"
    public_ca_make "$PUBLIC_PKI_DIR" clients-ca "SMA local aggregators CA"
    if ! openssl verify -CAfile "$PUBLIC_PKI_DIR/clients-ca.pem" "$PUBLIC_PKI_DIR/client/client.pem" >/dev/null 2>&1; then
        info "issuing the aggregator client certificate ($PUBLIC_PKI_DIR/client/client.pem, CN local-aggregator)"
        public_leaf_issue "$PUBLIC_PKI_DIR" clients-ca "$PUBLIC_PKI_DIR/client/client" local-aggregator \
            'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
    fi
}

# Issues node ID's public server certificate (nodes/<id>/tls/public.pem, public.key) for 127.0.0.1 and localhost,
# unless it has one from the current public CA; with FORCE=1 always (a rotation).
ensure_public_cert() { # ID [FORCE]
    local id=$1 force=${2:-0} dir
    dir=$(node_tls_dir "$id")
    if ((force == 0)) && [[ -s $dir/public.key ]] \
        && openssl verify -CAfile "$PUBLIC_PKI_DIR/ca.pem" "$dir/public.pem" >/dev/null 2>&1; then
        return 0
    fi
    { mkdir -p "$dir" && chmod 0700 "$dir"; } || die "cannot create $dir"
    public_leaf_issue "$PUBLIC_PKI_DIR" ca "$dir/public" "$id" \
        'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n'
}

# The serial number (hex, as openssl prints it) of the certificate FILE.
cert_serial() { openssl x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2; }

# The serial number of the certificate the server at 127.0.0.1:PORT presents to a new connection.
served_cert_serial() { # PORT
    openssl s_client -connect "127.0.0.1:$1" -CAfile "$PUBLIC_PKI_DIR/ca.pem" </dev/null 2>/dev/null \
        | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
