"""Handling untrusted text: linear-time regular expressions, the shapes of
credentials (one list for the scanner and for redaction), and text from GitHub
or Codegen made safe to show inline in a comment."""
