"""The ``claudescale`` command line. Layer: edge; reads files and the environment."""
