"""The Deftship emulator: batch shipments, validated and shipped in the background."""
