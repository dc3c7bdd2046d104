"""Errors a user can act on. Each names what failed and where, and says what to do next."""


class SynthError(Exception):
    """Base of every error synth reports to a user (the CLI prints these without a traceback)."""


class RecipeError(SynthError):
    pass


class SeedError(SynthError):
    pass


class ModelError(SynthError):
    pass


class ValidationFailed(SynthError):
    """A Great Expectations suite failed: the build is registered as failed and is not staged."""

    def __init__(self, message: str, summary: str):
        super().__init__(message + "\n" + summary)
        self.summary = summary


class GenerationError(SynthError):
    """Requests to a model failed for good (after retries). What finished is in the response cache,
    so running the same build again resumes from there."""


class RequestRefused(GenerationError):
    """The model's server refused a request (401, 404, a wrong model name, a bad setting): asking
    again cannot help, so orchestrators must not retry it (flows/build.py's retry condition)."""


class DeclarationError(SynthError):
    """A declaration that cannot work (a stage in synth/stages/, a table in schemas/): raised when it
    is imported, naming what is declared where and what is missing, before any recipe is read."""
