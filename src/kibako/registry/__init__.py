"""The model registry: model package groups, numbered versions, approval with an audit trail, aliases, model
cards, searchable metrics, and importing models made elsewhere."""
