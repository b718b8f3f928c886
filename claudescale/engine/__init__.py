"""The engine: the poll loop, the proposers, the executor (the single mutator), the human-
control gate and the service that runs them.
"""
