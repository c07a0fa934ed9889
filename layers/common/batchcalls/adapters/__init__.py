"""The only code that touches AWS and the voice provider."""
