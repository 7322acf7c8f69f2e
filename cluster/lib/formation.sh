# shellcheck shell=bash
# Part of cluster/lib.sh (sourced by it; do not source or run it alone): the authoritative store as a
# pg_auto_failover formation (docs/ARCHITECTURE.md §2.11): a monitor and one data node in each of the first
# three regions (primary in region 1, synchronous standbys elsewhere), managed by pg_autoctl, not by us.
#
# Layout (ports shift with SMA_PORT_OFFSET):
#   monitor                in region min(3, regions), port 56000
#   data node of region k  (k = 1 .. min(3, regions)), port 56000 + k, database 'sma'
# Everything lives under <pg-root>/formation/ (owned by the postgres OS user): <name>/data (PGDATA),
# <name>/pg_autoctl.log, xdg/ (pg_autoctl's own config, state and pid files) and pgpass (the passwords the
# keepers and the monitor use: superuser, autoctl_node, pgautofailover_replicator; one random password,
# also in secrets/pg-formation.password). Only loopback TCP is listened on; every login needs a SCRAM
# password, except the monitor's health-check role (pgautofailover_monitor, no privileges) on database
# 'postgres'. The formation exists when .cluster/formation does (cluster/up creates it with a new cluster; a
# cluster created before keeps its single authoritative database).

FORMATION_MARKER="$STATE_DIR/formation"
FORMATION_PORT_BASE=$((56000 + SMA_PORT_OFFSET))
FORMATION_DB=sma

formation_on() { [[ -f $FORMATION_MARKER ]]; }
formation_root() { printf '%s/formation\n' "$(pg_root)"; }
formation_password_file() { printf '%s/pg-formation.password\n' "$SECRETS_DIR"; }

# The number of regions holding a data node (the first three), and the region of the monitor (the last of them).
formation_size() { echo $((BASE_REGIONS < 3 ? BASE_REGIONS : 3)); }
formation_monitor_region() { formation_size; }

# Instance names: "monitor" and "node-<k>" (the data node of region index k).
formation_port() { # NAME
    case $1 in
        monitor) echo "$FORMATION_PORT_BASE" ;;
        node-*) echo $((FORMATION_PORT_BASE + ${1#node-})) ;;
        *) die "unknown formation instance '$1'" ;;
    esac
}
formation_pgdata() { printf '%s/%s/data\n' "$(formation_root)" "$1"; }
formation_log() { printf '%s/%s/pg_autoctl.log\n' "$(formation_root)" "$1"; }
formation_instances() { # every instance name, data nodes first
    local k
    for ((k = 1; k <= $(formation_size); k++)); do echo "node-$k"; done
    echo monitor
}
# The formation instances that live in region index K.
formation_instances_of_region() { # K
    local k=$1
    ((k <= $(formation_size))) && echo "node-$k"
    ((k == $(formation_monitor_region))) && echo monitor
    return 0
}
formation_node_name() { printf '%s\n' "${REGION_NAMES[${1#node-}]}"; } # pg_auto_failover's node name: the region's

# Runs a command as the postgres OS user with pg_autoctl's environment: its files under the formation root,
# the passwords from its pgpass, loopback TCP for local connections.
as_pgaf() {
    local root
    root=$(formation_root)
    as_pg env PATH="$PG_BIN:/usr/bin:/bin" XDG_CONFIG_HOME="$root/xdg/config" XDG_DATA_HOME="$root/xdg/data" \
        XDG_RUNTIME_DIR="$root/xdg/run" PGPASSFILE="$root/pgpass" PGHOST=127.0.0.1 PGCONNECT_TIMEOUT=5 "$@"
}

formation_superuser_sql() { # PORT DB SQL...: runs statements as the superuser (password from the formation's file)
    local port=$1 db=$2 args=() s
    shift 2
    for s in "$@"; do args+=(-c "$s"); done
    PGPASSWORD=$(<"$(formation_password_file)") PGCONNECT_TIMEOUT=5 \
        "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$port user=$PG_SUPERUSER dbname=$db" "${args[@]}"
}

# The main pg_autoctl process of instance NAME (empty when it does not run).
formation_pid() { # NAME
    local file pid
    file="$(formation_root)/xdg/run/pg_autoctl$(formation_pgdata "$1")/pg_autoctl.pid"
    [[ -r $file ]] || return 0
    pid=$(head -n1 "$file")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *pg_autoctl* ]] && echo "$pid"
    return 0
}
formation_running() { [[ -n $(formation_pid "$1") ]]; }

# Starts pg_autoctl (which starts and supervises PostgreSQL) for instance NAME, detached.
formation_run() { # NAME
    local name=$1 data log
    data=$(formation_pgdata "$name") log=$(formation_log "$name")
    formation_running "$name" && return 0
    port_in_use "$(formation_port "$name")" \
        && die "port $(formation_port "$name") (formation $name) is already in use by another process; find it with: ss -ltnp 'sport = :$(formation_port "$name")'"
    # shellcheck disable=SC2016  # expanded by the inner shell
    as_pgaf bash -c 'nohup setsid pg_autoctl run --pgdata "$1" >>"$2" 2>&1 </dev/null &' _ "$data" "$log"
}

# Waits until instance NAME accepts a superuser login (after formation_run).
formation_wait_sql() { # NAME DB SECONDS
    local name=$1 db=$2 deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        formation_superuser_sql "$(formation_port "$name")" "$db" "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.3
    done
    show_log_tail "$(formation_log "$name")" 30
    die "formation instance $name did not accept connections on port $(formation_port "$name") within $3 s (log above)"
}

FORMATION_HBA='# Written by cluster/lib/formation.sh: SCRAM password logins over loopback only; the monitor'"'"'s
# health checks (role pgautofailover_monitor, no privileges) may open a session on database postgres.
local   all          all                                   scram-sha-256
host    postgres     pgautofailover_monitor  127.0.0.1/32  trust
host    all          all                     127.0.0.1/32  scram-sha-256
host    replication  all                     127.0.0.1/32  scram-sha-256'

# Replaces the pg_hba.conf that initdb wrote (trust) with ours and reloads.
formation_harden() { # NAME DB
    printf '%s\n' "$FORMATION_HBA" | as_pg tee "$(formation_pgdata "$1")/pg_hba.conf" >/dev/null
    formation_superuser_sql "$(formation_port "$1")" "$2" "SELECT pg_reload_conf()" >/dev/null
}

# pg_auto_failover's timing, tuned for failover in seconds rather than the defaults' ~30 s (docs §2.11).
FORMATION_MONITOR_SETTINGS=(
    "ALTER SYSTEM SET pgautofailover.health_check_period = 1000"
    "ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000"
    "ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1"
    "ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500"
    "ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 3000"
    "ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 6000"
)

formation_monitor_uri() { printf 'postgres://autoctl_node@127.0.0.1:%s/pg_auto_failover?sslmode=disable\n' "$(formation_port monitor)"; }

# Creates the formation on first use: the monitor, then the data nodes (the first one becomes the primary,
# the others clone it and follow as synchronous standbys: number_sync_standbys 1 with 3 nodes).
formation_create() {
    local root pw name log k data
    root=$(formation_root)
    pg_make_root "$(pg_root)"
    ensure_state_dirs
    if [[ ! -d $root ]]; then
        mkdir -m 0700 "$root" || die "cannot create $root"
        if ((EUID == 0)); then chown postgres:postgres "$root"; fi
    fi
    pw=$(formation_password_file)
    [[ -s $pw ]] || (umask 077 && random_hex 24 >"$pw") || die "cannot write $pw"
    # The keepers', the monitor's and the replication connections' passwords (one file the postgres user reads).
    printf '*:*:*:%s:%s\n' postgres "$(<"$pw")" autoctl_node "$(<"$pw")" pgautofailover_replicator "$(<"$pw")" \
        | as_pg bash -c 'umask 077; cat >"$1"' _ "$root/pgpass"
    for name in $(formation_instances); do
        # The log belongs to the postgres user: pg_autoctl run appends to it.
        as_pg bash -c 'umask 077; mkdir -p "$1/$2" "$1/xdg/config" "$1/xdg/data" "$1/xdg/run" && touch "$1/$2/pg_autoctl.log"' _ "$root" "$name"
    done

    data=$(formation_pgdata monitor) log=$(formation_log monitor)
    if [[ ! -f $data/PG_VERSION ]]; then
        info "creating the pg_auto_failover monitor (region ${REGION_NAMES[$(formation_monitor_region)]}, port $(formation_port monitor))"
        as_pgaf pg_autoctl create monitor --pgdata "$data" --pgport "$(formation_port monitor)" --hostname 127.0.0.1 \
            --skip-pg-hba --no-ssl >>"$log" 2>&1 \
            || { show_log_tail "$log" 20; die "pg_autoctl create monitor failed (log above)"; }
        as_pgaf pg_autoctl config set --pgdata "$data" postgresql.listen_addresses 127.0.0.1 >/dev/null
        formation_run monitor
        formation_wait_sql monitor pg_auto_failover 60
        formation_superuser_sql "$(formation_port monitor)" pg_auto_failover \
            "ALTER ROLE postgres PASSWORD '$(<"$pw")'" "ALTER ROLE autoctl_node PASSWORD '$(<"$pw")'" \
            "${FORMATION_MONITOR_SETTINGS[@]}" >/dev/null
        formation_harden monitor pg_auto_failover
    fi
    formation_run monitor

    for ((k = 1; k <= $(formation_size); k++)); do
        name=node-$k data=$(formation_pgdata "$name") log=$(formation_log "$name")
        if [[ ! -f $data/PG_VERSION ]]; then
            info "creating the formation's data node in ${REGION_NAMES[k]} (port $(formation_port "$name")$( ((k == 1)) && echo ', primary'))"
            as_pgaf pg_autoctl create postgres --pgdata "$data" --pgport "$(formation_port "$name")" --listen 127.0.0.1 \
                --hostname 127.0.0.1 --skip-pg-hba --no-ssl --monitor "$(formation_monitor_uri)" \
                --formation default --name "$(formation_node_name "$name")" --dbname "$FORMATION_DB" >>"$log" 2>&1 \
                || { show_log_tail "$log" 20; die "pg_autoctl create postgres for ${REGION_NAMES[k]} failed (log above)"; }
            # An isolated primary demotes itself after this many seconds without the monitor (default 20).
            as_pgaf pg_autoctl config set --pgdata "$data" timeout.network_partition_timeout 4 >/dev/null
            formation_run "$name"
            if ((k == 1)); then
                formation_wait_sql "$name" "$FORMATION_DB" 60
                formation_superuser_sql "$(formation_port "$name")" "$FORMATION_DB" \
                    "ALTER ROLE postgres PASSWORD '$(<"$pw")'" "ALTER ROLE pgautofailover_replicator PASSWORD '$(<"$pw")'" >/dev/null
                formation_harden "$name" "$FORMATION_DB"
            fi
        fi
        formation_run "$name"
    done
    : >"$FORMATION_MARKER"
}

# Starts every formation instance that does not run (a region killed by cluster/kill-region included).
formation_start() {
    formation_start_instances $(formation_instances)
}

formation_start_region() { # K
    formation_start_instances $(formation_instances_of_region "$1")
}

# Starts the given instances that do not run: the monitor first, and the data nodes only once it accepts
# connections (a keeper that cannot reach the monitor at start gives up at once). A keeper that stops within
# its first seconds is started again, up to three times.
formation_start_instances() { # NAME...
    local name try started=()
    if [[ " $* " == *" monitor "* ]] && ! formation_running monitor; then
        info "starting the formation's monitor (pg_autoctl, port $(formation_port monitor))"
        formation_run monitor
    fi
    formation_running monitor && formation_wait_sql monitor pg_auto_failover 60
    for name in "$@"; do
        [[ $name == monitor ]] && continue
        formation_running "$name" && continue
        info "starting formation $name (pg_autoctl, port $(formation_port "$name"))"
        formation_run "$name"
        started+=("$name")
    done
    for try in 1 2 3; do
        ((${#started[@]})) || return 0
        sleep 2
        local again=()
        for name in "${started[@]}"; do
            formation_running "$name" && continue
            warn "formation $name stopped right after its start (see $(formation_log "$name")); starting it again"
            formation_run "$name"
            again+=("$name")
        done
        started=("${again[@]}")
    done
    ((${#started[@]} == 0)) || die "formation ${started[*]} keeps stopping; see $(formation_log "${started[0]}")"
}

# Stops every formation instance gracefully (pg_autoctl stop: PostgreSQL fast shutdown), data nodes first.
formation_stop() {
    local name
    [[ -d $(formation_root) ]] || return 0
    for name in $(formation_instances); do
        formation_running "$name" || continue
        as_pgaf pg_autoctl stop --pgdata "$(formation_pgdata "$name")" >/dev/null 2>&1 || true
    done
    local deadline=$((SECONDS + 60))
    for name in $(formation_instances); do
        while formation_running "$name" && ((SECONDS < deadline)); do sleep 0.2; done
        formation_running "$name" && warn "formation $name did not stop within 60 s"
    done
    return 0
}

# The pids of PID and all its descendants.
process_tree() { # PID
    local pid=$1 child
    echo "$pid"
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do process_tree "$child"; done
}

# Loss of region K's formation instances: SIGKILL of pg_autoctl and every PostgreSQL process under it.
formation_kill_region() { # K
    local name pid pids data
    for name in $(formation_instances_of_region "$1"); do
        pid=$(formation_pid "$name")
        data=$(formation_pgdata "$name")
        pids=()
        [[ -n $pid ]] && mapfile -t pids < <(process_tree "$pid")
        # A postmaster that pg_autoctl lost track of.
        local pm
        pm=$(head -n1 "$data/postmaster.pid" 2>/dev/null || true)
        [[ $pm =~ ^[0-9]+$ ]] && kill -0 "$pm" 2>/dev/null && mapfile -t -O "${#pids[@]}" pids < <(process_tree "$pm")
        ((${#pids[@]})) && kill -9 "${pids[@]}" 2>/dev/null
        info "killed formation $name (${#pids[@]} processes)"
    done
    return 0
}

# The libpq URI of the node role on the formation: every data node, the primary chosen by libpq
# (target_session_attrs=read-write), so a promotion needs no configuration change.
formation_node_url() {
    local hosts="" ports="" k pwfile
    pwfile=$(pg_node_password_file formation)
    [[ -s $pwfile ]] || die "the node role's password file $pwfile of the formation is missing; run cluster/up"
    for ((k = 1; k <= $(formation_size); k++)); do
        hosts+=${hosts:+,}127.0.0.1:$(formation_port "node-$k")
    done
    printf 'postgresql://%s:%s@%s/%s?target_session_attrs=read-write&connect_timeout=2\n' "$PG_NODE_ROLE" "$(<"$pwfile")" "$hosts" "$FORMATION_DB"
}

# The current primary's port (empty when there is none): asks each data node.
formation_primary_port() {
    local k port
    for ((k = 1; k <= $(formation_size); k++)); do
        port=$(formation_port "node-$k")
        [[ $(formation_superuser_sql "$port" postgres "SELECT NOT pg_is_in_recovery()" 2>/dev/null) == t ]] && { echo "$port"; return 0; }
    done
    return 0
}

# Waits until the formation has a writable primary.
formation_wait_primary() { # SECONDS
    local deadline=$((SECONDS + $1))
    while ((SECONDS < deadline)); do
        [[ -n $(formation_primary_port) ]] && return 0
        sleep 0.5
    done
    die "the formation has no primary after $1 s; see $(formation_root)/*/pg_autoctl.log and: cluster/status"
}

# Prints pg_autoctl show state (the monitor's view).
formation_show_state() {
    as_pgaf pg_autoctl show state --pgdata "$(formation_pgdata monitor)" 2>&1
}

# Waits until data node NAME runs (its pg_autoctl), streams from the primary (or is the primary), and the
# monitor reports it as secondary (or primary).
formation_wait_secondary() { # NAME SECONDS
    local name=$1 deadline=$((SECONDS + $2)) node state wal
    node=$(formation_node_name "$1")
    while ((SECONDS < deadline)); do
        state=$(as_pgaf pg_autoctl show state --pgdata "$(formation_pgdata monitor)" --json 2>/dev/null \
            | python3 -c 'import json,sys
for n in json.load(sys.stdin):
    if n.get("nodename") == sys.argv[1]: print(n.get("current_group_state", ""), n.get("assigned_group_state", ""))' "$node" 2>/dev/null) || state=""
        wal=$(formation_superuser_sql "$(formation_port "$name")" postgres \
            "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 'primary' ELSE coalesce((SELECT status FROM pg_stat_wal_receiver), 'none') END" 2>/dev/null) || wal=""
        if formation_running "$name" && { [[ $state == "secondary secondary" && $wal == streaming ]] || [[ $state == "primary primary" && $wal == primary ]]; }; then
            return 0
        fi
        sleep 0.5
    done
    warn "formation $name is not a streaming secondary after $2 s (monitor: ${state:-unknown}; replication: ${wal:-unknown}); see $(formation_log "$name") and cluster/status"
    return 1
}
