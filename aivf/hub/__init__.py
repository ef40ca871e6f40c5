"""Publishing trained runs: ``aivf push <run> --repo-id ORG/NAME`` (see aivf.hub.push)."""
