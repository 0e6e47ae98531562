"""AMS–LMS Integration Sandbox."""

__version__ = "0.1.0"
