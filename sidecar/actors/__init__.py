"""Channel actors: one live instance per ``{colo}:{org}:{channel}`` per process, one durable
truth per channel, instance lifecycle and churn monitoring (the seed's Durable Object)."""
