"""fleetsim's domain: scenarios, geography, tasks, workers, dispatch, demand, submission,
the event log, KPIs, reports and sweeps.  Knows no HTTP and never imports ``loadtest``."""

__version__ = "0.1.0"
