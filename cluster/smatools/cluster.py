"""Where the local cluster lives and what a script needs of it.

Paths follow cluster/lib.sh: .cluster/ at the repository top holds state.json (nodes and API
keys), sma-node-bin (the binary cluster/up built), pg-root (where the PostgreSQL instances live).
A missing precondition raises Fail with one line that says what is needed; the scripts' entry
points (run_main) print it on stderr and exit 1 instead of a traceback.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER_DIR = os.path.join(ROOT, ".cluster")
STATE_PATH = os.path.join(CLUSTER_DIR, "state.json")
LIB_SH = os.path.join(ROOT, "cluster", "lib.sh")
WRITE_REGION = "region-1"


class Fail(Exception):
    """A precondition that does not hold; the message is one line, without the program name."""


def run_main(prog, main):
    """Runs MAIN(); a Fail becomes 'PROG: error: MESSAGE' on stderr and exit status 1."""
    try:
        main()
    except Fail as e:
        print(f"{prog}: error: {e}", file=sys.stderr, flush=True)
        sys.exit(1)


def port_offset():
    raw = os.environ.get("SMA_PORT_OFFSET", "0") or "0"
    if not raw.isdigit():
        raise Fail(f"SMA_PORT_OFFSET must be a non-negative integer (got '{raw}')")
    return int(raw)


def script(name):
    """The path of a cluster/ script (e.g. 'kill', 'start', 'up')."""
    return os.path.join(ROOT, "cluster", name)


# ----------------------------------------------------------------------------- PostgreSQL

_pg_bin = None


def pg_bin():
    """The directory of the PostgreSQL server binaries: the one setting SMA_PG_BIN of cluster/lib.sh.

    The bash scripts export it; run on its own, a Python script asks lib.sh for it, so the default
    (Debian's /usr/lib/postgresql/15/bin) is written in one place only.
    """
    global _pg_bin
    if _pg_bin is None:
        v = os.environ.get("SMA_PG_BIN")
        if not v:
            p = subprocess.run(["bash", "-c", 'source "$1" >/dev/null && printf %s "$PG_BIN"', "smatools", LIB_SH],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            v = p.stdout.strip()
            if p.returncode != 0 or not v:
                raise Fail(f"could not read the PostgreSQL binary directory (PG_BIN) from {LIB_SH}: "
                           + (p.stderr.strip().splitlines() or ["no output"])[-1])
        _pg_bin = v
    return _pg_bin


def pg_ctl():
    path = os.path.join(pg_bin(), "pg_ctl")
    if not os.access(path, os.X_OK):
        raise Fail(f"{path} not found: install PostgreSQL (apt-get install postgresql) or set SMA_PG_BIN to its bin directory")
    return path


def pg_root():
    try:
        r = open(os.path.join(CLUSTER_DIR, "pg-root")).read().strip()
        if r:
            return r
    except OSError:
        pass
    return os.path.join(CLUSTER_DIR, "pg")


def pg_data_dir(region):
    return os.path.join(pg_root(), region, "data")


def as_pg(args):
    """ARGS run as the owner of the PostgreSQL instances (lib.sh as_pg): postgres when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return list(args)


def require_pg_owner(state):
    """Fails unless this process may stop and start the cluster's PostgreSQL instances."""
    if os.geteuid() == 0:
        return
    for region in regions(state):
        inst = os.path.join(pg_root(), region)
        try:
            owner = os.stat(inst).st_uid
        except OSError:
            continue
        if owner != os.geteuid():
            raise Fail(f"must run as root: the PostgreSQL instance {inst} belongs to another user (uid {owner}) "
                       "and this script stops and starts it")


# ----------------------------------------------------------------------------- state

def load_state():
    """.cluster/state.json; Fail when there is none or it is not what cluster/up writes."""
    try:
        with open(STATE_PATH) as f:
            state = json.load(f)
    except FileNotFoundError:
        raise Fail(f"no cluster state at {STATE_PATH}; start a cluster with cluster/up") from None
    except (OSError, ValueError) as e:
        raise Fail(f"cannot read {STATE_PATH} ({e}); run cluster/up to rewrite it") from None
    try:
        nodes = state["nodes"]
        for n in nodes:
            n["id"], n["region"], n["role"], n["public_url"]
        for role in ("admin", "provisioner", "validator"):
            state["api_keys"][role]
    except (KeyError, TypeError) as e:
        raise Fail(f"{STATE_PATH} lacks {e} (written by an older cluster/up?); run cluster/up to rewrite it") from None
    if not nodes:
        raise Fail(f"{STATE_PATH} lists no node; run cluster/up")
    return state


def node_binary():
    """The sma-node binary cluster/up recorded."""
    path = os.path.join(CLUSTER_DIR, "sma-node-bin")
    try:
        b = open(path).read().strip()
    except OSError:
        raise Fail(f"no sma-node binary recorded in {path}; run cluster/up first") from None
    if not os.access(b, os.X_OK):
        raise Fail(f"the recorded sma-node binary {b} does not exist; rebuild it with cluster/up")
    return b


def regions(state):
    """Region names in order, each with its nodes: {region: [node, ...]}."""
    out = {}
    for n in state["nodes"]:
        out.setdefault(n["region"], []).append(n)
    return dict(sorted(out.items()))


def describe_size(state):
    rs = regions(state)
    per = sorted({len(v) for v in rs.values()})
    return f"{len(rs)} region(s) x {'/'.join(str(p) for p in per)} node(s)"


def region_pg_port(state, region):
    """The port of REGION's own database (a leader-eligible node on the formation has a multi-host URL: skipped)."""
    for n in state["nodes"]:
        if n["region"] == region and "," not in n["database"].split("@")[-1]:
            return int(n["database"].rsplit(":", 1)[1].split("/")[0])
    raise Fail(f"no node of {region} in {STATE_PATH} uses a database of its region's own")


def formation_on():
    """True when the authoritative store is the pg_auto_failover formation (cluster/lib/formation.sh)."""
    return os.path.exists(os.path.join(CLUSTER_DIR, "formation"))


def formation_primary_region():
    """The region whose formation data node is the primary now (None when there is none or no formation)."""
    out = subprocess.run(["bash", "-c", "source cluster/lib.sh; topology_load; p=$(formation_primary_port); "
                          "[[ -n $p ]] && echo \"${REGION_NAMES[$((p - FORMATION_PORT_BASE))]}\""],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or None


def has_own_db(region):
    """True when REGION has a PostgreSQL instance of its own (with the formation, only regions with followers do)."""
    return os.path.exists(os.path.join(pg_data_dir(region), "PG_VERSION"))
