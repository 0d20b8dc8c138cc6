"""End-to-end benchmark of sso-bridge against same-run baselines: ``python -m bench``."""
