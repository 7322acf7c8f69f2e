# shellcheck shell=bash
# Part of cluster/lib.sh (sourced by it; do not source or run it alone): .cluster/state.json: writing it, reading it, recording pids.

# Reads the state file or a node config (cluster/smatools/state.py: nodes, field, api-key, listeners).
state_tool() { # COMMAND ARG...
    python3 "$SMA_LIB_DIR/../smatools/state.py" "$@"
}

# Prints the recorded sma-node binary, which writes the node configs and the state file
# (sma-node cluster ...). Fails in one line when there is none, or when it was built before that
# command existed (a cluster started before an update: cluster/down, then cluster/up rebuilds it).
cluster_files_bin() {
    local bin help
    bin=$(node_binary) || exit 1
    # An older binary answers 'cluster --help' with its top-level help (exit 0): look for ours.
    help=$("$bin" cluster --help 2>/dev/null) || true
    [[ $help == *"USAGE: sma-node cluster "* ]] \
        || die "the recorded sma-node binary $bin has no 'cluster' command (it was built before that command existed); rebuild it: cluster/down, then cluster/up"
    printf '%s\n' "$bin"
}

# Writes .cluster/state.json (sma-node cluster state write) for every node of the topology from
# its config and the API keys, keeping the pid of every node that still runs.
write_state() {
    local id pid bin pids=()
    bin=$(cluster_files_bin) || exit 1
    for id in "${NODE_IDS[@]}"; do
        pid=null
        if [[ -f $STATE_FILE ]]; then
            pid=$(state_node_field "$id" pid 2>/dev/null) || pid=""
            node_pid_alive "$pid" "$(node_config "$id")" || pid=null
        fi
        pids+=("$id=$pid")
    done
    local tls=()
    public_tls_on && tls=(--public-ca "$PUBLIC_PKI_DIR/ca.pem" --client-identity "$PUBLIC_PKI_DIR/client")
    "$bin" cluster state write --state "$STATE_FILE" --nodes-dir "$STATE_DIR/nodes" \
        --api-keys "$SECRETS_DIR/api-keys.json" "${tls[@]}" "${pids[@]}" || die "could not write $STATE_FILE (error above)"
    haproxy_record_endpoints
}

# ---------------------------------------------------------------- state file

# Fails unless a cluster was started here (the state file exists).
require_state() {
    [[ -f $STATE_FILE ]] || die "no cluster state at $STATE_FILE; start a cluster with cluster/up"
}

# Prints one tab-separated line per node of the state file: id region role pid public_url
# peer_url (pid is '-' when none is recorded, peer_url '-' when the state has none).
state_nodes() {
    state_tool nodes "$STATE_FILE"
}

# Prints FIELD of node ID from the state file; fails if the node is unknown.
state_node_field() { # ID FIELD
    state_tool field "$STATE_FILE" "$1" "$2" || die "node '$1' is not in $STATE_FILE (known: $(state_nodes | cut -f1 | tr '\n' ' '))"
}

# Records PID (or "null") for node ID in the state file (sma-node cluster state set-pid: atomic
# replace, mode 0600).
state_set_pid() { # ID PID|null
    local bin
    bin=$(cluster_files_bin) || exit 1
    "$bin" cluster state set-pid --state "$STATE_FILE" --id "$1" --pid "$2" \
        || die "could not update the pid of node '$1' in $STATE_FILE"
}

# Prints the API key of ROLE from the state file (for the caller's own use; never echo it).
state_api_key() { # ROLE
    state_tool api-key "$STATE_FILE" "$1" 2>/dev/null
}
