"""Configs as code (ml_collections): configs/default.py and one file per (data, method); `override` and
`parse_settings` give benchmarks the same dotted-path overrides that main.py's --config.a.b=v flags give."""
import ast
import copy


def override(config, **overrides):
  """A copy of `config` with {"a.b.c": value} fields replaced; the original is untouched. The copy keeps the
  config's lazy references (phi^4's J follows data.image_size); ml_collections refuses a value of another type,
  naming the field; an unknown field is a KeyError naming it."""
  c = copy.deepcopy(config)
  for path, value in overrides.items():
    node = c
    *parents, leaf = path.split(".")
    for p in parents:
      node = node[p] if p in node else None
      if node is None:
        break
    if node is None or leaf not in node:
      raise KeyError(f"no config field {path!r} in config {config.get('name', '')!r}")
    node[leaf] = value
  return c


def parse_settings(settings) -> dict:
  """["a.b=v", ...] -> {"a.b": v}: v read as a Python literal (1e-3, (1, 2), True), else as the string itself."""
  out = {}
  for item in settings:
    path, sep, text = item.partition("=")
    if not sep or not path:
      raise ValueError(f"setting {item!r}: need FIELD=VALUE, e.g. model.padding=SAME")
    try:
      out[path] = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      out[path] = text
  return out


def define_set_flag():
  """The benchmarks' repeatable --set=FIELD=VALUE flag (read with parse_settings), defined in one place."""
  from absl import flags
  return flags.DEFINE_multi_string("set", [], "A config override FIELD=VALUE for every model (repeatable; VALUE a "
                                   "Python literal or a string), e.g. --set=model.padding=SAME")
