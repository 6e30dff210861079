"""A simulated Microsoft Entra tenant: Graph v1.0 (the subset the portal uses) over HTTP and the
token endpoint msal calls over HTTPS, with the real JSON shapes and errors, its own small state,
and a control API (``/_sim/...``) for tests and demos (fault injection, state inspection).

Run it as its own process: ``python -m simtenant --graph-port P --login-port P2
--data-dir DIR --seed demo``. It stands in for Microsoft, so it imports nothing from Django or
the portal, and the portal imports nothing from it: they meet over HTTP and through the
configuration values in ``defaults`` (tests/simtenant/test_isolation.py checks both ways).

Modules, one per face of the tenant (a new face, such as a directory audit log or a sign-in
provider, is one more module routed by ``server``):

- ``state``: the directory and the simulator's own bookkeeping (faults, tokens, requests);
  ``seed``: the demo directory; ``defaults``: the fixed identity.
- ``graph``: the Graph v1.0 routes; ``shapes``: their JSON answers and errors.
- ``audit_log``: the directory audit log (an entry for every change served, and for what a
  person does in the admin center), listed at ``/auditLogs/directoryAudits``.
- ``login``: the authority (OpenID configuration, token endpoint); ``certs``: its TLS key.
- ``control``: the ``/_sim/`` API; ``server``: the HTTP plumbing; ``__main__``: the process.
"""
