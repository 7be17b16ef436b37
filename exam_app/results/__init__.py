"""One result per candidate and unit, reading both the juries (E4, E5) and E6:
the results exports. Sits above ``juries`` and ``e6``, below ``documents``."""
