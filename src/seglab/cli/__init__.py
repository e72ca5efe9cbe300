"""The ``seglab`` command line (Typer). It does the I/O; the work is in core, formats, metrics and viz."""
