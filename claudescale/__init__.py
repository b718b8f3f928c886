"""claudescale: an autoscaler in which a language model proposes and guarded code disposes."""

__version__ = "0.1.0"
