"""Local fakes of outside services for tests (each speaks the real wire format)."""
