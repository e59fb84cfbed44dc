"""Make the collection importable as ansible_collections.mcp_gateway.platform in unit tests.

`make setup` links the checkout as .collections/ansible_collections/mcp_gateway/platform; the
kubernetes.core collection comes from site-packages (both are namespace packages, so they merge).
"""

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
COLLECTIONS = os.path.join(ROOT, ".collections")
TESTS = os.path.join(ROOT, "tests")

for path in (COLLECTIONS, TESTS):
    if path not in sys.path:
        sys.path.insert(0, path)
