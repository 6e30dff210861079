"""A simulated Microsoft Entra tenant: Graph v1.0 (the subset the portal uses) over HTTP and the
token endpoint msal calls over HTTPS, with the real JSON shapes and errors, its own small state,
and a control API (``/_sim/...``) for tests and demos (fault injection, state inspection).

Run it as its own process: ``python -m simtenant --graph-port P --login-port P2
--data-dir DIR --seed demo``. It imports nothing from Django.
"""
