"""Public test doubles and harnesses, so users' own tests can drive the real executor.

Layer: testing (never imported by product code). ``clock.ManualClock`` moves only when told;
``cluster.ScriptedCluster`` is an in-memory cluster and metrics source; ``harness.Harness``
runs the real executor (and a poll loop) over them or any other cluster, with an audit log in
a directory of the caller's; ``sandbox`` has the sandbox's fixture shapes, a scaled-down
closed-loop scenario and ``SimCpu``; ``prometheus`` has a harness for a real Prometheus and a
fake cAdvisor for it to scrape; ``waits`` has bounded waits (a condition, another process
holding the audit log). Nothing is imported here, so that importing the clock stays
cheap.
"""
