"""Google Cloud adapter (in progress: the pure layout lands before the Pulumi emitter). Pure data only."""
