"""``python -m sentient_graph ARGS`` is the ``sentient-graph`` command."""

from sentient_graph.cli import main

if __name__ == "__main__":
    main()
