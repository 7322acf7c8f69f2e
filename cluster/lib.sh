# shellcheck shell=bash disable=SC2034  # the constants and PG_DB_CREATED are used by the scripts that source this
# Shared functions for the cluster/ scripts and .ci/run. Source it; do not run it.
#
# Run state lives in .cluster/ at the repository top (git-ignored):
#   state.json            the cluster as docs/ARCHITECTURE.md §4 describes it (0600: holds API keys)
#   topology              regions and nodes per region chosen by the first cluster/up,
#                         plus one line per region added by cluster/add-region
#   sma-node-bin          the sma-node binary cluster/up built (cluster/start reuses it)
#   nodes/<id>/config.json, nodes/<id>/tls/node.pem|node.key (peer certificate), logs/<id>.log
#   secrets/ (0700)       kek, api-keys.json, pg-<instance>.password (all 0600),
#                         pki/ca.pem|ca.key (the cluster CA of the mTLS peer channel)
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

# True when something accepts TCP connections on HOST:PORT (HOST default 127.0.0.1).
port_in_use() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

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

# The one setting that names the PostgreSQL server binaries (initdb, pg_ctl, psql): SMA_PG_BIN,
# Debian's PostgreSQL 15 by default. Exported, so the Python tools (cluster/smatools) use the same.
PG_BIN=${SMA_PG_BIN:-/usr/lib/postgresql/15/bin}
export SMA_PG_BIN=$PG_BIN
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
region_peer_host() { echo "127.$PEER_NET.$1.1"; }                 # REGION_INDEX: its nodes' peer address
region_name() { echo "region-$1"; }
node_id() { echo "r$1-n$2"; }
node_dir() { echo "$STATE_DIR/nodes/$1"; }
node_config() { echo "$STATE_DIR/nodes/$1/config.json"; }
node_log() { echo "$STATE_DIR/logs/$1.log"; }
node_tls_dir() { echo "$STATE_DIR/nodes/$1/tls"; }
PKI_DIR="$SECRETS_DIR/pki"
TOPOLOGY_FILE="$STATE_DIR/topology"

require_state() {
    [[ -f $STATE_FILE ]] || die "no cluster state at $STATE_FILE; start a cluster with cluster/up"
}

# ---------------------------------------------------------------- topology
#
# .cluster/topology, line 1: "REGIONS NODES_PER_REGION", the size cluster/up was first run
# with. Regions 1..REGIONS are named region-<k>, use PostgreSQL port 55501+k, and their
# nodes take public ports 8081, 8082, ... and peer ports 9081, 9082, ... region by region.
# Then one line per region added by cluster/add-region, in index order:
#   region INDEX NAME PG_PORT FIRST_PUBLIC_PORT FIRST_PEER_PORT
# Every region has NODES_PER_REGION nodes r<INDEX>-n1 ... Region 1 is the write region:
# its nodes are leader-eligible and share its (authoritative) database; all others are
# followers sharing their own region's database.

# Records the size chosen by the first cluster/up.
topology_create() { # REGIONS NODES_PER_REGION
    printf '%s %s\n' "$1" "$2" >"$TOPOLOGY_FILE" || die "cannot write $TOPOLOGY_FILE"
}

# Appends a region added by cluster/add-region.
topology_add_region() { # INDEX NAME PG_PORT FIRST_PUBLIC_PORT FIRST_PEER_PORT
    printf 'region %s %s %s %s %s\n' "$@" >>"$TOPOLOGY_FILE" || die "cannot write $TOPOLOGY_FILE"
}

is_port() { [[ $1 =~ ^[1-9][0-9]{0,4}$ ]] && (($1 <= 65535)); }

# Loads the topology into BASE_REGIONS, NODES_PER_REGION, REGION_COUNT, the arrays
# (indexed by region index, 1-based) REGION_NAMES, REGION_PG_PORTS, REGION_PUBLIC_BASE,
# REGION_PEER_BASE, and NODE_IDS (every node, region by region).
topology_load() {
    [[ -f $TOPOLOGY_FILE ]] || die "no topology at $TOPOLOGY_FILE; start a cluster with cluster/up"
    local kind idx name pg pub peer extra r n lineno=1
    REGION_NAMES=() REGION_PG_PORTS=() REGION_PUBLIC_BASE=() REGION_PEER_BASE=() NODE_IDS=()
    {
        read -r BASE_REGIONS NODES_PER_REGION extra || true
        [[ $BASE_REGIONS =~ ^[1-9][0-9]*$ && $NODES_PER_REGION =~ ^[1-9][0-9]*$ && -z $extra ]] \
            || die "$TOPOLOGY_FILE line 1 must be 'REGIONS NODES_PER_REGION'; run cluster/down --purge to start over"
        for ((r = 1; r <= BASE_REGIONS; r++)); do
            REGION_NAMES[r]=$(region_name "$r")
            REGION_PG_PORTS[r]=$((REGION_PG_PORT_BASE + r))
            REGION_PUBLIC_BASE[r]=$((PUBLIC_PORT_BASE + (r - 1) * NODES_PER_REGION))
            REGION_PEER_BASE[r]=$((PEER_PORT_BASE + (r - 1) * NODES_PER_REGION))
        done
        REGION_COUNT=$BASE_REGIONS
        while read -r kind idx name pg pub peer extra; do
            lineno=$((lineno + 1))
            [[ -z $kind ]] && continue
            if [[ $kind != region || $idx != "$((REGION_COUNT + 1))" || ! $name =~ ^[a-z0-9][a-z0-9-]*$ || -n $extra ]] \
                || ! is_port "$pg" || ! is_port "$pub" || ! is_port "$peer"; then
                die "$TOPOLOGY_FILE line $lineno is not 'region $((REGION_COUNT + 1)) NAME PG_PORT FIRST_PUBLIC_PORT FIRST_PEER_PORT'"
            fi
            REGION_COUNT=$idx
            REGION_NAMES[idx]=$name REGION_PG_PORTS[idx]=$pg REGION_PUBLIC_BASE[idx]=$pub REGION_PEER_BASE[idx]=$peer
        done
    } <"$TOPOLOGY_FILE"
    for ((r = 1; r <= REGION_COUNT; r++)); do
        for ((n = 1; n <= NODES_PER_REGION; n++)); do NODE_IDS+=("$(node_id "$r" "$n")"); done
    done
}

# Prints the index of region NAME in the loaded topology; fails if there is none.
region_index() { # NAME
    local r
    for ((r = 1; r <= REGION_COUNT; r++)); do
        [[ ${REGION_NAMES[r]} == "$1" ]] && { echo "$r"; return 0; }
    done
    return 1
}

# The region index and node number of node ID (r<k>-n<m>), as "k m".
node_position() { # ID
    [[ $1 =~ ^r([0-9]+)-n([0-9]+)$ ]] || die "unexpected node id '$1' (expected r<region>-n<node>)"
    echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
}

# Prints "ID REGION ROLE PUBLIC_PORT PEER_PORT" for node ID of the loaded topology.
node_layout() { # ID
    local r n role
    read -r r n <<<"$(node_position "$1")"
    ((r >= 1 && r <= REGION_COUNT && n >= 1 && n <= NODES_PER_REGION)) || die "node $1 is not in the topology ($TOPOLOGY_FILE)"
    role=follower
    ((r == 1)) && role=leader-eligible
    echo "$1 ${REGION_NAMES[r]} $role $((REGION_PUBLIC_BASE[r] + n - 1)) $((REGION_PEER_BASE[r] + n - 1))"
}

# Prints the peer address of node ID (its region's: region_peer_host).
node_peer_host() { # ID
    local r
    read -r r _ <<<"$(node_position "$1")"
    region_peer_host "$r"
}

# Starts the PostgreSQL instance of region index K and creates its database 'sma'
# (PG_DB_CREATED tells whether it was just created).
region_database_start() { # K
    pg_instance_start "${REGION_NAMES[$1]}" "${REGION_PG_PORTS[$1]}"
    pg_create_db "${REGION_NAMES[$1]}" sma
}

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
# one from the current cluster CA.
ensure_node_cert() { # SMA_NODE_BINARY ID
    local bin=$1 id=$2 dir host
    dir=$(node_tls_dir "$id")
    host=$(node_peer_host "$id")
    if [[ -s $dir/node.pem && -s $dir/node.key ]]; then
        if ! command -v openssl >/dev/null 2>&1; then
            return 0
        fi
        if openssl verify -CAfile "$PKI_DIR/ca.pem" "$dir/node.pem" >/dev/null 2>&1; then
            openssl x509 -in "$dir/node.pem" -noout -ext subjectAltName 2>/dev/null | grep -qF "IP Address:$host" && return 0
            info "the peer certificate of $id does not name its peer address $host; reissuing it"
        else
            info "the peer certificate of $id is not from the current cluster CA; reissuing it"
        fi
    fi
    { mkdir -p "$dir" && chmod 0700 "$dir"; } || die "cannot create $dir"
    (umask 077 && "$bin" pki node --ca-dir "$PKI_DIR" --id "$id" --host "$host" --host 127.0.0.1 --host localhost --out "$dir" >/dev/null) \
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

# Writes .cluster/nodes/<id>/config.json for each node ID given: creates a missing one,
# and updates an existing one in place (edits of other keys are kept): it gets the
# peer-channel files, timing "lan" and seeds (the peer URLs of every node of the topology)
# when it has none of its own, and log_verification_key always (the cluster has one key).
# Peer addresses: region k's nodes listen on and connect from region_peer_host k; a config
# written before that (peer_host 127.0.0.1 and only 127.0.0.1 seeds) is moved to it.
write_configs() { # LOG_KEY ID...
    local log_key=$1 id region role public_port peer_port rows="" all_peers=""
    shift
    for id in "${NODE_IDS[@]}"; do
        read -r _ _ _ _ peer_port <<<"$(node_layout "$id")"
        all_peers+="https://$(node_peer_host "$id"):$peer_port "
    done
    for id in "$@"; do
        read -r _ region role public_port peer_port <<<"$(node_layout "$id")"
        { mkdir -p "$(node_dir "$id")" && chmod 0700 "$(node_dir "$id")"; } || die "cannot create $(node_dir "$id")"
        rows+=$(printf '%s\t' "$id" "$region" "$role" "$public_port" "$peer_port" "$(pg_instance_url "$region" sma)" "$(node_tls_dir "$id")" "$(node_peer_host "$id")")$'\n'
    done
    # Rows travel in the environment (they hold database passwords), not in argv.
    SMA_ROWS=$rows SMA_PEERS=$all_peers SMA_LOG_KEY=$log_key SMA_KEK="$SECRETS_DIR/kek" SMA_CA="$PKI_DIR/ca.pem" \
        SMA_NODES_DIR="$STATE_DIR/nodes" SMA_PROG_NAME="$SMA_PROG" python3 - <<'PY' || die "could not write the node configs (error above)"
import json, os, sys
env = os.environ
peers = env["SMA_PEERS"].split()
for row in env["SMA_ROWS"].splitlines():
    node_id, region, role, public_port, peer_port, database_url, tls_dir, peer_host = row.split("\t")[:8]
    path = os.path.join(env["SMA_NODES_DIR"], node_id, "config.json")
    me = "https://%s:%s" % (peer_host, peer_port)
    if os.path.exists(path):
        with open(path) as f:
            config = json.load(f)
        if not isinstance(config, dict):
            sys.exit("%s does not hold a JSON object" % path)
        if config.get("peer_host") == "127.0.0.1" and all(s.startswith("https://127.0.0.1:") for s in config.get("seeds") or []):
            config["peer_host"] = peer_host     # written before regions had their own peer address
            config["seeds"] = []
    else:
        config = {
            "node_id": node_id, "region": region, "role": role,
            "public_host": "127.0.0.1", "public_port": int(public_port),
            "peer_host": peer_host, "peer_port": int(peer_port),
            "database_url": database_url,
            "kek_file": env["SMA_KEK"],
            "anonymous_validation": False, "manufacturer": "SIMULATED_MFG", "log_level": "info",
        }
    before = json.dumps(config, sort_keys=True)
    if not any(k in config for k in ("peer_cert_file", "peer_key_file", "peer_ca_file")):
        config["peer_cert_file"] = os.path.join(tls_dir, "node.pem")
        config["peer_key_file"] = os.path.join(tls_dir, "node.key")
        config["peer_ca_file"] = env["SMA_CA"]
    config.setdefault("timing", "lan")
    seeds = [s for s in config.get("seeds") or [] if s != me]
    if not seeds:
        seeds = [p for p in peers if p != me]
    config["seeds"] = seeds
    key = env["SMA_LOG_KEY"]
    if key:
        old = config.get("log_verification_key")
        if old and old != key:
            print("%s: %s: log_verification_key replaced by the authoritative database's key" % (env["SMA_PROG_NAME"], path), file=sys.stderr)
        config["log_verification_key"] = key
    if json.dumps(config, sort_keys=True) == before and os.path.exists(path):
        continue
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
PY
}

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
    for port in $(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print("%s:%s %s:%s" % (c.get("public_host", "127.0.0.1"), c["public_port"], c.get("peer_host", "127.0.0.1"), c["peer_port"]))' "$config"); do
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
