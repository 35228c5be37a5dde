"""Developer and CI tools that sit beside the Pulumi program (run as `python -m tools.<name>`)."""
