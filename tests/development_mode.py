"""Loaded by pytest before Django reads its settings (`-p tests.development_mode` in pyproject.toml).

DJANGO_DEBUG is off unless set, and production refuses to start without a CRM: the tests run the
app in development mode (the sandbox installed, keys made per checkout), as `make demo` does. The
processes the tests start (workers, servers) inherit it. Production settings are tested by starting
processes with DJANGO_DEBUG=false explicitly (tests/core/test_deploy.py).
"""

import os

os.environ["DJANGO_DEBUG"] = "true"
