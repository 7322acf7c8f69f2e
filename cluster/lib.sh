# shellcheck shell=bash disable=SC2034  # the constants and PG_DB_CREATED are used by the scripts that source this
# Shared functions for the cluster/ scripts and .ci/run. Source it; do not run it.
#
# Run state lives in .cluster/ at the repository top (git-ignored):
#   state.json            the cluster as DESIGN.md §4 describes it (0600: holds API keys)
#   topology              regions and nodes per region chosen by the first cluster/up
#   sma-node-bin          the sma-node binary cluster/up built (cluster/start reuses it)
#   nodes/<id>/config.json, logs/<id>.log
#   secrets/ (0700)       kek, api-keys.json, pg-<instance>.password (all 0600)
#   pg-root               where the PostgreSQL instances live: .cluster/pg, or
#                         /var/tmp/sma-cluster-<hash>/ when the postgres OS user
#                         cannot traverse the repository path
# Each PostgreSQL instance <pg-root>/<name>/ holds data/, socket/ and postgresql.log.

# ---------------------------------------------------------------- basics

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
STATE_DIR="$REPO_ROOT/.cluster"
STATE_FILE="$STATE_DIR/state.json"
SECRETS_DIR="$STATE_DIR/secrets"
SMA_PROG=${SMA_PROG:-$(basename "$(dirname "$0")")/$(basename "$0")}

# Ports of the local cluster (DESIGN.md §4).
TEST_PG_PORT=55499
REGION_PG_PORT_BASE=55501   # region k uses 55501 + k
PUBLIC_PORT_BASE=8081       # node number i (0-based, region-major) uses 8081 + i
PEER_PORT_BASE=9081         # ... and 9081 + i
NODE_READY_TIMEOUT=120

REQUIRED_PACKAGES=(libpq-dev libssl-dev libcurl4-openssl-dev postgresql curl)

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

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Creates .cluster/ (0711: the postgres user may pass through to pg/) and its
# private subdirectories (0700: configs, logs and secrets hold passwords and keys).
ensure_state_dirs() {
    mkdir -p "$STATE_DIR" "$SECRETS_DIR" "$STATE_DIR/nodes" "$STATE_DIR/logs" \
        || die "cannot create the run-state directory $STATE_DIR"
    chmod 0711 "$STATE_DIR"
    chmod 0700 "$SECRETS_DIR" "$STATE_DIR/nodes" "$STATE_DIR/logs"
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

# ---------------------------------------------------------------- packages and toolchain

# Installs the system packages the project needs, only if one is missing.
ensure_packages() {
    local missing=() pkg
    for pkg in "${REQUIRED_PACKAGES[@]}"; do
        [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    if ((EUID != 0)); then
        die "missing system packages: ${missing[*]}; install them as root: apt-get update && apt-get install -y ${missing[*]}"
    fi
    info "installing missing system packages: ${missing[*]}"
    local log
    log=$(mktemp /tmp/sma-apt.XXXXXX.log)
    if [[ ${SMA_APT_UPDATED:-} != 1 ]]; then
        if ! apt-get update >"$log" 2>&1; then
            show_log_tail "$log" 20
            die "apt-get update failed (output above); check the network and /etc/apt/sources.list, then retry"
        fi
        export SMA_APT_UPDATED=1
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >>"$log" 2>&1; then
        show_log_tail "$log" 20
        die "apt-get install ${missing[*]} failed (output above, full output: $log)"
    fi
    rm -f "$log"
}

# Puts swift on PATH (falls back to /opt/swift) or fails with advice.
ensure_swift() {
    if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
        PATH="/opt/swift/usr/bin:$PATH"
        export PATH
    fi
    command -v swift >/dev/null 2>&1 || die "swift is not on PATH (expected Swift 6.3 at /opt/swift/usr/bin); install it or add it to PATH"
}

# ---------------------------------------------------------------- PostgreSQL

PG_BIN=${SMA_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_SUPERUSER=postgres

pg_check_bin() {
    [[ -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl && -x $PG_BIN/psql ]] \
        || die "PostgreSQL server binaries not found in $PG_BIN; run ensure_packages (apt-get install postgresql) or set SMA_PG_BIN"
}

# Runs a command as the OS user that owns the PostgreSQL instances: postgres when
# we are root (initdb refuses root), else the current user. Runs from / so that
# a cwd postgres cannot enter does not matter, and without fd 9 so that a
# server it starts does not keep holding the cluster lock.
as_pg() {
    if ((EUID == 0)); then
        (cd / && runuser -u postgres -- "$@" 9>&-)
    else
        (cd / && "$@" 9>&-)
    fi
}

# Makes FILE (written by us) belong to the instance owner, mode 0600.
pg_own() {
    if ((EUID == 0)); then chown postgres:postgres "$@"; fi
    chmod 0600 "$@"
}

# Prints the directory that holds the PostgreSQL instances, deciding it on first use.
pg_root() {
    local record="$STATE_DIR/pg-root" root
    if [[ -f $record ]]; then
        root=$(<"$record")
        printf '%s\n' "$root"
        return
    fi
    ensure_state_dirs
    root="$STATE_DIR/pg"
    if ((EUID == 0)) && ! runuser -u postgres -- test -x "$REPO_ROOT"; then
        root="/var/tmp/sma-cluster-$(short_hash "$REPO_ROOT")"
        info "the postgres OS user cannot traverse $REPO_ROOT, so PostgreSQL data lives in $root (recorded in $record)" >&2
    fi
    printf '%s\n' "$root" >"$record"
    printf '%s\n' "$root"
}

# Creates DIR (0711, owned by root) unless it exists; refuses a foreign or symlinked one.
pg_make_root() {
    local root=$1
    if [[ ! -d $root ]]; then
        mkdir -m 0711 "$root" || die "cannot create PostgreSQL root directory $root"
    fi
    if [[ -L $root || $(stat -c %u "$root") != "$EUID" ]]; then
        die "$root is a symlink or belongs to another user; remove it and retry"
    fi
    chmod 0711 "$root"
}

pg_validate_name() {
    [[ $1 =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "invalid PostgreSQL instance name '$1' (use lowercase letters, digits and '-')"
}

pg_instance_dir() { printf '%s/%s\n' "$(pg_root)" "$1"; }
pg_password_file() { printf '%s/pg-%s.password\n' "$SECRETS_DIR" "$1"; }

# The unix socket directory of instance NAME: private, inside the instance
# directory unless that path is too long for a socket (108 bytes).
pg_socket_dir() {
    local dir
    dir="$(pg_instance_dir "$1")/socket"
    if ((${#dir} + 20 > 107)); then
        dir="/tmp/sma-pg-$(short_hash "$REPO_ROOT")-$1"
    fi
    printf '%s\n' "$dir"
}

pg_is_running() { # NAME
    local data
    data="$(pg_instance_dir "$1")/data"
    [[ -f $data/PG_VERSION ]] && as_pg "$PG_BIN/pg_ctl" status -D "$data" >/dev/null 2>&1
}

# Prints the port instance NAME is configured for (empty if never started).
pg_instance_port() {
    local conf
    conf="$(pg_instance_dir "$1")/data/sma.conf"
    [[ -r $conf ]] && sed -n 's/^port = \([0-9]*\)$/\1/p' "$conf"
    return 0
}

# Creates instance NAME (initdb) on first use and starts it on PORT; reuses a running one.
pg_instance_start() { # NAME PORT
    local name=$1 port=$2
    pg_validate_name "$name"
    if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1024 || port > 65535)); then
        die "invalid port '$port' for PostgreSQL instance $name"
    fi
    pg_check_bin
    local root inst data sock log pwfile
    root=$(pg_root)
    pg_make_root "$root"
    inst="$root/$name" data="$root/$name/data" log="$root/$name/postgresql.log"
    sock=$(pg_socket_dir "$name")
    pwfile=$(pg_password_file "$name")

    if pg_is_running "$name"; then
        local running_port
        running_port=$(pg_instance_port "$name")
        [[ $running_port == "$port" ]] \
            || die "PostgreSQL instance '$name' is already running on port $running_port, not $port; stop it first (cluster/down, or pg_ctl stop -D $data as its owner)"
        info "PostgreSQL '$name' already running on 127.0.0.1:$port"
        return 0
    fi

    ensure_state_dirs
    local dir
    for dir in "$inst" "$sock"; do
        [[ -L $dir ]] && die "$dir is a symlink; remove it and retry"
        [[ -d $dir ]] || mkdir -m 0700 "$dir" || die "cannot create $dir"
        if ((EUID == 0)); then chown postgres:postgres "$dir"; fi
        chmod 0700 "$dir"
    done

    if [[ ! -f $data/PG_VERSION ]]; then
        if [[ -e $data ]] && [[ -n $(ls -A "$data" 2>/dev/null) ]]; then
            die "$data exists but is not a PostgreSQL data directory (an interrupted initdb?); delete it and retry"
        fi
        if [[ ! -s $pwfile ]]; then
            (umask 077 && random_hex 24 >"$pwfile")
        fi
        info "creating PostgreSQL instance '$name' in $data"
        local initlog="$inst/initdb.log"
        : >"$initlog" && pg_own "$initlog"
        # The password reaches initdb through a pipe the instance owner opens, never a file it could keep.
        # shellcheck disable=SC2016  # expanded by the inner shell
        if ! as_pg bash -c 'log=$1; shift; exec "$@" --pwfile=<(cat) >>"$log" 2>&1' _ "$initlog" \
            "$PG_BIN/initdb" -D "$data" -U "$PG_SUPERUSER" -E UTF8 --locale=C \
            --auth-local=scram-sha-256 --auth-host=scram-sha-256 <"$pwfile"; then
            show_log_tail "$initlog" 20
            die "initdb for PostgreSQL instance '$name' failed (log above); fix the cause, delete $data and retry"
        fi
        pg_own_write "$data/pg_hba.conf" <<'EOF'
# Written by cluster/lib.sh: SCRAM password logins only, over loopback TCP
# and the instance's private unix socket. Nothing else may connect.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  scram-sha-256
host    all       all   127.0.0.1/32   scram-sha-256
EOF
        printf "\n# Local-cluster settings (port, sockets, durability) are kept in:\ninclude 'sma.conf'\n" \
            | as_pg tee -a "$data/postgresql.conf" >/dev/null
    fi

    [[ -s $pwfile ]] || die "the superuser password file $pwfile of PostgreSQL instance '$name' is missing; run cluster/down --purge to start from scratch"

    # Rewritten on every start so that the port and socket directory follow the caller.
    pg_own_write "$data/sma.conf" <<EOF
# Written by cluster/lib.sh on every start; edits are overwritten.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
max_connections = 200
shared_buffers = 32MB
# Durability stays on: nothing acknowledged may be lost.
fsync = on
synchronous_commit = on
full_page_writes = on
EOF

    if port_in_use "$port"; then
        die "port $port (for PostgreSQL instance '$name') is already in use by another process (another checkout's PostgreSQL? its cluster/down stops it); find it with: ss -ltnp 'sport = :$port'"
    fi
    [[ -e $log ]] || { : >"$log" && pg_own "$log"; }
    info "starting PostgreSQL '$name' on 127.0.0.1:$port"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 -s start >/dev/null 2>&1; then
        show_log_tail "$log" 20
        die "PostgreSQL instance '$name' failed to start on port $port (log above, full log: $log)"
    fi
}

# Writes stdin to FILE as the instance owner's file (mode 0600).
pg_own_write() { # FILE
    cat >"$1" || die "cannot write $1"
    pg_own "$1"
}

# Stops instance NAME (fast shutdown: sessions are ended, committed data is kept).
pg_instance_stop() { # NAME
    local name=$1 data log
    pg_validate_name "$name"
    data="$(pg_instance_dir "$name")/data"
    log="$(pg_instance_dir "$name")/postgresql.log"
    if [[ ! -f $data/PG_VERSION ]]; then
        info "PostgreSQL '$name' does not exist; nothing to stop"
        return 0
    fi
    if ! pg_is_running "$name"; then
        info "PostgreSQL '$name' is already stopped"
        return 0
    fi
    if ! as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 -s stop >/dev/null 2>&1; then
        show_log_tail "$log" 20
        die "PostgreSQL instance '$name' did not stop within 60 s (log above); try again or: pg_ctl stop -m immediate -D $data"
    fi
    info "stopped PostgreSQL '$name'"
}

# Prints the libpq URI of the superuser on instance NAME, database DB (default postgres).
pg_instance_url() { # NAME [DB]
    local name=$1 db=${2:-postgres} port pwfile
    pg_validate_name "$name"
    pwfile=$(pg_password_file "$name")
    port=$(pg_instance_port "$name")
    [[ -n $port ]] || die "PostgreSQL instance '$name' has never been started (no port recorded); start it first"
    [[ -s $pwfile ]] || die "the password file $pwfile of PostgreSQL instance '$name' is missing"
    printf 'postgresql://%s:%s@127.0.0.1:%s/%s\n' "$PG_SUPERUSER" "$(<"$pwfile")" "$port" "$db"
}

# Runs SQL on instance NAME (database postgres) as the superuser; prints unaligned rows.
pg_sql() { # NAME SQL
    local name=$1 sql=$2 port
    port=$(pg_instance_port "$name")
    PGPASSWORD=$(<"$(pg_password_file "$name")") PGCONNECT_TIMEOUT=10 \
        "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=$port user=$PG_SUPERUSER dbname=postgres" -c "$sql"
}

# Creates database DB on instance NAME unless it exists. Sets PG_DB_CREATED=1 when it
# created the database, 0 when it was already there.
PG_DB_CREATED=0
pg_create_db() { # NAME DB
    local name=$1 db=$2 exists
    pg_validate_name "$name"
    [[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || die "invalid database name '$db' (use lowercase letters, digits and '_')"
    pg_is_running "$name" || die "PostgreSQL instance '$name' is not running; start it before creating database $db"
    exists=$(pg_sql "$name" "SELECT 1 FROM pg_database WHERE datname = '$db'") \
        || die "cannot query PostgreSQL instance '$name' (see the psql error above)"
    if [[ $exists == 1 ]]; then
        PG_DB_CREATED=0
        return 0
    fi
    pg_sql "$name" "CREATE DATABASE \"$db\"" || die "CREATE DATABASE $db on PostgreSQL instance '$name' failed (see the psql error above)"
    PG_DB_CREATED=1
    info "created database '$db' on PostgreSQL '$name'"
}

# Prints the names of all instances that exist under the PostgreSQL root.
pg_instances() {
    local root dir
    [[ -f $STATE_DIR/pg-root ]] || return 0
    root=$(pg_root)
    for dir in "$root"/*/data/PG_VERSION; do
        [[ -e $dir ]] || continue
        dir=${dir%/data/PG_VERSION}
        printf '%s\n' "${dir##*/}"
    done
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

# ---------------------------------------------------------------- cluster layout and state

region_pg_port() { echo $((REGION_PG_PORT_BASE + $1)); }        # REGION_INDEX (1-based)
region_name() { echo "region-$1"; }
node_id() { echo "r$1-n$2"; }
node_dir() { echo "$STATE_DIR/nodes/$1"; }
node_config() { echo "$STATE_DIR/nodes/$1/config.json"; }
node_log() { echo "$STATE_DIR/logs/$1.log"; }

require_state() {
    [[ -f $STATE_FILE ]] || die "no cluster state at $STATE_FILE; start a cluster with cluster/up"
}

# Prints one tab-separated line per node of the state file: id region role pid public_url
# (pid is '-' when none is recorded).
state_nodes() {
    python3 - "$STATE_FILE" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
for n in state.get("nodes", []):
    pid = n.get("pid")
    print("\t".join([n["id"], n["region"], n["role"], "-" if pid is None else str(pid), n["public_url"]]))
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

# Starts node ID in the background (detached from this terminal), records its pid in
# the state file, and waits for /readyz. Exits with the node's log tail on failure.
node_start() { # ID
    local id=$1 bin config log public_url port pid rc
    bin=$(node_binary)
    config=$(node_config "$id")
    log=$(node_log "$id")
    [[ -f $config ]] || die "node $id has no config at $config; run cluster/up to recreate it"
    public_url=$(state_node_field "$id" public_url)
    for port in $(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c["public_port"], c["peer_port"])' "$config"); do
        if port_in_use "$port"; then
            die "port $port of node $id is already in use by another process (another checkout's cluster? its cluster/down stops it); find it with: ss -ltnp 'sport = :$port'"
        fi
    done
    mkdir -p "$(dirname "$log")"
    # setsid: the node survives this terminal (no SIGINT/SIGHUP from it); 9>&-: it must not keep the cluster lock.
    (cd "$REPO_ROOT" && exec nohup setsid "$bin" serve --config "$config" </dev/null >>"$log" 2>&1 9>&-) &
    pid=$!
    state_set_pid "$id" "$pid"
    info "started $id (pid $pid); waiting up to ${NODE_READY_TIMEOUT} s for $public_url/readyz"
    rc=0
    wait_http "$public_url/readyz" "$NODE_READY_TIMEOUT" "$pid" || rc=$?
    case $rc in
        0) info "$id is ready" ;;
        2) show_log_tail "$log" 30
           state_set_pid "$id" null
           die "node $id exited before becoming ready (log above, full log: $log)" ;;
        *) show_log_tail "$log" 30
           die "node $id (pid $pid, still running) did not answer 200 on $public_url/readyz within ${NODE_READY_TIMEOUT} s (log above, full log: $log); cluster/down stops it" ;;
    esac
}

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
