"""The composition root: the ``fleetsim`` command line and the benchmark runner.

``sim`` and ``loadtest`` are the libraries; this package only parses arguments, calls one
library function per command and turns errors into exit codes.
"""
