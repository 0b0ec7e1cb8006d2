"""Reading clip stores and manifests into model inputs."""
