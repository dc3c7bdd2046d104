"""Great Expectations suites that gate every build. See validation/gx_suite.py."""

from validation.gx_suite import SuiteResult, validate_table

__all__ = ["SuiteResult", "validate_table"]
