"""Fault injection on the local cluster: SIGKILL and restart of nodes (cluster/kill, cluster/start),
stop and start of a region's PostgreSQL, and network partitions of a region's peer channel (iptables).

Tool output goes to the run's tool log (open_log), never to the terminal.
"""
import os
import shutil
import subprocess
import threading
import urllib.parse

from .clock import now
from .cluster import ROOT, Fail, as_pg, pg_ctl, pg_data_dir, script

LOG = None
LOG_LOCK = threading.Lock()


def open_log(path):
    global LOG
    LOG = open(path, "w")
    return LOG


def log_line(text):
    if LOG:
        with LOG_LOCK:
            LOG.write(text)
            LOG.flush()


def run_tool(args):
    """Runs a cluster/ script (or shell), output into the tool log; returns the exit code."""
    log_line(f"[{now():7.2f}] $ {' '.join(args)}\n")
    # A new session: a Ctrl-C in the terminal must not interrupt a restart half-way.
    p = subprocess.run(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    log_line(p.stdout.decode(errors="replace") + f"[{now():7.2f}] -> rc {p.returncode}\n")
    return p.returncode


# ----------------------------------------------------------------------------- nodes

def kill_node(node_id):
    return run_tool([script("kill"), node_id])


def start_node(node_id):
    return run_tool([script("start"), node_id])


def kill_region(region):
    return run_tool([script("kill-region"), region])


def start_region(region):
    return run_tool([script("start-region"), region])


# ----------------------------------------------------------------------------- PostgreSQL

def pg_stop(region):
    return run_tool(as_pg([pg_ctl(), "-D", pg_data_dir(region), "-m", "fast", "stop"]))


def pg_start(region, port):
    return run_tool(["bash", "-c", f"source cluster/lib.sh; pg_instance_start {region} {port}"])


def pg_running(region):
    return subprocess.run(as_pg([pg_ctl(), "status", "-D", pg_data_dir(region)]),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


# ----------------------------------------------------------------------------- partitions (iptables)

def chain_name(offset):
    return f"SMA-CHAOS-{offset}"


def ensure_iptables(prog="chaos"):
    """--partition needs root and Debian's iptables package (installed here if missing)."""
    if os.geteuid() != 0:
        raise Fail("--partition needs root (it adds iptables rules); run it as root or without --partition")
    if shutil.which("iptables"):
        return
    print(f"{prog}: installing the iptables package (for --partition)", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "install", "-y", "iptables"], ["apt-get", "update"], ["apt-get", "install", "-y", "iptables"]):
        rc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT).returncode
        if cmd[1] == "install" and rc == 0:
            break
    if not shutil.which("iptables"):
        raise Fail("could not install iptables (apt-get install -y iptables failed); install it and retry")


class Partitioner:
    """Cuts one region's peer traffic off from the other regions with DROP rules in its own chain.

    Every region's nodes listen on and connect from their region's own peer address (cluster/lib.sh
    region_peer_host: 127.<1+offset/100>.<k>.1), so the rules touch only this cluster's peer channel:
    public listeners and PostgreSQL stay on 127.0.0.1, other checkouts use other addresses.
    """

    def __init__(self, state, chain):
        self.chain = chain
        self.hosts = {}
        for n in state["nodes"]:
            self.hosts.setdefault(n["region"], set()).add(urllib.parse.urlparse(n["peer_url"]).hostname)
        self.lock = threading.Lock()
        self.installed = False
        self.cut = None

    def check(self):
        addresses = [h for hs in self.hosts.values() for h in hs]
        shared = [h for h in set(addresses) if sum(1 for hs in self.hosts.values() if h in hs) > 1]
        if shared or "127.0.0.1" in addresses:
            raise Fail("--partition needs each region's peer channel on its own address, but this cluster's "
                       f"regions share {', '.join(sorted(set(shared) | ({'127.0.0.1'} & set(addresses))))} (a cluster "
                       "made before per-region peer addresses): run cluster/down, then cluster/up (it moves the "
                       "configs and reissues the certificates), then retry")

    def _ipt(self, *args, check=True):
        p = subprocess.run(["iptables", "-w", "10", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           start_new_session=True)
        log_line(f"[{now():7.2f}] $ iptables {' '.join(args)} -> rc {p.returncode} {p.stdout.decode(errors='replace').strip()}\n")
        if check and p.returncode != 0:
            raise RuntimeError(f"iptables {' '.join(args)} failed: {p.stdout.decode(errors='replace').strip()}")
        return p.returncode

    def setup(self):
        with self.lock:
            if self._ipt("-N", self.chain, check=False) != 0:
                self._ipt("-F", self.chain)          # left over from a run that could not clean up
            if self._ipt("-C", "OUTPUT", "-j", self.chain, check=False) != 0:
                self._ipt("-I", "OUTPUT", "1", "-j", self.chain)
            self.installed = True

    def cut_off(self, region):
        with self.lock:
            for other, hosts in self.hosts.items():
                if other == region:
                    continue
                for a in sorted(self.hosts[region]):
                    for b in sorted(hosts):
                        self._ipt("-A", self.chain, "-p", "tcp", "-s", a, "-d", b, "-j", "DROP")
                        self._ipt("-A", self.chain, "-p", "tcp", "-s", b, "-d", a, "-j", "DROP")
            self.cut = region

    def heal(self):
        with self.lock:
            self._ipt("-F", self.chain, check=False)
            self.cut = None

    def teardown(self):
        """Removes the chain and its jump; safe to call more than once."""
        with self.lock:
            if not self.installed:
                return
            self._ipt("-F", self.chain, check=False)
            for _ in range(10):
                if self._ipt("-D", "OUTPUT", "-j", self.chain, check=False) != 0:
                    break
            self._ipt("-X", self.chain, check=False)
            self.installed = False
            self.cut = None
