"""Build context assembly shared by the local (podman) and Azure (ACR Tasks) image builders."""
