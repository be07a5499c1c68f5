"""Coverage-guided fuzzing (atheris) of every parser of untrusted input; see docs/security-testing.md.

``python -m fuzz --minutes 30`` runs every harness in turn; each harness is also a script of its own.
"""
