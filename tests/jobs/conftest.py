"""The Jobs' tests run the rendered containers under bubblewrap: `make jobs` (part of `make test`)."""
