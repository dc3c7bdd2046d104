"""The local viewer (`synth view`) and human review (`synth review`): see synth/view/app.py."""
