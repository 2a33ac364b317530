"""erpkit: a plugin-based, modular sales-management ERP.

Plugins write ``from erpkit import hookimpl`` and return the registration types
re-exported here.
"""

from pluggy import HookimplMarker

from erpkit.core.registry import MenuItem, Option, OptionList, Permission

__version__ = "0.1.0"

hookimpl = HookimplMarker("erpkit")

__all__ = ["MenuItem", "Option", "OptionList", "Permission", "__version__", "hookimpl"]
