"""The Kubernetes adapter: kubernetes-asyncio behind ``claudescale.ports.Cluster``; errors
mapped once into ``claudescale.errors``.
"""
