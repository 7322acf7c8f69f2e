# shellcheck shell=bash
# Part of cluster/lib.sh (sourced by it; do not source or run it alone): the regional endpoints: one HAProxy
# process per region in front of that region's nodes (docs/ARCHITECTURE.md §4.7, §8).
#
# Region k's endpoint listens on 127.0.0.1:LB_PORT_BASE+k (8060+k: 8061, 8062, ... ; SMA_PORT_OFFSET shifts it),
# balances round-robin over the region's public ports and health-checks GET /readyz every 500 ms (down after 2
# failures, up after 2 successes). Its files live in .cluster/haproxy/<region>.cfg|.pid|.sock; its log (errors,
# retries and redispatches only) in .cluster/logs/haproxy-<region>.log.
#
# Plain HTTP: HTTP mode. A request whose connection to a node fails is re-sent to another node (retries 3,
# redispatch on every retry); on the validation routes (POST /validate, /validate-legacy, /v1/validate/batch,
# /validate-cert) and GET/HEAD also when the node closed the connection without answering (retry-on
# empty-response): those are reads whose only side effect is abuse counting, so a replay is harmless. Every other
# request (provisioning, revocation, admin) is retried only when it was never sent (conn-failure).
# HTTPS (cluster/up --tls): the same HTTP mode; TLS ends in HAProxy (its own certificate from the public CA,
# .cluster/haproxy/tls/endpoint.pem) and starts again to the node (verified against the public CA), so the same
# replays work. An aggregator's client certificate is verified by HAProxy against the clients' CA; such a request
# goes to the backend <region>-nodes-mtls, which presents the cluster's aggregator certificate (CN
# local-aggregator) to the node, so it gets validator access as it would directly. (TCP passthrough was the
# alternative: end-to-end TLS, but a request in flight on a killed node failed: 11 of 8,405 in cluster/lb-check.)

LB_PORT_BASE=$((8060 + SMA_PORT_OFFSET))     # region k's endpoint: LB_PORT_BASE + k
LB_MAX_REGIONS=20                            # 8061 .. 8080 stay below the nodes' public ports (8081 + i)
HAPROXY_DIR="$STATE_DIR/haproxy"
LB_READY_TIMEOUT=15

region_lb_port() { echo $((LB_PORT_BASE + $1)); }                     # REGION_INDEX
haproxy_file() { echo "$HAPROXY_DIR/${REGION_NAMES[$1]}.$2"; }         # REGION_INDEX cfg|pid|sock
haproxy_log() { echo "$STATE_DIR/logs/haproxy-${REGION_NAMES[$1]}.log"; }

# The URL of region index K's endpoint (http:// or https:// like the nodes' public ports).
region_lb_url() { # K
    local scheme=http
    public_tls_on && scheme=https
    echo "$scheme://127.0.0.1:$(region_lb_port "$1")"
}

# True when region index K gets an endpoint (the first LB_MAX_REGIONS regions do).
region_has_lb() { (($1 >= 1 && $1 <= LB_MAX_REGIONS)); }

haproxy_bin() {
    local b
    b=$(command -v haproxy 2>/dev/null) || b=/usr/sbin/haproxy
    [[ -x $b ]] || die "haproxy is missing; install it as root: apt-get install -y haproxy (cluster/up does when run as root)"
    echo "$b"
}

# True when region index K's HAProxy runs (its pidfile names a live process started with its config).
haproxy_running() { # K
    local pid
    pid=$(cat "$(haproxy_file "$1" pid)" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && pid_running "$pid" || return 1
    [[ -r /proc/$pid/cmdline ]] || return 0
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$(haproxy_file "$1" cfg)"
}

# With HTTPS (cluster/up --tls): the endpoints' own server certificate (from the public CA, for 127.0.0.1 and
# localhost) and the certificate they present to the nodes for an aggregator that showed a valid client
# certificate, each as one PEM file with its key (.cluster/haproxy/tls/, 0600).
haproxy_tls_files() {
    local dir="$HAPROXY_DIR/tls"
    { mkdir -p "$dir" && chmod 0700 "$dir"; } || die "cannot create $dir"
    if ! [[ -s $dir/endpoint.key ]] || ! openssl verify -CAfile "$PUBLIC_PKI_DIR/ca.pem" "$dir/endpoint.pem" >/dev/null 2>&1; then
        info "issuing the regional endpoints' certificate ($dir/endpoint.pem, for 127.0.0.1 and localhost)"
        public_leaf_issue "$PUBLIC_PKI_DIR" ca "$dir/endpoint" regional-endpoint \
            'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n'
    fi
    (umask 077 && cat "$dir/endpoint.pem" "$dir/endpoint.key" >"$dir/endpoint-bundle.pem" \
        && cat "$PUBLIC_PKI_DIR/client/client.pem" "$PUBLIC_PKI_DIR/client/client.key" >"$dir/client-bundle.pem") \
        || die "cannot write the endpoints' certificate files in $dir"
}

# Prints the HAProxy configuration of region index K.
haproxy_config() { # K
    local k=$1 name=${REGION_NAMES[$1]} n id port sock stats="" bind srv="" backends backend tls=0
    sock=$(haproxy_file "$k" sock)
    # A UNIX socket path is limited to 107 bytes; without it cluster/status only lacks the per-node view.
    ((${#sock} < 100)) && stats="    stats socket $sock mode 600 level user"
    bind="127.0.0.1:$(region_lb_port "$k")"
    backends=("$name-nodes")
    if public_tls_on; then
        tls=1
        # TLS ends here and starts again to the node (verified against the public CA). An aggregator's client
        # certificate (from the clients' CA) is verified here; the node then sees the cluster's aggregator
        # certificate (CN local-aggregator), presented by the -mtls backend.
        bind+=" ssl crt $HAPROXY_DIR/tls/endpoint-bundle.pem ca-file $PUBLIC_PKI_DIR/clients-ca.pem verify optional ssl-min-ver TLSv1.2"
        srv=" ssl verify required ca-file $PUBLIC_PKI_DIR/ca.pem"
        backends+=("$name-nodes-mtls")
    fi
    cat <<CFG
# Regional endpoint of $name: written by cluster/up (cluster/lib/haproxy.sh) on every run; edits are lost.
global
    log stdout format raw daemon info
    maxconn 2048
    hard-stop-after 5s
$stats

defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    timeout connect 1s
    timeout client 30s
    timeout server 15s
    timeout check 1s
    timeout http-request 10s
    timeout http-keep-alive 10s
    retries 3
    option redispatch 1
    # Re-send a request whose node closed the connection without answering (killed mid-request) ...
    retry-on conn-failure empty-response
    # ... which HAProxy can only do for a request it holds whole: wait for the body (up to its 16 kB buffer)
    # before choosing a node. Clients such as Python's http.client send headers and body in two writes.
    option http-buffer-request
    default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 2

frontend $name
    bind $bind
CFG
    ((tls)) && echo "    use_backend $name-nodes-mtls if { ssl_c_used } { ssl_c_verify 0 }"
    echo "    default_backend $name-nodes"
    for backend in "${backends[@]}"; do
        cat <<CFG

backend $backend
    balance roundrobin
    # ... but only reads: validation (side effect: abuse counting) and GET/HEAD. Other requests are re-sent
    # only when they never reached a node (connection failure).
    acl validation path /validate /validate-legacy /v1/validate/batch /validate-cert
    http-request disable-l7-retry unless validation || METH_GET
CFG
        if [[ $backend == "$name-nodes" ]]; then
            printf '    option httpchk\n    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host 127.0.0.1\n    http-check expect status 200\n'
        fi
        for ((n = 1; n <= NODES_PER_REGION; n++)); do
            id=$(node_id "$k" "$n")
            read -r _ _ _ port _ <<<"$(node_layout "$id")"
            if [[ $backend == "$name-nodes" ]]; then
                echo "    server $id 127.0.0.1:$port$srv check"
            else
                echo "    server $id 127.0.0.1:$port$srv crt $HAPROXY_DIR/tls/client-bundle.pem track $name-nodes/$id"
            fi
        done
    done
}

# Starts region index K's HAProxy (or leaves it running when its configuration is unchanged; restarts it
# otherwise) and waits until GET /readyz answers 200 through it.
haproxy_start_region() { # K
    local k=$1 bin cfg pidf log new pid port url rc
    region_has_lb "$k" || { warn "region ${REGION_NAMES[$k]} (index $k) gets no regional endpoint: only the first $LB_MAX_REGIONS regions have one"; return 0; }
    bin=$(haproxy_bin)
    { mkdir -p "$HAPROXY_DIR" && chmod 0700 "$HAPROXY_DIR"; } || die "cannot create $HAPROXY_DIR"
    cfg=$(haproxy_file "$k" cfg) pidf=$(haproxy_file "$k" pid) log=$(haproxy_log "$k")
    port=$(region_lb_port "$k") url=$(region_lb_url "$k")
    public_tls_on && haproxy_tls_files
    new=$(haproxy_config "$k")
    if haproxy_running "$k"; then
        if [[ $new == "$(cat "$cfg" 2>/dev/null)" ]]; then
            info "regional endpoint of ${REGION_NAMES[$k]} already running (HAProxy pid $(<"$pidf"), $url)"
            return 0
        fi
        info "the configuration of ${REGION_NAMES[$k]}'s HAProxy changed; restarting it"
        haproxy_stop_region "$k"
    fi
    { printf '%s\n' "$new" >"$cfg.tmp" && mv "$cfg.tmp" "$cfg"; } || die "cannot write $cfg"
    chmod 0600 "$cfg"
    "$bin" -c -q -f "$cfg" >>"$log" 2>&1 || { show_log_tail "$log" 20; die "HAProxy refuses $cfg (above)"; }
    port_in_use "$port" && die "port $port (regional endpoint of ${REGION_NAMES[$k]}) is already in use by another process; find it with: ss -ltnp 'sport = :$port'"
    # Foreground (-db) in its own session, logging to stdout = the log file; 9>&-: it must not keep the cluster lock.
    (exec nohup setsid "$bin" -db -f "$cfg" </dev/null >>"$log" 2>&1 9>&-) &
    pid=$!
    echo "$pid" >"$pidf"
    rc=0
    wait_http "$url/readyz" "$LB_READY_TIMEOUT" "$pid" || rc=$?
    case $rc in
        0) info "regional endpoint of ${REGION_NAMES[$k]}: $url (HAProxy pid $pid)" ;;
        2) show_log_tail "$log" 20; rm -f "$pidf"; die "HAProxy of ${REGION_NAMES[$k]} exited (log above, full log: $log)" ;;
        *) show_log_tail "$log" 20; die "$url/readyz (HAProxy of ${REGION_NAMES[$k]}, pid $pid) did not answer 200 within ${LB_READY_TIMEOUT} s: are the region's nodes ready? (cluster/status)" ;;
    esac
}

# Starts the endpoint of every region of the loaded topology.
haproxy_start_all() {
    local k
    for ((k = 1; k <= REGION_COUNT; k++)); do haproxy_start_region "$k"; done
}

haproxy_stop_region() { # K
    local pidf
    pidf=$(haproxy_file "$1" pid)
    haproxy_running "$1" && stop_pids 6 "$(<"$pidf")"
    rm -f "$pidf" "$(haproxy_file "$1" sock)"
}

# Stops every HAProxy recorded under .cluster/haproxy/ (also of regions the topology no longer names).
haproxy_stop_all() {
    local pidf pid cfg stopped=()
    for pidf in "$HAPROXY_DIR"/*.pid; do
        [[ -f $pidf ]] || continue
        pid=$(<"$pidf") cfg=${pidf%.pid}.cfg
        if [[ $pid =~ ^[0-9]+$ ]] && pid_running "$pid" && tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$cfg"; then
            stop_pids 6 "$pid"
            stopped+=("$(basename "${pidf%.pid}")")
        fi
        rm -f "$pidf" "${pidf%.pid}.sock"
    done
    ((${#stopped[@]} == 0)) || info "stopped the regional endpoints (HAProxy) of ${stopped[*]}"
}

# Records the regional endpoints in state.json ("regional_endpoints": {"<region>": "<url>"}); called by
# write_state, whose sma-node rewrites the file without them.
haproxy_record_endpoints() {
    local k rows=""
    for ((k = 1; k <= REGION_COUNT; k++)); do
        region_has_lb "$k" && rows+="${REGION_NAMES[k]} $(region_lb_url "$k")"$'\n'
    done
    printf '%s' "$rows" | python3 -c '
import json, os, sys
path = sys.argv[1]
state = json.load(open(path))
state["regional_endpoints"] = dict(line.split() for line in sys.stdin if line.strip())
tmp = path + ".tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(state, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
' "$STATE_FILE" || die "could not record the regional endpoints in $STATE_FILE"
}

# Prints "UP/TOTAL" servers of region index K's backend from its stats socket ("?" when unknown).
haproxy_servers_up() { # K
    python3 - "$(haproxy_file "$1" sock)" "${REGION_NAMES[$1]}-nodes" <<'PY' 2>/dev/null || echo "?"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
rows = [l.split(",") for l in data.decode().splitlines() if l and not l.startswith("#")]
srv = [r for r in rows if r[0] == sys.argv[2] and r[1] not in ("FRONTEND", "BACKEND")]
print("%d/%d" % (sum(1 for r in srv if r[17].startswith("UP")), len(srv)))
PY
}

# One line per region for cluster/status: endpoint, HAProxy process, nodes it sees up, GET /readyz through it.
# Returns 1 when one region's endpoint does not run or does not answer 200.
haproxy_status_lines() {
    local k name url proc up code healthy=0
    for ((k = 1; k <= REGION_COUNT; k++)); do
        region_has_lb "$k" || continue
        name=${REGION_NAMES[k]} url=$(region_lb_url "$k")
        if haproxy_running "$k"; then
            proc="pid $(<"$(haproxy_file "$k" pid)") alive"
            up=$(haproxy_servers_up "$k")
        else
            proc="not running" up="-" healthy=1
        fi
        code=$(http_status "$url/readyz")
        [[ $code == 200 ]] || healthy=1
        case $code in 200) code="200 ready" ;; 000) code="no answer" ;; esac
        printf 'endpoint %-12s %-25s haproxy %-16s nodes up %-6s readyz %s\n' "$name" "$url" "$proc" "$up" "$code"
    done
    return "$healthy"
}
