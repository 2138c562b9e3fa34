"""Config copies with dotted-path overrides, for tests."""


def override(config, **overrides):
  """A copy of `config` with {"a.b.c": value} fields replaced; the original is untouched."""
  c = config.copy_and_resolve_references()
  for path, value in overrides.items():
    node = c
    *parents, leaf = path.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return c
