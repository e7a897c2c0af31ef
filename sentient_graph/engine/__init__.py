"""The engine: start, watch, resume, recover, cancel, list, inspect and fork runs."""
