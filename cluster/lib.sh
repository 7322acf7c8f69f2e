# shellcheck shell=bash
# Shared functions for the cluster/ scripts and .ci/run. Source it; do not run it.
#
# Run state lives in .cluster/ at the repository top (git-ignored):
#   state.json            the cluster as docs/ARCHITECTURE.md §4 describes it (0600: holds API keys)
#   topology              regions and nodes per region chosen by the first cluster/up,
#                         plus one line per region added by cluster/add-region
#   sma-node-bin          the sma-node binary cluster/up built (cluster/start reuses it)
#   haproxy/<region>.cfg|pid|sock  the region's endpoint (HAProxy), log in logs/haproxy-<region>.log
#   nodes/<id>/config.json, nodes/<id>/tls/node.pem|node.key (peer certificate), logs/<id>.log
#   secrets/ (0700)       kek, api-keys.json, pg-<instance>.password (all 0600),
#                         pki/ca.pem|ca.key (the cluster CA of the mTLS peer channel)
#   pg-root               where the PostgreSQL instances live: .cluster/pg, or
#                         /var/tmp/sma-cluster-<hash>/ when the postgres OS user
#                         cannot traverse the repository path
# Each PostgreSQL instance <pg-root>/<name>/ holds data/, socket/ and postgresql.log.
#
# The functions live in cluster/lib/, one file per concern, sourced here in dependency order:
#   common.sh    paths, ports, messages, run-state directories and lock, HTTP waits, processes
#   packages.sh  system packages and the Swift toolchain
#   postgres.sh  the private PostgreSQL instances (SMA_PG_BIN names their binaries)
#   formation.sh the authoritative store: a pg_auto_failover formation (monitor + a data node per region, up to 3)
#   topology.sh  regions, node ids, ports and peer addresses (.cluster/topology)
#   public-tls.sh HTTPS on the public port (cluster/up --tls): public CA, certificates, curl trusting the CA
#   nodes.sh     node configs (sma-node cluster config), peer PKI, log key, starting nodes
#   state.sh     .cluster/state.json (sma-node cluster state ...)
#   haproxy.sh   the regional endpoints: one HAProxy per region in front of its nodes (.cluster/haproxy/)
# The Python tools share cluster/smatools/ instead.

# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/packages.sh
source "$SMA_LIB_DIR/packages.sh"
# shellcheck source=lib/postgres.sh
source "$SMA_LIB_DIR/postgres.sh"
# shellcheck source=lib/formation.sh
source "$SMA_LIB_DIR/formation.sh"
# shellcheck source=lib/topology.sh
source "$SMA_LIB_DIR/topology.sh"
# shellcheck source=lib/public-tls.sh
source "$SMA_LIB_DIR/public-tls.sh"
# shellcheck source=lib/nodes.sh
source "$SMA_LIB_DIR/nodes.sh"
# shellcheck source=lib/state.sh
source "$SMA_LIB_DIR/state.sh"
# shellcheck source=lib/haproxy.sh
source "$SMA_LIB_DIR/haproxy.sh"
