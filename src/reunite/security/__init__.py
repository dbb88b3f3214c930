"""Users, passwords, sessions and tokens, TOTP, roles and permissions, jurisdiction scoping."""
