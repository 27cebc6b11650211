"""The local stand-ins for the Azure services the factory uses, run as processes by ``localstack.stack``
(``model-factory up``): the edge simulator (IoT Edge device), the dev and prod registries with their push-event
bridge (ACR + Event Grid), the BlobCreated watcher (Blob Storage + Event Grid). Not deployed; the factory's
local adapters (``factory/adapters/local/``) are their clients.
"""
