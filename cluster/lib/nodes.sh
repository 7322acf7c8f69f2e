# shellcheck shell=bash
# Part of cluster/lib.sh (sourced by it; do not source or run it alone): node configs, the peer PKI, the log key, and starting nodes.

# ---------------------------------------------------------------- peer PKI, log key, node configs

# Creates the cluster CA of the peer channel once (secrets/pki/ca.pem, ca.key 0600).
ensure_pki() { # SMA_NODE_BINARY
    local bin=$1
    if [[ -s $PKI_DIR/ca.key && -s $PKI_DIR/ca.pem ]]; then
        chmod 0600 "$PKI_DIR/ca.key"
        return 0
    fi
    if [[ -e $PKI_DIR/ca.key ]]; then
        die "$PKI_DIR/ca.key exists but $PKI_DIR/ca.pem does not; restore ca.pem, or delete $PKI_DIR to make a new cluster CA (every node certificate is then reissued by cluster/up)"
    fi
    info "creating the cluster CA of the peer channel ($PKI_DIR)"
    { mkdir -p "$PKI_DIR" && chmod 0700 "$PKI_DIR"; } || die "cannot create $PKI_DIR"
    (umask 077 && "$bin" pki ca --out "$PKI_DIR" >/dev/null) || die "sma-node pki ca --out $PKI_DIR failed (output above)"
    [[ -s $PKI_DIR/ca.pem && -s $PKI_DIR/ca.key ]] || die "sma-node pki ca succeeded but $PKI_DIR/ca.pem or ca.key is missing"
    chmod 0600 "$PKI_DIR/ca.key"
}

# Issues node ID's peer certificate (nodes/<id>/tls/node.pem, node.key 0600) unless it has
# one from the current cluster CA naming exactly its peer address and its role (subject OU).
ensure_node_cert() { # SMA_NODE_BINARY ID
    local bin=$1 id=$2 dir host role
    dir=$(node_tls_dir "$id")
    host=$(node_peer_host "$id")
    read -r _ _ role _ _ <<<"$(node_layout "$id")"
    if [[ -s $dir/node.pem && -s $dir/node.key ]]; then
        if ! command -v openssl >/dev/null 2>&1; then
            return 0
        fi
        if openssl verify -CAfile "$PKI_DIR/ca.pem" "$dir/node.pem" >/dev/null 2>&1; then
            local names subject
            names=$(openssl x509 -in "$dir/node.pem" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')
            subject=$(openssl x509 -in "$dir/node.pem" -noout -subject -nameopt sep_multiline 2>/dev/null | tr -d ' ')
            [[ $names == "IPAddress:$host" && $subject == *"OU=$role"* ]] && return 0
            info "the peer certificate of $id does not name exactly its peer address $host and role $role; reissuing it"
        else
            info "the peer certificate of $id is not from the current cluster CA; reissuing it"
        fi
    fi
    { mkdir -p "$dir" && chmod 0700 "$dir"; } || die "cannot create $dir"
    (umask 077 && "$bin" pki node --ca-dir "$PKI_DIR" --id "$id" --role "$role" --host "$host" --out "$dir" >/dev/null) \
        || die "sma-node pki node --id $id failed (output above)"
    [[ -s $dir/node.pem && -s $dir/node.key ]] || die "sma-node pki node succeeded but $dir/node.pem or node.key is missing"
    chmod 0600 "$dir/node.key"
}

# Prints the cluster's log verification key (64 hex) from the authoritative database,
# through the config of node r1-n1.
read_log_key() { # SMA_NODE_BINARY
    local key cfg
    cfg=$(node_config "$(node_id 1 1)")
    key=$("$1" log-key --config "$cfg") \
        || die "sma-node log-key --config $cfg failed (output above); is region-1's database running and initialized?"
    [[ $key =~ ^[0-9a-f]{64}$ ]] || die "sma-node log-key printed '$key', not 64 hex digits"
    echo "$key"
}

# Writes .cluster/nodes/<id>/config.json for each node ID given (sma-node cluster config): creates
# a missing one, and updates an existing one in place (edits of other keys are kept): it gets the
# peer-channel files, timing "lan" and seeds (the peer URLs of every node of the topology)
# when it has none of its own, and log_verification_key always (the cluster has one key); with HTTPS on the
# public port (cluster/up --tls), its public certificate and the aggregators' client CA; with a
# compatibility profile (cluster/up --compat), "compatibility".
# Peer addresses: region k's nodes listen on and connect from region_peer_host k; a config
# written before that (peer_host 127.0.0.1 and only 127.0.0.1 seeds) is moved to it.
write_configs() { # LOG_KEY ID...
    local log_key=$1 bin id region role public_port peer_port rows="" seeds=()
    shift
    bin=$(cluster_files_bin) || exit 1
    for id in "${NODE_IDS[@]}"; do
        read -r _ _ _ _ peer_port <<<"$(node_layout "$id")"
        seeds+=(--seed "https://$(node_peer_host "$id"):$peer_port")
    done
    for id in "$@"; do
        read -r _ region role public_port peer_port <<<"$(node_layout "$id")"
        { mkdir -p "$(node_dir "$id")" && chmod 0700 "$(node_dir "$id")"; } || die "cannot create $(node_dir "$id")"
        rows+=$(printf '%s\t' "$id" "$region" "$role" "$public_port" "$peer_port" "$(node_database_url "$id")" "$(node_tls_dir "$id")" "$(node_peer_host "$id")")$'\n'
    done
    # Rows travel on stdin (they hold database passwords), not in argv.
    local tls=()
    public_tls_on && tls=(--public-tls --client-ca-file "$PUBLIC_PKI_DIR/clients-ca.pem")
    # The compatibility profile chosen by cluster/up --compat (kept in COMPAT_FILE, so cluster/add-region follows it).
    local compat=()
    [[ -s $COMPAT_FILE ]] && compat=(--compat "$(<"$COMPAT_FILE")")
    printf '%s' "$rows" | "$bin" cluster config --nodes-dir "$STATE_DIR/nodes" --kek-file "$SECRETS_DIR/kek" \
        --ca-file "$PKI_DIR/ca.pem" ${log_key:+--log-key "$log_key"} "${seeds[@]}" "${tls[@]}" "${compat[@]}" \
        || die "could not write the node configs (error above)"
}

# True when PID is alive and is the sma-node serving CONFIG (guards against pid reuse).
node_pid_alive() { # PID CONFIG
    local pid=$1 config=$2
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ -r /proc/$pid/cmdline ]] || return 0
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$config"
}

# The sma-node binary recorded by cluster/up.
node_binary() {
    local bin
    [[ -f $STATE_DIR/sma-node-bin ]] || die "no sma-node binary recorded in $STATE_DIR/sma-node-bin; run cluster/up first"
    bin=$(<"$STATE_DIR/sma-node-bin")
    [[ -x $bin ]] || die "the recorded sma-node binary $bin does not exist; rebuild with cluster/up"
    printf '%s\n' "$bin"
}

# Starts node ID in the background (detached from this terminal) and records its pid in
# the state file and NODE_LAUNCHED_AT[ID] (EPOCHREALTIME). Does not wait for it.
declare -A NODE_LAUNCHED_AT=()
node_launch() { # ID
    local id=$1 bin config log port pid
    bin=$(node_binary)
    config=$(node_config "$id")
    log=$(node_log "$id")
    [[ -f $config ]] || die "node $id has no config at $config; run cluster/up to recreate it"
    cluster_files_bin >/dev/null     # it records the pid once the node runs: fail before starting it
    for port in $(state_tool listeners "$config"); do
        if port_in_use "${port##*:}" "${port%:*}"; then
            die "port $port of node $id is already in use by another process (another checkout's cluster? its cluster/down stops it); find it with: ss -ltnp 'sport = :${port##*:}'"
        fi
    done
    mkdir -p "$(dirname "$log")"
    # setsid: the node survives this terminal (no SIGINT/SIGHUP from it); 9>&-: it must not keep the cluster lock.
    (cd "$REPO_ROOT" && exec nohup setsid "$bin" serve --config "$config" </dev/null >>"$log" 2>&1 9>&-) &
    pid=$!
    NODE_LAUNCHED_AT[$id]=$EPOCHREALTIME
    state_set_pid "$id" "$pid"
    info "started $id (pid $pid)"
}

# Waits, up to NODE_READY_TIMEOUT s in all, for /readyz of every node ID given (launched
# with node_launch). Exits with the node's log tail when one exits or does not get ready.
nodes_wait_ready() { # ID...
    local id pid url log rc left deadline=$((SECONDS + NODE_READY_TIMEOUT)) took
    (($# > 0)) || return 0
    info "waiting up to ${NODE_READY_TIMEOUT} s for /readyz of $*"
    for id in "$@"; do
        pid=$(state_node_field "$id" pid)
        url=$(state_node_field "$id" public_url)
        log=$(node_log "$id")
        left=$((deadline - SECONDS))
        ((left > 0)) || left=1
        rc=0
        wait_http "$url/readyz" "$left" "$pid" || rc=$?
        case $rc in
            0) took=""
               [[ -n ${NODE_LAUNCHED_AT[$id]:-} ]] \
                   && took=$(awk -v a="${NODE_LAUNCHED_AT[$id]}" -v b="$EPOCHREALTIME" 'BEGIN { printf " (%.1f s after start)", b - a }')
               info "$id is ready$took" ;;
            2) show_log_tail "$log" 30
               state_set_pid "$id" null
               die "node $id exited before becoming ready (log above, full log: $log)" ;;
            *) show_log_tail "$log" 30
               die "node $id (pid $pid, still running) did not answer 200 on $url/readyz within ${NODE_READY_TIMEOUT} s (log above, full log: $log); cluster/down stops it" ;;
        esac
    done
}

# Starts node ID and waits for its /readyz.
node_start() { # ID
    node_launch "$1"
    nodes_wait_ready "$1"
}
