"""fleetsim's wire: provider request/response shapes, the trace, the Locust suite and the
platform emulator."""
