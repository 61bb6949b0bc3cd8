"""HTTP layer: manifest (viewer) app, admin API, auth, problem+json, OpenAPI."""
