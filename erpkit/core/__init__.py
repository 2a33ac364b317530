"""The minimal platform: plugins, app, database, auth, web shell, CLI. Knows no business."""
