// Tests for the Server target live beside this file.
