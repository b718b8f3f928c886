"""``make demo``: the sandbox, a real Prometheus and claudescale in autonomous mode, with load
phases, a live terminal view, a summary computed from the audit log and a picture drawn from
the dashboard's own queries; and the same story for a real cluster.

Layer: edge (a command). ``plan`` fixes the story and its scaled timings, ``runner`` starts
and stops every part, ``view`` draws the terminal, ``summary`` reads the audit log, ``panels``
runs the dashboard's panel queries and ``report`` draws report.png from them, and ``load``
drives the load phases of a demo already running (``make demo-load``). ``app`` (the demo
workload, CPU per request) and ``traffic`` (its load, the story as a request rate) are what
manifests/demo runs in a real cluster.
"""
