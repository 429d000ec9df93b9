"""Clawdstrike interoperability: its PolicyEvents as CODOR actions, its policies as CODOR ones.

* :func:`event_to_action` maps one Clawdstrike ``PolicyEvent`` (v1 JSON) to a CODOR
  :class:`~codor.model.Action` (``codor check --format clawdstrike``); see
  :mod:`codor.integrations.clawdstrike_events` for the field mapping.
* :func:`import_policy` / :func:`import_policy_file` translate a Clawdstrike policy YAML into
  CODOR policy YAML text (``codor policy import clawdstrike FILE``); see
  :mod:`codor.integrations.clawdstrike_policy` for what maps to what and
  :mod:`codor.integrations.clawdstrike_load` for ``extends``, merging and defaults.
"""

from __future__ import annotations

from codor.integrations.clawdstrike_events import event_to_action, is_mcp_call
from codor.integrations.clawdstrike_policy import import_policy, import_policy_file

__all__ = ["event_to_action", "import_policy", "import_policy_file", "is_mcp_call"]
