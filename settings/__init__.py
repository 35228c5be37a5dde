"""The typed settings a service gives, shared by config, runtimes, loads and sizing.

The floor under everything that reads a service: the strict model base (settings/base.py), the bounds
of numeric settings (settings/limits.py), problems in the `path: what — fix` form (settings/problems.py),
the service base model every runtime extends (settings/service_base.py), the names other systems check
(settings/names.py), the credential detector (settings/secrets.py) and the model mirror's layout
(settings/mirror.py). It imports only the floors below it (catalog, naming, sizing); config composes
these into an environment, runtimes and loads read them (docs/architecture.md).
"""
