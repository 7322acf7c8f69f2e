# shellcheck shell=bash disable=SC2034  # the constants are used by the scripts that source lib.sh
# Part of cluster/lib.sh (sourced by it; do not source or run it alone): paths, ports, messages, small helpers, the run-state directories and lock, HTTP waits, processes.

# ---------------------------------------------------------------- basics

SMA_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)    # cluster/lib
REPO_ROOT=$(cd "$SMA_LIB_DIR/../.." && pwd -P)
STATE_DIR="$REPO_ROOT/.cluster"
STATE_FILE="$STATE_DIR/state.json"
SECRETS_DIR="$STATE_DIR/secrets"
COMPAT_FILE="$STATE_DIR/compat"    # the compatibility profile set by cluster/up --compat (kept; cluster/down --purge forgets it)
SMA_PROG=${SMA_PROG:-$(basename "$(dirname "$0")")/$(basename "$0")}

# Ports of the local cluster (docs/ARCHITECTURE.md §4). SMA_PORT_OFFSET (default 0) shifts every port,
# so a second checkout can run its own cluster and tests beside the first (e.g. SMA_PORT_OFFSET=200).
SMA_PORT_OFFSET=${SMA_PORT_OFFSET:-0}
[[ $SMA_PORT_OFFSET =~ ^[0-9]+$ ]] || { echo "SMA_PORT_OFFSET must be a non-negative integer" >&2; exit 2; }
TEST_PG_PORT=$((55499 + SMA_PORT_OFFSET))
BENCH_PG_PORT=$((55498 + SMA_PORT_OFFSET))
BENCH_NODE_PORT=$((8090 + SMA_PORT_OFFSET))
REGION_PG_PORT_BASE=$((55501 + SMA_PORT_OFFSET))   # region k uses 55501 + k
PUBLIC_PORT_BASE=$((8081 + SMA_PORT_OFFSET))       # node number i (0-based, region-major) uses 8081 + i
PEER_PORT_BASE=$((9081 + SMA_PORT_OFFSET))         # ... and 9081 + i
NODE_READY_TIMEOUT=120
# The peer channel of region k listens on (and connects from) its own loopback address
# 127.<PEER_NET>.<k>.1, so that a chaos partition can drop one region's peer traffic without
# touching another checkout's cluster (whose offset gives it another PEER_NET).
PEER_NET=$((1 + SMA_PORT_OFFSET / 100 % 250))

info() { printf '%s: %s\n' "$SMA_PROG" "$*"; }
warn() { printf '%s: warning: %s\n' "$SMA_PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$SMA_PROG" "$*" >&2; exit 1; }

# Prints the last N lines of FILE to stderr under a heading (for failed starts).
show_log_tail() { # FILE N
    local file=$1 lines=$2
    if [[ -r $file ]]; then
        printf -- '--- last %s lines of %s ---\n' "$lines" "$file" >&2
        tail -n "$lines" "$file" >&2
        printf -- '--- end of %s ---\n' "$file" >&2
    else
        printf '(no log at %s)\n' "$file" >&2
    fi
}

short_hash() { printf '%s' "$1" | sha256sum | cut -c1-12; }
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# True when something accepts TCP connections on HOST:PORT (HOST default 127.0.0.1).
port_in_use() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

# Creates .cluster/ (0711: the postgres user may pass through to pg/) and its
# private subdirectories (0700: configs, logs and secrets hold passwords and keys).
ensure_state_dirs() {
    reserve_local_ports
    mkdir -p "$STATE_DIR" "$SECRETS_DIR" "$STATE_DIR/nodes" "$STATE_DIR/logs" \
        || die "cannot create the run-state directory $STATE_DIR"
    chmod 0711 "$STATE_DIR"
    chmod 0700 "$SECRETS_DIR" "$STATE_DIR/nodes" "$STATE_DIR/logs"
}

# The PostgreSQL ports (test, bench, regions, formation) lie inside Linux's ephemeral range (32768-60999), so any
# outgoing connection may be given one of them as its source port; a PostgreSQL restarted meanwhile then fails with
# "could not bind ... Address already in use" (seen once in chaos: a region's database did not come back). As root,
# this reserves them from ephemeral use (net.ipv4.ip_local_reserved_ports, added to what is there); otherwise nothing.
reserve_local_ports() {
    local file=/proc/sys/net/ipv4/ip_local_reserved_ports current want
    [[ $EUID == 0 && -w $file ]] || return 0
    want="$((TEST_PG_PORT - 9))-$((REGION_PG_PORT_BASE + 40)),$((56000 + SMA_PORT_OFFSET))-$((56000 + SMA_PORT_OFFSET + 40))"
    current=$(<"$file")
    [[ ",$current," == *",$want,"* ]] && return 0
    # The kernel keeps the list sorted and merged; a write replaces it, so the old list goes first.
    echo "${current:+$current,}$want" >"$file" 2>/dev/null || warn "could not reserve ports $want from ephemeral use"
}

# Takes the lock that serialises cluster/up, cluster/down and cluster/start.
cluster_lock() {
    ensure_state_dirs
    exec 9>"$STATE_DIR/.lock"
    if ! flock -n 9; then
        info "another cluster command is running; waiting for it (up to 10 minutes)"
        flock -w 600 9 || die "another cluster command still holds $STATE_DIR/.lock; wait for it or stop it"
    fi
}

# ---------------------------------------------------------------- HTTP

# Polls URL until it answers 200. Returns 0 on success, 1 after SECONDS, 2 as soon
# as process PID (optional) has exited.
wait_http() { # URL SECONDS [PID]
    local url=$1 seconds=$2 pid=${3:-} deadline code
    deadline=$((SECONDS + seconds))
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null) || true
        [[ $code == 200 ]] && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 2; fi
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

# Prints the HTTP status of a GET (000 when nothing answers).
http_status() { # URL
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------- processes

# True while PID exists and is not a zombie waiting to be reaped.
pid_running() { # PID
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    stat=$(<"/proc/$1/stat") 2>/dev/null || return 0
    stat=${stat##*) }          # the fields after "(comm) "; the first is the state
    [[ ${stat%% *} != Z ]]
}

# Sends SIGTERM to every PID, waits up to SECONDS for them to exit, then SIGKILLs the rest.
stop_pids() { # SECONDS PID...
    local seconds=$1 pid deadline left
    shift
    (($# > 0)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    deadline=$((SECONDS + seconds))
    while :; do
        left=()
        for pid in "$@"; do pid_running "$pid" && left+=("$pid"); done
        ((${#left[@]} == 0)) && return 0
        ((SECONDS < deadline)) || break
        sleep 0.2
    done
    warn "pid(s) ${left[*]} did not exit within ${seconds} s of SIGTERM; sending SIGKILL"
    kill -KILL "${left[@]}" 2>/dev/null || true
}
