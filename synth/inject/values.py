"""A written number's value, kept out of the modules synth.native compiles: mypyc cannot compile a
subclass of `Fraction` (a class of the standard library's Python code)."""

from fractions import Fraction


class Value(Fraction):
    """A written number's value: a Fraction that computes its hash once. Every number a step writes is
    one cached Value, hashed again by every set and dict of values the operators and checks build
    (Fraction's own hash takes a modular inverse each time: a tenth of the injection stage)."""

    __slots__ = ("_hash",)

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:
            self._hash = h = Fraction.__hash__(self)
            return h
