"""Projects (项目管理): opportunities of customers, assignment and claims, members,
process templates with stages, progress timeline, competitors."""

MANIFEST = {
    "name": "projects",
    "version": "0.1.0",
    "depends": ["customers"],
    "label": "Projects",
    "description": "Projects of customers: assignment, claims, members, stages and progress.",
}
