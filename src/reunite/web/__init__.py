"""The web pages (HTTP only): templates, static assets, page routes calling the services."""
