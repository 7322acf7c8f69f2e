"""Operational tooling of the local SMA cluster, shared by the Python scripts in cluster/.

  cluster.py  where the local cluster lives (.cluster/, state.json, PostgreSQL root and binaries),
              its size, and the one-line precondition errors (Fail)
  client.py   HTTP helpers: call(), JSON, /readyz applied seq, the leader (loopback URLs only)
  clock.py    the run clock (seconds since the run started)
  faults.py   fault injection: node SIGKILL/restart, PostgreSQL stop/start, iptables partitions
  checks.py   convergence, the final validation and the violation/availability checks + table
  chaos.py    the chaos run (load, fault schedule, recovery); cluster/chaos launches it
Standard library only.
"""
