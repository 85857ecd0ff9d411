"""Static analysis of a pull request's changed files, from `GET .../pulls/{n}/files`.

Pure (no I/O) so that it is fast, deterministic and testable without GitHub.
Patches are anyone's text: every pattern is RE2 (linear time,
app/text/linear_re.py), and lines longer than `diff.MAX_LINE_CHARS` get only
the credential scan; what was not scanned is listed in `Analysis.not_scanned`.
The output feeds a check run (annotations) and a PR review (inline comments).
GitHub answers 422 to a review comment on a line that is not in the diff, so
every line-level finding sits on an ADDED line, numbered as in the NEW file;
findings that concern a whole file have `line=None`.

The modules, from the data up: `model` (files in, findings and facts out),
`rules` (the repository's knobs), `diff` (hunk parsing), `paths` and
`manifests` (what a file is), `redaction`, `messages`, `credentials` and
`line_rules` (what an added line is flagged for), and `scan` (`analyze`, the
one entry point)."""
