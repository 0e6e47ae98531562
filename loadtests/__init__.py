"""Load tests for the sandbox, on locust: profiles (``profiles/``), their locustfiles (``locustfiles/``),
the run plan handed to locust, the reconciliation of what was sent against what the sandbox stored, the
reports, and the ``sandbox loadtest`` command (``cli``)."""
