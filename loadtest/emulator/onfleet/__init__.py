"""The emulated Onfleet v2 API: records, validation, state, async jobs and routes."""
