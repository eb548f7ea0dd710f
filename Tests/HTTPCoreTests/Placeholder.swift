// Tests for HTTPCore live beside this file.
