"""`make bench`: the preview's cost against the bare mock engine, for growing environments."""
