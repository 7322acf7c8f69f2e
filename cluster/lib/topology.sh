# shellcheck shell=bash disable=SC2034  # the topology arrays are read by the scripts that source lib.sh
# Part of cluster/lib.sh (sourced by it; do not source or run it alone): the cluster's layout: regions, node ids, ports, peer addresses (.cluster/topology).

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

# ---------------------------------------------------------------- topology
#
# .cluster/topology, line 1: "REGIONS NODES_PER_REGION", the size cluster/up was first run
# with. Regions 1..REGIONS are named region-<k>, use PostgreSQL port 55501+k, and their
# nodes take public ports 8081, 8082, ... and peer ports 9081, 9082, ... region by region.
# Then one line per region added by cluster/add-region, in index order:
#   region INDEX NAME PG_PORT FIRST_PUBLIC_PORT FIRST_PEER_PORT
# Every region has NODES_PER_REGION nodes r<INDEX>-n1 ... Region 1 is the write region:
# its nodes are leader-eligible and share its (authoritative) database; all others are
# followers sharing their own region's database. With the formation (cluster/lib/formation.sh)
# the authoritative database is the formation, r2-n1 is leader-eligible too, and only regions
# with followers have a database of their own.

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
    # With the formation (docs §2.11) the first node of region 2 is leader-eligible too: the lease and the log
    # survive the loss of region 1.
    formation_on && ((r == 2 && n == 1)) && role=leader-eligible
    echo "$1 ${REGION_NAMES[r]} $role $((REGION_PUBLIC_BASE[r] + n - 1)) $((REGION_PEER_BASE[r] + n - 1))"
}

# Prints the peer address of node ID (its region's: region_peer_host).
node_peer_host() { # ID
    local r
    read -r r _ <<<"$(node_position "$1")"
    region_peer_host "$r"
}

# True when region index K has followers (and so a region database of its own).
region_has_followers() { # K
    local n role
    for ((n = 1; n <= NODES_PER_REGION; n++)); do
        read -r _ _ role _ _ <<<"$(node_layout "$(node_id "$1" "$n")")"
        [[ $role == follower ]] && return 0
    done
    return 1
}

# The libpq URI node ID connects with: the formation for a leader-eligible node when there is one,
# else its region's database.
node_database_url() { # ID
    local region role
    read -r _ region role _ _ <<<"$(node_layout "$1")"
    if formation_on && [[ $role == leader-eligible ]]; then
        formation_node_url
    else
        pg_node_url "$region" sma
    fi
}

# Starts the PostgreSQL instance of region index K and creates its database 'sma'
# (PG_DB_CREATED tells whether it was just created).
region_database_start() { # K
    pg_instance_start "${REGION_NAMES[$1]}" "${REGION_PG_PORTS[$1]}"
    pg_create_db "${REGION_NAMES[$1]}" sma
    pg_ensure_node_role "${REGION_NAMES[$1]}" sma
}
