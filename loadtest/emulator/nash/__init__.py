"""The Nash emulator: batch jobs, tracked and cancelled."""
