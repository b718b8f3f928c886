"""``make demo``: the sandbox, a real Prometheus and claudescale in autonomous mode, with load
phases, a live terminal view and a summary computed from the audit log.

Layer: edge (a command). ``plan`` fixes the story and its scaled timings, ``runner`` starts
and stops every part, ``view`` draws the terminal, ``summary`` reads the audit log, and
``load`` drives the load phases of a demo already running (``make demo-load``).
"""
