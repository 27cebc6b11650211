"""IoT Edge smoke test: deployment manifest and smoke-module image."""
