#!/usr/bin/env python3
"""Chaos test of the running local cluster (cluster/up, 3 x 2): load + faults + checks.

(The run itself; cluster/chaos launches it. Faults: faults.py, checks and table: checks.py.)

  cluster/chaos [--duration SECONDS] [--seed N] [--partition | --no-faults]

For --duration seconds (default 120) it runs concurrently:
  - a provisioning stream through random nodes (records every acknowledged 201 with its
    serial, provisioning file and X-SMA-Seq; 503/errors count as refused), plus a few
    revocations (admin key) whose 200s are recorded;
  - one aggregator per region validating against its own region's nodes (valid tokens of
    acknowledged devices, tokens of revoked devices, tampered, forged and unknown-device tokens);
  - one aggregator per region like today's Birthmark aggregator: genuine tokens to its region's
    endpoint (HAProxy, state.json regional_endpoints), one attempt each, 5 s timeout, no retry;
  - after each acknowledged revocation, every node's /validate polled every 50 ms (up to 10 s) with
    the device's genuine token until it answers FAIL (revocation propagation);
  - a fault schedule driven by --seed: SIGKILL of a random node or of the leader (restarted
    3-8 s later), one stop of region-2's or region-3's PostgreSQL (~10 s) and one stop of the
    write region's PostgreSQL (region-1, ~10 s); with --partition also network partitions: one
    follower region cut off from the others for 15-20 s (iptables DROP of tcp between its peer
    address 127.<1+offset/100>.<k>.1 and the other regions' ones, in the chain SMA-CHAOS-<offset>,
    which is always removed again: at the end, on an error and on Ctrl-C).
Revocation propagation (acknowledgement -> FAIL from every node that stays up and connected, its
region's PostgreSQL running, not within 5 s after a fault of its own ended) is reported as median,
p90, p99 and max; a p99 >= 1 s is a violation.
--no-faults runs the load and the measurements without any fault (a quiet baseline).
Then it restarts whatever is down, waits for convergence and checks (exit 1 on a violation):
  - every acknowledged provisioning PASSes and every acknowledged revocation FAILs on every node;
  - no PASS ever for forged / tampered / unknown tokens, nor for a revoked device from a node
    that had already applied the revocation's seq (each node's applied_seq is polled on /readyz
    every 100 ms; without an X-SMA-Seq on the revocation answer: 2 s after its acknowledgement);
  - no 201 while region-1's PostgreSQL was stopped (1 s slack at the start of the window);
  - availability per region >= 99.9 % of validation requests answered while >= 1 of its nodes was up,
    the cut-off region included: it keeps validating from memory; the same through each regional
    endpoint (any non-200 or timeout of the no-retry aggregator is a failure);
  - no 201 from a node of a cut-off region while it is cut off (1 s slack at the start);
  - after the last fault every node converges to the same applied_seq.
A stale answer of a region that could not learn of a change (its PostgreSQL down, or cut off)
is reported as a warning, not a violation: it is the documented by-design weakness.
Ctrl-C (or SIGTERM) stops the run: partitions are removed, killed nodes and stopped PostgreSQL
instances are started again, the table so far is printed, and the exit status is 130.
Only loopback addresses are contacted.
"""
import argparse, json, os, random, signal, subprocess, sys, tempfile, threading, time
import shutil

from . import clock, faults
from .checks import final_validation, report, wait_convergence
from .client import applied_seq as readyz, call, leader_id
from .clock import now
from .cluster import (Fail, ROOT, STATE_PATH, WRITE_REGION, describe_size, formation_on, formation_primary_region,
                      has_own_db, load_state,
                      node_binary, port_offset, pg_ctl, region_pg_port, require_pg_owner, run_main, script)

WRITE_TIMEOUT = 12.0        # s; longer than a node's 10 s forward timeout, so that its own answer (503) is seen
LB_TIMEOUT = 5.0            # s; the aggregator's timeout on its regional endpoint (it never retries)
PROP_POLL = 0.05            # s between two /validate polls of a revoked device's token on one node
PROP_CAP = 10.0             # s after the acknowledgement at which a node that still PASSes counts as timed out
PROP_RECOVERY = 5.0         # s after a node's restart, a heal or a PostgreSQL start in which its nodes are not measured


# ----------------------------------------------------------------------------- shared run state

class Run:
    def __init__(self, state, seed, duration):
        self.state = state
        self.nodes = state["nodes"]
        self.keys = state["api_keys"]
        self.bin = node_binary()
        self.regions = sorted({n["region"] for n in self.nodes})
        self.seed = seed
        self.duration = duration
        self.stop = threading.Event()
        self.abort = threading.Event()   # Ctrl-C: end the current fault now
        self.lock = threading.Lock()
        self.tmp = tempfile.mkdtemp(prefix="sma-chaos-")
        # The test devices' provisioning files (private and master keys): deleted when the run ends.
        self.devices_dir = os.path.join(self.tmp, "devices")
        os.mkdir(self.devices_dir, 0o700)
        self.tag = f"{int(time.time())}-{seed}"
        # writes
        self.writes = []            # (t_send, t_recv, node, status, serial, seq)
        self.acked = {}             # serial -> {seq, file, tokens, t_ack}
        self.valid_pool = []        # serials expected to PASS (acked, no revoke attempted)
        self.revoked = {}           # serial -> t_ack of the revocation (200)
        self.revoke_attempts = []   # (t_send, t_recv, node, status, serial)
        self.revoke_unknown = set() # revocation sent but not acknowledged: outcome unknown
        self.revoked_seq = {}       # serial -> X-SMA-Seq of the acknowledged revocation
        self.applied = {n["id"]: [] for n in state["nodes"]}   # node id -> [(t observed, applied_seq)], increasing
        self.unknown_tokens = []    # tokens of devices that do not exist
        # validations: (t_send, t_recv, region, node, cls, serial, status, valid, attempts)
        self.validations = []
        # faults: dict(kind, target, at, end, note)
        self.faults = []
        self.active = {}            # description -> since
        self.down_nodes = {}        # node id -> since
        self.pg_down = {}           # region -> since
        self.pg_windows = []        # (region, t_stop_issued, t_start_issued)
        self.leader_kills = []      # t of a leader kill
        self.part_windows = []      # (region, t_cut, t_heal)
        self.partitioned = {}       # region -> since
        self.catchups = []          # threads measuring the catch-up after a heal
        # regional endpoints (HAProxy per region, state.json "regional_endpoints"): region -> URL
        self.endpoints = dict(state.get("regional_endpoints") or {})
        # validations through them, no retry: (t_send, t_recv, region, status, valid)
        self.lb_validations = []
        # revocation propagation, one dict per acknowledged revocation (see propagation_watch)
        self.propagation = []
        self.prop_threads = []
        self.recovered = {}         # node id or region -> when its last fault ended (restart ready, heal, PostgreSQL start)

    def node(self, nid):
        return next(n for n in self.nodes if n["id"] == nid)


def make_tokens(run, path, count=3):
    toks = []
    for slot in range(count):
        try:
            out = subprocess.check_output([run.bin, "camera-token", "--provisioning-file", path,
                                           "--table-slot", str(slot % 3)], stderr=subprocess.DEVNULL)
            toks.append(json.loads(out))
        except Exception:
            pass
    return toks


def make_unknown_token(run, path, rnd):
    """A correctly encrypted token of a NUC hash no device has (provisioning file with a random nuc_hash)."""
    d = json.load(open(path))
    d["nuc_hash"] = "%064x" % rnd.getrandbits(256)
    d["device_serial"] = d["device_serial"] + "-UNKNOWN"
    p = path + ".unknown.json"
    json.dump(d, open(p, "w"))
    t = make_tokens(run, p, 1)
    return t[0] if t else None


def tamper(tok, rnd):
    t = json.loads(json.dumps(tok))
    tag = t["camera_token"]["auth_tag"]
    i = rnd.randrange(len(tag))
    c = tag[i]
    nc = rnd.choice([x for x in "0123456789abcdef" if x != c.lower()])
    t["camera_token"]["auth_tag"] = tag[:i] + nc + tag[i + 1:]
    return t


def forge(rnd, like):
    ct = like["camera_token"]
    return {"camera_token": {"auth_tag": "%032x" % rnd.getrandbits(128),
                             "ciphertext": "%0*x" % (len(ct["ciphertext"]), rnd.getrandbits(4 * len(ct["ciphertext"]))),
                             "key_index": rnd.randrange(1000),
                             "nonce": "%024x" % rnd.getrandbits(96),
                             "table_id": ct["table_id"]},
            "manufacturer_authority_id": like.get("manufacturer_authority_id", "SIMULATED_MFG")}


# ----------------------------------------------------------------------------- provisioning stream

def provision_one(run, rnd, i, node=None):
    node = node or rnd.choice(run.nodes)
    serial = f"CHAOS-{run.tag}-{i}"
    t_send = now()
    s, h, b = call("POST", node["public_url"] + "/api/v1/devices/provision", run.keys["provisioner"],
                   {"device_serial": serial, "device_family": "chaos"}, timeout=WRITE_TIMEOUT)
    t_recv = now()
    seq = None
    if s == 201:
        try:
            seq = int(h["X-SMA-Seq"])
        except Exception:
            seq = None
    with run.lock:
        run.writes.append((t_send, t_recv, node["id"], s, serial, seq))
    if s != 201:
        return None
    path = os.path.join(run.devices_dir, serial + ".json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(b)
    toks = make_tokens(run, path, 3)
    with run.lock:
        run.acked[serial] = {"seq": seq, "file": path, "tokens": toks, "t_ack": t_recv, "node": node["id"]}
        if toks:
            run.valid_pool.append(serial)
    if toks and len(run.unknown_tokens) < 20 and i % 5 == 0:
        u = make_unknown_token(run, path, rnd)
        if u:
            with run.lock:
                run.unknown_tokens.append(u)
    return serial


def revoke_one(run, rnd, node=None):
    """Revokes a random device of the valid pool through NODE (default: a random node); returns the status."""
    with run.lock:
        if len(run.valid_pool) < 5:
            return None
        serial = run.valid_pool.pop(rnd.randrange(len(run.valid_pool)))
    node = node or rnd.choice(run.nodes)
    t_send = now()
    s, h, b = call("POST", node["public_url"] + f"/api/v1/devices/{serial}/revoke", run.keys["admin"],
                   {"reason": "chaos"}, timeout=WRITE_TIMEOUT)
    t_recv = now()
    with run.lock:
        run.revoke_attempts.append((t_send, t_recv, node["id"], s, serial))
        if s == 200:
            run.revoked[serial] = t_recv
            try:
                run.revoked_seq[serial] = int(h["X-SMA-Seq"])
            except Exception:
                pass
            if run.acked[serial]["tokens"]:
                rec = {"serial": serial, "t_ack": t_recv, "fail_at": {}, "excluded": {}, "timed_out": []}
                run.propagation.append(rec)
                for n in run.nodes:
                    th = threading.Thread(target=propagation_watch, args=(run, rec, n), daemon=True)
                    th.start()
                    run.prop_threads.append(th)
        else:
            # refused (503) or unknown outcome: may or may not be revoked; never checked either way
            run.revoke_unknown.add(serial)
    return s


def provisioner(run):
    rnd = random.Random(run.seed * 7 + 1)
    i = 0
    while not run.stop.is_set():
        i += 1
        provision_one(run, rnd, i)
        if i % 12 == 0:
            revoke_one(run, rnd)
        time.sleep(0.03)


# ----------------------------------------------------------------------------- aggregators

CLASSES = ["valid", "valid", "revoked", "tampered", "forged", "unknown"]


def aggregator(run, region, idx):
    rnd = random.Random(run.seed * 31 + idx)
    members = [n for n in run.nodes if n["region"] == region]
    k = 0
    while not run.stop.is_set():
        cls = CLASSES[k % len(CLASSES)]
        k += 1
        with run.lock:
            if not run.valid_pool:
                body = None
            elif cls == "valid":
                serial = rnd.choice(run.valid_pool)
                body = rnd.choice(run.acked[serial]["tokens"])
            elif cls == "revoked":
                if not run.revoked:
                    continue
                serial = rnd.choice(list(run.revoked))
                body = rnd.choice(run.acked[serial]["tokens"])
            elif cls == "tampered":
                serial = rnd.choice(run.valid_pool)
                body = tamper(rnd.choice(run.acked[serial]["tokens"]), rnd)
            elif cls == "forged":
                serial = None
                body = forge(rnd, run.acked[run.valid_pool[0]]["tokens"][0])
            else:
                if not run.unknown_tokens:
                    continue
                serial = None
                body = rnd.choice(run.unknown_tokens)
        if body is None:
            time.sleep(0.1)
            continue
        # An aggregator tries one node of its region, then the other one.
        order = rnd.sample(members, len(members))
        t_send = now()
        status, valid, used, attempts = 0, None, None, 0
        for n in order:
            attempts += 1
            s, _, b = call("POST", n["public_url"] + "/validate", run.keys["validator"], body, timeout=2)
            used = n["id"]
            if s == 200:
                status = 200
                try:
                    valid = bool(json.loads(b)["valid"])
                except Exception:
                    valid = None
                break
            status = s
        t_recv = now()
        with run.lock:
            run.validations.append((t_send, t_recv, region, used, cls, serial, status, valid, attempts))
        time.sleep(0.005)


# ----------------------------------------------------------------------------- regional endpoints

def lb_aggregator(run, region, idx):
    """Today's aggregator: genuine tokens to its region's endpoint, one attempt each (5 s timeout, no retry)."""
    rnd = random.Random(run.seed * 53 + idx)
    url = run.endpoints[region] + "/validate"
    while not run.stop.is_set():
        with run.lock:
            if run.valid_pool:
                serial = rnd.choice(run.valid_pool)
                body = rnd.choice(run.acked[serial]["tokens"])
            else:
                body = None
        if body is None:
            time.sleep(0.1)
            continue
        t_send = now()
        s, _, b = call("POST", url, run.keys["validator"], body, timeout=LB_TIMEOUT)
        valid = None
        if s == 200:
            try:
                valid = bool(json.loads(b)["valid"])
            except Exception:
                pass
        with run.lock:
            run.lb_validations.append((t_send, now(), region, s, valid))
        time.sleep(0.005)


# ----------------------------------------------------------------------------- revocation propagation

def propagation_watch(run, rec, node):
    """After the acknowledgement of revocation REC: polls NODE's /validate with the device's genuine token every
    PROP_POLL s until it answers FAIL (recorded in rec["fail_at"]), for at most PROP_CAP s (rec["timed_out"]).
    A node that is down, cut off, or whose region's PostgreSQL is stopped while it has not yet answered FAIL is
    excluded (rec["excluded"][id] = reason): it cannot learn of the revocation then; so is one within PROP_RECOVERY s
    after such a fault of its own ended (it is catching up: the stale window the other checks allow too)."""
    tok = run.acked[rec["serial"]]["tokens"][0]
    nid, region = node["id"], node["region"]
    while True:
        if nid in run.down_nodes:
            why = "node down"
        elif region in run.partitioned:
            why = "region cut off"
        elif region in run.pg_down:
            why = "region's PostgreSQL stopped"
        elif now() - max(run.recovered.get(nid, -1e9), run.recovered.get(region, -1e9)) < PROP_RECOVERY:
            why = f"catching up (< {PROP_RECOVERY:.0f} s after a fault ended)"
        else:
            why = None
        if why:
            with run.lock:
                rec["excluded"][nid] = why
            return
        s, _, b = call("POST", node["public_url"] + "/validate", run.keys["validator"], tok, timeout=1.0)
        t = now()
        if s == 200:
            try:
                if json.loads(b)["valid"] is False:
                    with run.lock:
                        rec["fail_at"][nid] = t
                    return
            except Exception:
                pass
        if t - rec["t_ack"] >= PROP_CAP or run.abort.is_set():
            with run.lock:
                rec["timed_out"].append(nid)
            return
        time.sleep(PROP_POLL)


# ----------------------------------------------------------------------------- applied seq per node

def seq_poller(run, node):
    """Records when NODE was seen to have applied which log seq (GET /readyz every 100 ms)."""
    hist = run.applied[node["id"]]
    while not run.stop.is_set():
        seq = readyz(node, timeout=1.0)
        t = now()
        if seq >= 0 and (not hist or seq > hist[-1][1]):
            with run.lock:
                hist.append((t, seq))
        time.sleep(0.1)


# ----------------------------------------------------------------------------- faults

def region_loss_plan(state, duration):
    """--region-loss: the write region lost at 12 % of the run for 30 % of it, then (separately) the monitor's region."""
    if not formation_on():
        raise Fail("--region-loss needs the pg_auto_failover formation (a cluster created by this version of cluster/up; "
                   "cluster/down --purge, then cluster/up)")
    if duration < 100:
        raise Fail(f"--region-loss needs --duration >= 100 (two region losses with their rejoins), not {duration:.0f}")
    regions = sorted({n["region"] for n in state["nodes"]}, key=lambda r: int(r.rsplit("-", 1)[1]) if r.rsplit("-", 1)[1].isdigit() else 99)
    monitor_region = regions[min(3, len(regions)) - 1]
    # "write": the region of the leader at that moment (after an earlier failover it is not region-1).
    plan = [(0.12 * duration, "region-loss", "write", 0.30 * duration)]
    if monitor_region != WRITE_REGION:
        plan.append((0.58 * duration, "region-loss", monitor_region, 0.22 * duration))
    return plan


def fault_plan(state, seed, duration, partition=False):
    """The fault schedule [(at, kind, target, duration)] drawn from SEED; Fail when the cluster is too small for it."""
    rnd = random.Random(seed)
    nodes = state["nodes"]
    times = []
    t = rnd.uniform(8, 14)
    while t < duration - 12:
        times.append(t)
        t += rnd.uniform(10, 20)
    kinds = ["kill"] * len(times)
    if len(times) >= 1:
        kinds[0] = "kill-leader"
    slots = list(range(len(times)))
    rnd.shuffle(slots)
    if len(slots) >= 2:
        kinds[slots[0]] = "pg-write-region"
        kinds[slots[1]] = "pg-follower-region"
        rest = [s for s in slots[2:]]
        if rest and "kill-leader" not in kinds:
            kinds[rest[0]] = "kill-leader"
    elif len(slots) == 1:
        kinds[0] = "pg-write-region"
    if formation_on():
        # The write region has no database of its own: the formation's primary is lost with --region-loss.
        kinds = ["kill" if k == "pg-write-region" else k for k in kinds]
    followers = [r for r in sorted({n["region"] for n in nodes}) if r != WRITE_REGION]
    if not followers and (partition or "pg-follower-region" in kinds):
        what = "cuts a follower region off (--partition)" if partition else "stops a follower region's PostgreSQL"
        raise Fail(f"chaos needs a cluster of at least 2 regions (its fault plan {what}; the write region {WRITE_REGION} "
                   f"is no follower), but this one has {describe_size(state)}: run cluster/down --purge, then cluster/up "
                   "(default 3 x 2) or cluster/up --regions 2")
    if partition and followers:
        # One partition per ~5 faults (at least one), in place of plain kills (else of a later fault).
        want = max(1, len(times) // 5)
        spare = [i for i in slots if kinds[i] == "kill"] or [i for i in slots if kinds[i] != "kill-leader"] or slots
        for i in spare[:want]:
            kinds[i] = "partition"
    plan = []
    # A cut-off region must not acknowledge writes; a region with a leader-eligible node (r2-n1 with the formation)
    # still reaches the formation here (the cut drops peer traffic only), so partitions cut follower-only regions.
    cuttable = [r for r in followers if all(n["role"] == "follower" for n in nodes if n["region"] == r)] or followers
    part_regions = list(cuttable)
    rnd.shuffle(part_regions)
    for t, kind in zip(times, kinds):
        if kind == "kill-leader":
            plan.append((t, kind, None, rnd.uniform(3, 8)))
        elif kind == "kill":
            plan.append((t, kind, rnd.choice(nodes)["id"], rnd.uniform(3, 8)))
        elif kind == "pg-write-region":
            plan.append((t, kind, "region-1", rnd.uniform(9, 11)))
        elif kind == "partition":
            region = part_regions.pop(0) if part_regions else rnd.choice(cuttable)
            part_regions.append(region)
            plan.append((t, kind, region, rnd.uniform(15, 20)))
        else:
            plan.append((t, kind, rnd.choice(followers), rnd.uniform(9, 11)))
    return plan


def catch_up(run, region, rec, t_heal):
    """After a partition heals: time until every node of REGION has applied what the others had at the heal."""
    others = [n for n in run.nodes if n["region"] != region]
    members = [n for n in run.nodes if n["region"] == region]
    target = max([readyz(n) for n in others] + [0])
    while now() - t_heal < 60 and not run.abort.is_set():
        if all(readyz(n) >= target for n in members):
            rec["catchup"] = now() - t_heal
            rec["note"] += f"; {region} caught up (applied_seq >= {target}) {rec['catchup']:.2f} s after the heal"
            return
        time.sleep(0.1)
    if run.abort.is_set():
        rec["note"] += "; catch-up not measured (interrupted)"
        return
    rec["note"] += f"; {region} had NOT caught up with seq {target} 60 s after the heal"


def region_loss(run, region, rec, dur):
    """Loses REGION (cluster/kill-region), probes writes through the survivors until the first provisioning and the
    first revocation are acknowledged, brings it back (cluster/start-region) and times the rejoin and catch-up."""
    if region == "write":
        # The region of the formation's primary (the leader may be elsewhere: it is named in the note).
        lid = leader_id(run.nodes)
        region = formation_primary_region() or next((n["region"] for n in run.nodes if n["id"] == lid), WRITE_REGION)
        rec["target"] = region
        rec["kind"] = "region-loss"
        rec["leader"] = lid
    members = [n for n in run.nodes if n["region"] == region]
    survivors = [n for n in run.nodes if n["region"] != region]
    run.active[f"region-loss {region}"] = now()
    t_kill = now()          # the region counts as lost from the moment the kill is issued
    rec["at"] = t_kill
    run.faults.append(rec)
    for n in members:
        run.down_nodes[n["id"]] = t_kill
    rc = faults.kill_region(region)
    rnd = random.Random(run.seed * 31 + len(run.faults))

    def probe():
        i = 0
        while not run.abort.is_set() and now() - t_kill < dur + 60 and ("first_201" not in rec or "first_revocation" not in rec):
            i += 1
            node = survivors[i % len(survivors)]
            if "first_201" not in rec:
                serial = provision_one(run, rnd, 10_000_000 * len(run.faults) + i, node=node)
                if serial:
                    rec["first_201"] = run.acked[serial]["t_ack"] - t_kill
            if "first_revocation" not in rec:
                if revoke_one(run, rnd, node=node) == 200:
                    rec["first_revocation"] = max(run.revoked.values()) - t_kill
            time.sleep(0.2)
    th = threading.Thread(target=probe, daemon=True)
    th.start()
    run.abort.wait(dur)
    t_start = now()
    rc2 = faults.start_region(region)
    rec["rejoin"] = now() - t_start
    target = max([readyz(n) for n in survivors] + [0])
    while now() - t_start < 120 and not run.abort.is_set():
        if all(readyz(n) >= target for n in members):
            rec["caught_up"] = now() - t_start
            break
        time.sleep(0.1)
    th.join(timeout=WRITE_TIMEOUT + 1)
    rec["end"] = now()
    for n in members:
        run.down_nodes.pop(n["id"], None)
    run.recovered[region] = now()
    fmt = lambda k: f"{rec[k]:.2f} s" if k in rec else "none"
    rec["note"] = (f"kill-region rc {rc}{' (leader ' + rec['leader'] + ')' if rec.get('leader') else ''}; first acknowledged provisioning {fmt('first_201')} and revocation "
                   f"{fmt('first_revocation')} after the loss; start-region rc {rc2}: ready {fmt('rejoin')}, "
                   f"caught up (applied_seq >= {target}) {fmt('caught_up')} after it")
    run.active.pop(f"region-loss {region}", None)


def faulter(run, plan):
    for at, kind, target, dur in plan:
        while now() < at and not run.stop.is_set():
            time.sleep(0.05)
        if run.stop.is_set():
            return
        rec = {"kind": kind, "target": target, "at": now(), "planned": dur, "end": None, "note": ""}
        if kind == "region-loss":
            region_loss(run, target, rec, dur)
            continue
        if kind.startswith("kill"):
            lid = leader_id(run.nodes)
            if kind == "kill-leader":
                target = lid or rnd_fallback(run)
                rec["target"] = target
            elif target == lid:
                rec["kind"] = "kill (was leader)"
            run.active[f"kill {target}"] = now()
            run.down_nodes[target] = now()
            rc = faults.kill_node(target)
            rec["at"] = now()
            if target == lid:
                run.leader_kills.append((rec["at"], target))
            run.faults.append(rec)
            run.abort.wait(dur)
            t_restart = now()
            rc2 = faults.start_node(target)
            rec["end"] = now()
            rec["note"] = f"kill rc {rc}; restart issued at {t_restart:.1f} s, ready after {rec['end']-t_restart:.1f} s (rc {rc2})"
            run.down_nodes.pop(target, None)
            run.recovered[target] = now()
            run.active.pop(f"kill {target}", None)
        elif kind == "partition":
            region = target
            run.active[f"partition {region}"] = now()
            t_cut = now()
            rec["at"] = t_cut
            run.partitioned[region] = t_cut
            run.faults.append(rec)
            try:
                run.part.cut_off(region)
                run.abort.wait(dur)
            finally:
                run.part.heal()
            t_heal = now()
            rec["end"] = t_heal
            rec["note"] = f"peer traffic of {region} dropped (iptables chain {run.part.chain})"
            run.part_windows.append((region, t_cut, t_heal))
            run.partitioned.pop(region, None)
            run.recovered[region] = now()
            run.active.pop(f"partition {region}", None)
            th = threading.Thread(target=catch_up, args=(run, region, rec, t_heal), daemon=True)
            th.start()
            run.catchups.append(th)
        else:
            region = target
            port = region_pg_port(run.state, region)
            run.active[f"pg-stop {region}"] = now()
            t_issue = now()
            run.pg_down[region] = t_issue
            rec["at"] = t_issue
            run.faults.append(rec)
            rc = faults.pg_stop(region)
            t_stopped = now()
            run.abort.wait(max(0.0, dur - (t_stopped - t_issue)))
            t_start = now()
            rc2 = faults.pg_start(region, port)
            rec["end"] = now()
            rec["note"] = f"pg_ctl stop rc {rc} (took {t_stopped-t_issue:.1f} s); pg_instance_start rc {rc2}"
            run.pg_windows.append((region, t_issue, t_start))
            run.pg_down.pop(region, None)
            run.recovered[region] = now()
            run.active.pop(f"pg-stop {region}", None)


def rnd_fallback(run):
    return "r1-n1"


# ----------------------------------------------------------------------------- progress, recovery, checks

def progress(run):
    last = 0
    while not run.stop.wait(1.0):
        if now() - last >= 10:
            last = now()
            with run.lock:
                acked = sum(1 for w in run.writes if w[3] == 201)
                refused = len(run.writes) - acked
                nval = len(run.validations)
                non200 = sum(1 for v in run.validations if v[6] != 200)
                nlb = len(run.lb_validations)
                lbfail = sum(1 for v in run.lb_validations if v[3] != 200)
            act = ", ".join(sorted(run.active)) or "none"
            print(f"[{now():6.1f} s] writes acked {acked} refused {refused}; revoked {len(run.revoked)}; "
                  f"validations {nval} (unanswered {non200}); via regional endpoints {nlb} (failed {lbfail}); "
                  f"faults now: {act}", flush=True)


def cluster_up(why):
    print(f"{why}: running cluster/up", flush=True)
    rc = subprocess.call([script("up")], cwd=ROOT)
    if rc != 0:
        raise Fail(f"chaos needs a running cluster, and cluster/up failed (exit {rc}, output above)")


def ensure_cluster():
    if not os.path.exists(STATE_PATH):
        cluster_up("no .cluster/state.json")
    state = load_state()
    if not state.get("regional_endpoints"):
        cluster_up("no regional endpoints in .cluster/state.json")
        state = load_state()
    ready = [n for n in state["nodes"] if readyz(n) >= 0]
    if not ready:
        cluster_up("no node ready")
        state = load_state()
    for n in state["nodes"]:
        if readyz(n) < 0:
            print(f"{n['id']} not ready: cluster/start {n['id']}", flush=True)
            subprocess.call([script("start"), n["id"]], cwd=ROOT)
    return load_state()


def restore_all(run):
    for region in run.regions:
        if formation_on() and all(readyz(n) < 0 for n in run.nodes if n["region"] == region):
            print(f"  {region} down: cluster/start-region {region}", flush=True)
            faults.start_region(region)
    for region in run.regions:
        if not has_own_db(region):
            continue
        port = region_pg_port(run.state, region)
        if not faults.pg_running(region):
            print(f"  {region} PostgreSQL not running: starting it", flush=True)
            faults.pg_start(region, port)
    for n in run.nodes:
        if readyz(n) < 0:
            print(f"  {n['id']} not ready: cluster/start {n['id']}", flush=True)
            faults.start_node(n["id"])


def ignore_signals():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def on_sigterm(signum, frame):
    raise KeyboardInterrupt()


def main():
    ap = argparse.ArgumentParser(description="chaos test of the running local cluster")
    ap.add_argument("--duration", type=float, default=120, help="seconds of load and faults (default 120)")
    ap.add_argument("--seed", type=int, default=None, help="fault schedule and load seed (default: random, printed)")
    ap.add_argument("--partition", action="store_true",
                    help="also cut a follower region's peer traffic off for 15-20 s (iptables; needs root)")
    ap.add_argument("--region-loss", action="store_true",
                    help="instead of the random faults: lose the write region (cluster/kill-region region-1) at 12 %% of the "
                         "run for 30 %% of it, then the monitor's region at 58 %% for 22 %%; needs the formation and --duration >= 100")
    ap.add_argument("--no-faults", action="store_true",
                    help="load and measurements only, no fault (e.g. revocation propagation on a quiet cluster)")
    a = ap.parse_args()
    if a.no_faults and a.partition:
        ap.error("--no-faults and --partition exclude each other")
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    chain = faults.chain_name(port_offset())
    pg_ctl()                     # the PostgreSQL binaries (SMA_PG_BIN) must be there before anything starts
    signal.signal(signal.SIGTERM, on_sigterm)
    if a.partition:
        faults.ensure_iptables()
    state = ensure_cluster()
    require_pg_owner(state)
    plan = ([] if a.no_faults else region_loss_plan(state, a.duration) if a.region_loss
            else fault_plan(state, seed, a.duration, a.partition))
    run = Run(state, seed, a.duration)
    run.log_path = os.path.join(run.tmp, "chaos.log")
    faults.open_log(run.log_path)
    part = run.part = None
    if a.partition:
        part = run.part = faults.Partitioner(state, chain)
        part.check()
    print(f"chaos: seed {seed}, duration {a.duration:.0f} s, nodes {', '.join(n['id'] for n in run.nodes)}; "
          f"tool output in {run.log_path}", flush=True)
    for at, kind, target, dur in plan:
        print(f"  planned fault at {at:5.1f} s: {kind} {target or '(current leader)'} for {dur:.1f} s", flush=True)

    interrupted = False
    t_begin = now()
    ft = None
    try:
        if part:
            part.setup()
        # Seed the pools before the clock starts: a few devices, their tokens, unknown tokens.
        rnd = random.Random(seed * 13)
        for i in range(8):
            provision_one(run, rnd, -i - 1, node=run.node(leader_id(run.nodes) or "r1-n1"))
        if not run.valid_pool:
            raise Fail("could not provision any device before starting; is the cluster healthy? (cluster/status)")
        with run.lock:
            run.writes.clear()   # the warm-up writes are not part of the run's numbers (devices are kept)

        clock.restart()
        for d in run.acked.values():
            d["t_ack"] = -1.0    # warm-up devices: acknowledged before the run's clock started
        t_begin = now()
        threads = [threading.Thread(target=provisioner, args=(run,), daemon=True),
                   threading.Thread(target=progress, args=(run,), daemon=True)]
        for i, r in enumerate(run.regions):
            threads.append(threading.Thread(target=aggregator, args=(run, r, i), daemon=True))
            if r in run.endpoints:
                threads.append(threading.Thread(target=lb_aggregator, args=(run, r, i), daemon=True))
        for n in run.nodes:
            threads.append(threading.Thread(target=seq_poller, args=(run, n), daemon=True))
        ft = threading.Thread(target=faulter, args=(run, [(t_begin + at, k, tg, d) for at, k, tg, d in plan]), daemon=True)
        for t in threads: t.start()
        ft.start()
        end_at = t_begin + a.duration
        while now() < end_at:
            time.sleep(0.2)
        run.stop.set()
        print(f"[{now():6.1f} s] duration over: stopping load; waiting for the current fault to be undone", flush=True)
        for t in threads: t.join(timeout=15)
        ft.join(timeout=120)
        for t in run.catchups: t.join(timeout=65)
        for t in run.prop_threads: t.join(timeout=PROP_CAP + 2)
    except KeyboardInterrupt:
        interrupted = True
        ignore_signals()
        print(f"\n[{now():6.1f} s] interrupted: ending the current fault, then restoring the cluster", flush=True)
        run.abort.set()
        run.stop.set()
        if ft is not None:
            ft.join(timeout=120)
    finally:
        if part:
            ignore_signals()
            part.teardown()

    conv = {}
    try:
        print("recovery: every PostgreSQL and node started again", flush=True)
        restore_all(run)
        if not interrupted:
            conv["last_fault_end"] = max([f["end"] or now() for f in run.faults] or [now()])
            max_acked = max([d["seq"] or 0 for d in run.acked.values()] + [0])
            conv["t_recovered"] = now()
            conv["t_conv"], conv["seqs"] = wait_convergence(run, max_acked)
            conv["final"] = final_validation(run)
    except KeyboardInterrupt:
        interrupted = True
        ignore_signals()
        print(f"\n[{now():6.1f} s] interrupted during recovery/checks: restoring the cluster", flush=True)
        restore_all(run)
    rc = report(run, a, t_begin, interrupted, conv)
    # Only the tool log stays behind; the provisioning files hold the test devices' keys.
    shutil.rmtree(run.devices_dir, ignore_errors=True)
    sys.exit(rc)


def launch():
    """Entry point of cluster/chaos: a missing precondition is one line on stderr and exit 1."""
    run_main("chaos", main)


if __name__ == "__main__":
    launch()
