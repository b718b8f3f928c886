"""Human control's local state: approvals, overrides, snapshots, and the locked state files
they live in.
"""
