"""PDF reports, charts and pedigree drawings (shared by the web pages and the CLI)."""
