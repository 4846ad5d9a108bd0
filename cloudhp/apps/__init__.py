"""The user's application: compose files and service definitions, as one model."""
