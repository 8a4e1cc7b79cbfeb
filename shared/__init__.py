"""Generic pieces every pgstack service uses; never imports a service."""
