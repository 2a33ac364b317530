"""Built-in business modules. Each is a plugin exactly like a vendor's (see docs/plugins.md)."""
