# shellcheck shell=bash disable=SC2034  # PG_DB_CREATED is read by the scripts that source lib.sh
# Part of cluster/lib.sh (sourced by it; do not source or run it alone): the private PostgreSQL instances (one per region, and the tests').

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

# The role nodes connect as: it owns the node's database (so migrations can create tables) and nothing else;
# no superuser, no CREATEDB, no CREATEROLE. Its password is in secrets/pg-<instance>-node.password (0600).
PG_NODE_ROLE=sma_node
pg_node_password_file() { printf '%s/pg-%s-node.password\n' "$SECRETS_DIR" "$1"; }

# Creates (or updates) the node role on instance NAME and makes it the owner of database DB and of every table
# and sequence already in it (a database created before the role existed). The password travels on stdin.
# PORT and SUPERUSER_PASSWORD_FILE default to the instance's own (the formation passes its primary's).
pg_ensure_node_role() { # NAME DB [PORT SUPERUSER_PASSWORD_FILE]
    local name=$1 db=$2 pwfile port superpw
    pwfile=$(pg_node_password_file "$name")
    if [[ ! -s $pwfile ]]; then
        (umask 077 && random_hex 24 >"$pwfile") || die "cannot write $pwfile"
    fi
    port=${3:-$(pg_instance_port "$name")}
    superpw=${4:-$(pg_password_file "$name")}
    {
        printf "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN\n" "$PG_NODE_ROLE"
        printf "  CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS; END IF; END \$\$;\n" "$PG_NODE_ROLE"
        printf "ALTER ROLE %s NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '%s';\n" "$PG_NODE_ROLE" "$(<"$pwfile")"
        printf 'ALTER DATABASE "%s" OWNER TO %s;\n' "$db" "$PG_NODE_ROLE"
    } | PGPASSWORD=$(<"$superpw") PGCONNECT_TIMEOUT=10 \
        "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$port user=$PG_SUPERUSER dbname=postgres" >/dev/null \
        || die "could not create the node role $PG_NODE_ROLE on PostgreSQL instance '$name' (see the psql error above)"
    PGPASSWORD=$(<"$superpw") PGCONNECT_TIMEOUT=10 \
        "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$port user=$PG_SUPERUSER dbname=$db" -c "
        DO \$\$ DECLARE r record; BEGIN
          FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') LOOP
            -- A table's owned sequences (bigserial) follow it.
            EXECUTE format('ALTER TABLE public.%I OWNER TO $PG_NODE_ROLE', r.relname);
          END LOOP; END \$\$;" >/dev/null \
        || die "could not hand database $db's tables to $PG_NODE_ROLE on PostgreSQL instance '$name' (see the psql error above)"
}

# Prints the libpq URI of the node role on instance NAME, database DB.
pg_node_url() { # NAME DB
    local name=$1 db=$2 port pwfile
    pwfile=$(pg_node_password_file "$name")
    port=$(pg_instance_port "$name")
    [[ -s $pwfile ]] || die "the node role's password file $pwfile of PostgreSQL instance '$name' is missing; run cluster/up"
    printf 'postgresql://%s:%s@127.0.0.1:%s/%s\n' "$PG_NODE_ROLE" "$(<"$pwfile")" "$port" "$db"
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
