"""The HyperTrack emulator: orders with a lifecycle, tracked by their drivers."""
