# shellcheck shell=bash
# Part of cluster/lib.sh (sourced by it; do not source or run it alone): .cluster/state.json: writing it, reading it, recording pids.

# Writes .cluster/state.json for every node of the topology from its config and the API
# keys, keeping the pid of every node that still runs.
write_state() {
    local id pid pids=()
    for id in "${NODE_IDS[@]}"; do
        pid=null
        if [[ -f $STATE_FILE ]]; then
            pid=$(state_node_field "$id" pid 2>/dev/null) || pid=""
            node_pid_alive "$pid" "$(node_config "$id")" || pid=null
        fi
        pids+=("$id" "$pid")
    done
    python3 - "$STATE_FILE" "$STATE_DIR/nodes" "$SECRETS_DIR/api-keys.json" "${pids[@]}" <<'PY' || die "could not write $STATE_FILE (error above)"
import json, os, sys
state_path, nodes_dir, keys_path = sys.argv[1:4]
args = sys.argv[4:]
nodes = []
for k in range(0, len(args), 2):
    node_id, pid = args[k], args[k + 1]
    c = json.load(open(os.path.join(nodes_dir, node_id, "config.json")))
    nodes.append({
        "id": node_id, "region": c["region"], "role": c["role"],
        "pid": None if pid == "null" else int(pid),
        "public_url": "http://%s:%d" % (c["public_host"], c["public_port"]),
        "peer_url": "https://%s:%d" % (c["peer_host"], c["peer_port"]),
        "database": c["database_url"],
    })
keys = json.load(open(keys_path))
state = {"nodes": nodes, "api_keys": {r: keys[r] for r in ("admin", "provisioner", "validator")}}
tmp = state_path + ".tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(state, f, indent=2)
    f.write("\n")
os.replace(tmp, state_path)
PY
}

# ---------------------------------------------------------------- state file

# Fails unless a cluster was started here (the state file exists).
require_state() {
    [[ -f $STATE_FILE ]] || die "no cluster state at $STATE_FILE; start a cluster with cluster/up"
}


# Prints one tab-separated line per node of the state file: id region role pid public_url
# peer_url (pid is '-' when none is recorded, peer_url '-' when the state has none).
state_nodes() {
    python3 - "$STATE_FILE" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
for n in state.get("nodes", []):
    pid = n.get("pid")
    print("\t".join([n["id"], n["region"], n["role"], "-" if pid is None else str(pid), n["public_url"], n.get("peer_url") or "-"]))
PY
}

# Prints FIELD of node ID from the state file; fails if the node is unknown.
state_node_field() { # ID FIELD
    python3 - "$STATE_FILE" "$1" "$2" <<'PY' || die "node '$1' is not in $STATE_FILE (known: $(state_nodes | cut -f1 | tr '\n' ' '))"
import json, sys
state = json.load(open(sys.argv[1]))
for n in state.get("nodes", []):
    if n["id"] == sys.argv[2]:
        v = n.get(sys.argv[3])
        print("" if v is None else v)
        sys.exit(0)
sys.exit(1)
PY
}

# Records PID (or "null") for node ID in the state file (atomic replace, mode 0600).
state_set_pid() { # ID PID|null
    python3 - "$STATE_FILE" "$1" "$2" <<'PY' || die "could not update the pid of node '$1' in $STATE_FILE"
import json, os, sys
path, node, pid = sys.argv[1:4]
state = json.load(open(path))
for n in state["nodes"]:
    if n["id"] == node:
        n["pid"] = None if pid == "null" else int(pid)
        break
else:
    sys.exit(1)
tmp = path + ".tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(state, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
PY
}

# Prints the API key of ROLE from the state file (for the caller's own use; never echo it).
state_api_key() { # ROLE
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_keys"][sys.argv[2]])' "$STATE_FILE" "$1" 2>/dev/null
}
