"""The locustfiles of the load profiles; ``sandbox loadtest`` runs them with ``locust -f``."""
