"""Config copies with dotted-path overrides, for tests: configs.override."""
from configs import override  # noqa: F401
