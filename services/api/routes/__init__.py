"""One router per resource; `services.api.app` mounts them all."""
