"""``claudescale replay``: what-if runs of the real executor on a scripted timeline."""
