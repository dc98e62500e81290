"""One lineage graph: artifacts, executions and contexts joined by associations."""
