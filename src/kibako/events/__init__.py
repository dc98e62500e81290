"""The event bus. For now: the outbox every state change writes to, in the same transaction as the change."""
