"""The config plane: SQL store (source of truth), cache (L1 + KV), invalidation."""
