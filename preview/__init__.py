"""The offline preview: the real program under the Pulumi mock engine, with plan and manifests."""
