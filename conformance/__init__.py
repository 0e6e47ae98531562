"""Conformance suites: certify a connector someone else wrote, in honest and hostile conditions.

The harness (:mod:`conformance.harness`) reaches the sandbox only over HTTP, through
:class:`simulator.scenario.client.SandboxClient`; each suite (``conformance/saml_sp/``…) plays the
other side of one connector role. ``conformance/broken/`` holds deliberately broken connectors that
prove the suites: each fails exactly the checks it should.
"""
