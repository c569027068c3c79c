"""De-identified copies of dataset versions (issue 9): ``core`` (no Django), ``keys``, ``services``, ``tasks``."""
