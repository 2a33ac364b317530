"""The approval engine (审批): flows per entity type, requests, decisions, record locks.

Modules mark an entity type ``approval=True`` and call
:func:`erpkit.core.approval.service.submit`; the admin configures the flow
(Administration → Approval flows, ``/api/v1/approval-flows``); approvers decide on
"My approvals" (``/approvals``, ``/api/v1/approvals``); modules act on the outcome in
``after_approval_decision``. See :mod:`erpkit.core.approval.service` for the rules and
docs/plugin-hooks.md for the hooks.
"""
