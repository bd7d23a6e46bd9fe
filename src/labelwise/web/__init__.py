"""The web app for annotators, reviewers and admins (``labelwise serve DIR``)."""

from labelwise.web._app import create_app

__all__ = ["create_app"]
