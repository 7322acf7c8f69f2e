"""HTTP helpers shared by cluster/chaos, cluster/attack and cluster/bench/replication (standard library only).

Every URL comes from .cluster/state.json: the local cluster's loopback listeners. A cluster started with
cluster/up --tls serves https:// URLs; the state file then names the local public CA (public_ca_file), which every
https request here trusts (and nothing else).
"""
import json
import os
import random
import ssl
import urllib.error
import urllib.request

DEFAULT_TIMEOUT = 5.0
STATE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".cluster", "state.json")
_contexts = {}


def public_context(client_cert=False):
    """The TLS context for the cluster's public https URLs: trusts only the CA named by the state file.

    client_cert=True also presents the state's aggregator client certificate (validator access without a key).
    None when the state names no public CA (a plain-HTTP cluster).
    """
    if client_cert not in _contexts:
        try:
            with open(STATE_PATH) as f:
                state = json.load(f)
        except Exception:
            state = {}
        ca = state.get("public_ca_file")
        ctx = None
        if ca:
            ctx = ssl.create_default_context(cafile=ca)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if client_cert:
                ctx.load_cert_chain(state["client_cert_file"], state["client_key_file"])
        _contexts[client_cert] = ctx
    return _contexts[client_cert]


def urlopen(req, timeout=DEFAULT_TIMEOUT, client_cert=False):
    """urllib's urlopen, trusting the cluster's public CA for https URLs."""
    url = req.full_url if isinstance(req, urllib.request.Request) else req
    ctx = public_context(client_cert) if url.startswith("https:") else None
    return urllib.request.urlopen(req, timeout=timeout, context=ctx)


def call(method, url, key=None, body=None, timeout=DEFAULT_TIMEOUT, client_cert=False):
    """One request with a JSON body (if any) and a bearer key (if any); over https, client_cert=True presents the
    aggregator client certificate.

    Returns (status, headers, body bytes); status 0 (and empty headers and body) when nothing
    answered in time or the connection failed. Never raises for HTTP or network errors.
    """
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urlopen(req, timeout=timeout, client_cert=client_cert) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
    except Exception:
        return 0, {}, b""


def json_field(body, *path):
    """The value at PATH of a JSON BODY (bytes), or None when it is not JSON or lacks the path."""
    try:
        v = json.loads(body)
        for p in path:
            v = v[p]
        return v
    except Exception:
        return None


def applied_seq(node, timeout=1.5):
    """The log seq NODE has applied, from its /readyz; -1 when it is not ready or does not answer."""
    s, _, b = call("GET", node["public_url"] + "/readyz", timeout=timeout)
    if s != 200:
        return -1
    try:
        return int(json.loads(b)["applied_seq"])
    except Exception:
        return -1


def leader_id(nodes, timeout=1.5, shuffle=True):
    """The leader's node id as the first node that answers GET /v1/cluster reports it (None: unknown).

    Nodes are asked in random order (shuffle=True) or in the given order.
    """
    order = random.sample(nodes, len(nodes)) if shuffle else list(nodes)
    for n in order:
        s, _, b = call("GET", n["public_url"] + "/v1/cluster", timeout=timeout)
        if s == 200:
            lid = json_field(b, "leader", "id")
            if lid:
                return lid
    return None
