"""User-facing input errors. main.py turns these (and only these) into one clear line and a non-zero exit;
any other exception is a bug and keeps its traceback."""


class InputError(ValueError):
  """A bad config value, input shape or mode; the message names the field and the value."""
