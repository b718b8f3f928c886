"""Public test doubles: the in-memory cluster, the manual clock and a harness that assembles an
executor, so users' own tests can drive the real executor.
"""
