"""One module per ``sentient-graph`` command group."""
