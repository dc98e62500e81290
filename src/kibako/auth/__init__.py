"""Bearer tokens for the server: stored hashed, each with a role (viewer, editor, admin)."""
