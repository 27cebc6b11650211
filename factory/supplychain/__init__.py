"""The signed chain from data to device: image signatures and in-toto attestations stored beside each image
(``cosign``), what they state (``statements``), and the checks made before promotion and by
``model-factory verify`` (``chain``). Registries are reached through ``oci``; keys through ``ports.Signer``."""
