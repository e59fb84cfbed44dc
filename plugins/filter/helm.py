# Copyright: (c) 2026, mcp_gateway platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that read what kubernetes.core.helm_info returned about a release."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def helm_release_current(release, chart_version, values, values_files=None):
    """Whether an upgrade to ``chart_version`` with ``values`` would change nothing: the release (a
    kubernetes.core.helm_info result) is deployed from that chart version with exactly those user values, and no
    values files are given. The check kubernetes.core.helm makes itself (its default_check) after its own helm
    list, get values and show chart; False whenever anything differs or is unknown."""
    status = (release or {}).get("status") or {}
    return (not values_files
            and status.get("status") == "deployed"
            and str(status.get("chart", "")).endswith("-" + str(chart_version))
            and (status.get("release_values") or {}) == (values or {}))


class FilterModule(object):
    def filters(self):
        return {"helm_release_current": helm_release_current}
