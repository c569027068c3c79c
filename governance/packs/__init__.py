"""Signed PDF evidence packs: scope and permissions (scope.py), content (content.py), rendering
(render.py), signing (signing.py), verification (verify.py), the build service (services.py)."""
