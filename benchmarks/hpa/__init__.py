"""Control quality side by side with the Kubernetes HPA: a trace-driven simulator on a virtual
clock, the HPA reference, the measures and the report (``python -m benchmarks.hpa``).
"""
