"""The pages of projects."""

ROUTES: list = []
