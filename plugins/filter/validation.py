# Copyright: (c) 2026, mcp_gateway platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that check inputs before anything is changed, naming only what is wrong."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
from decimal import Decimal

from ansible_collections.mcp_gateway.platform.plugins.test.validation import QUANTITY, _text, dns_subdomain, k8s_quantity

BINARY = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal("1e3"),
           "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"), "E": Decimal("1e18")}
SECTIONS = ("requests", "limits", "claims")


def quantity_value(value):
    """The number a Kubernetes quantity stands for (``2Gi`` -> 2147483648, ``500m`` -> 0.5), as a Decimal."""
    found = QUANTITY.match(_text(value) or "")
    if not found:
        raise ValueError("not a Kubernetes quantity: %r" % (value,))
    sign, number, suffix = found.group(1), found.group(2), found.group(3) or ""
    number = Decimal(number if not number.endswith(".") else number + "0")
    if suffix in BINARY:
        number *= BINARY[suffix]
    elif suffix in DECIMAL:
        number *= DECIMAL[suffix]
    else:
        number *= Decimal(10) ** int(suffix[1:])
    return -number if sign == "-" else number


def _shown(value):
    return json.dumps(value, default=str)


def resources_problems(value, where="resources"):
    """One sentence per problem of a container ``resources`` mapping, each naming ``where`` and the field:
    an unknown section, a value that is not a non-negative quantity, a request above its limit."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return ["%s must be a mapping with requests and/or limits (got %s)" % (where, _shown(value))]
    problems = ["%s.%s is not a field of container resources (expected requests, limits)" % (where, key)
                for key in value if key not in SECTIONS]
    for section in ("requests", "limits"):
        entries = value.get(section)
        if entries is None:
            continue
        if not isinstance(entries, dict):
            problems.append("%s.%s must be a mapping of resource names to quantities (got %s)"
                            % (where, section, _shown(entries)))
            continue
        for name, amount in entries.items():
            if not k8s_quantity(amount, non_negative=True):
                problems.append("%s.%s.%s must be a non-negative Kubernetes quantity such as %s (got %s)"
                                % (where, section, name, "500m or 2" if name == "cpu" else "256Mi or 1Gi",
                                   _shown(amount)))
    requests, limits = value.get("requests"), value.get("limits")
    if isinstance(requests, dict) and isinstance(limits, dict):
        for name in requests:
            if name in limits and k8s_quantity(requests[name], True) and k8s_quantity(limits[name], True):
                if quantity_value(requests[name]) > quantity_value(limits[name]):
                    problems.append("%s.requests.%s must not exceed %s.limits.%s (got %s > %s)"
                                    % (where, name, where, name, _shown(requests[name]), _shown(limits[name])))
    return problems


LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _key_ok(key):
    """A label or annotation key: [<DNS subdomain prefix>/]<name of at most 63 characters>."""
    if not isinstance(key, str):
        return False
    prefix, _slash, name = key.rpartition("/")
    if prefix and not dns_subdomain(prefix):
        return False
    return len(name) <= 63 and bool(LABEL_NAME.match(name))


def metadata_problems(value, where="labels", kind="labels"):
    """One sentence per bad key (and, for ``kind='labels'``, per bad value) of a labels or annotations
    mapping, naming ``where`` and the key, as the API server's metadata validation would refuse them."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return ["%s must be a mapping of %s (got %s)" % (where, kind, _shown(value))]
    problems = []
    for key, item in value.items():
        if not _key_ok(key):
            problems.append("%s key %s must be [prefix/]name: a name of at most 63 letters, digits, '-', '_', '.' "
                            "starting and ending with a letter or digit, a prefix a DNS subdomain" % (where, _shown(key)))
        elif kind == "labels" and (not isinstance(item, (str, int)) or isinstance(item, bool)
                                   or len(str(item)) > 63 or not LABEL_VALUE.match(str(item))):
            problems.append("%s.%s must be a label value: at most 63 letters, digits, '-', '_', '.' starting and "
                            "ending with a letter or digit (got %s)" % (where, key, _shown(item)))
        elif kind != "labels" and not isinstance(item, str):
            problems.append("%s.%s must be a string (got %s)" % (where, key, _shown(item)))
    return problems


class FilterModule(object):
    def filters(self):
        return {"resources_problems": resources_problems, "quantity_value": quantity_value,
                "metadata_problems": metadata_problems}
