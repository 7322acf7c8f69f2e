"""Reads .cluster/state.json and node configs for the bash scripts (cluster/lib/state.sh: state_tool).

  state.py nodes STATE              one tab-separated line per node: id region role pid public_url peer_url
                                    (pid '-' when none is recorded, peer_url '-' when the state has none)
  state.py field STATE ID FIELD     FIELD of node ID ('' when null); exit 1 when the node is unknown
  state.py api-key STATE ROLE       the API key of ROLE; exit 1 when there is none
  state.py listeners CONFIG         'public_host:public_port peer_host:peer_port' of a node config

Writing these files is sma-node's job (sma-node cluster config / cluster state). Standalone: standard
library only, runnable as a script (no package imports).
"""
import json
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[0], argv[1:]
    if cmd == "nodes" and len(args) == 1:
        for n in load(args[0]).get("nodes", []):
            pid = n.get("pid")
            print("\t".join([n["id"], n["region"], n["role"], "-" if pid is None else str(pid), n["public_url"],
                             n.get("peer_url") or "-"]))
        return 0
    if cmd == "field" and len(args) == 3:
        for n in load(args[0]).get("nodes", []):
            if n["id"] == args[1]:
                v = n.get(args[2])
                print("" if v is None else v)
                return 0
        return 1
    if cmd == "api-key" and len(args) == 2:
        print(load(args[0])["api_keys"][args[1]])
        return 0
    if cmd == "listeners" and len(args) == 1:
        c = load(args[0])
        print("%s:%s %s:%s" % (c.get("public_host", "127.0.0.1"), c["public_port"], c.get("peer_host", "127.0.0.1"), c["peer_port"]))
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
