"""fleetsim's domain: scenarios, geography, tasks, workers, dispatch, demand, submission,
the event log, KPIs, reports and sweeps.  Knows no HTTP and never imports ``loadtest``."""

from importlib.metadata import PackageNotFoundError, version

# pyproject.toml is the one place the version is written; an installed (or editable)
# distribution reports it.  A bare source tree that was never installed says so.
try:
    __version__ = version("fleetsim")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled checkout
    __version__ = "0+uninstalled"
