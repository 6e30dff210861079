"""The simulated tenant's fixed identity, the defaults of ``python -m simtenant``.

The portal does not import this: its settings repeat the values as plain configuration, as they
would a real tenant's (tests/simtenant/test_defaults.py keeps the two equal)."""

SIM_TENANT_ID = "4f1c2d7e-9a3b-4c5d-8e6f-7a8b9c0d1e2f"
SIM_CLIENT_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
SIM_CLIENT_SECRET = "simulated-tenant-client-secret-not-for-production"  # noqa: S105
SIM_EXCLUSION_GROUP_ID = "b8d3a1f0-5c2e-4d9a-9f7b-3e6c1a2d4b5c"
SIM_DOMAIN = "contoso.example"
