"""Users, departments, roles, permissions, sessions, API tokens, data scope."""
