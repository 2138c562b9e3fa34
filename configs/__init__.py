"""Configs as code (ml_collections): configs/default.py and one file per (data, method); `override` and
`parse_settings` give benchmarks the same dotted-path overrides that main.py's --config.a.b=v flags give."""
import ast
import copy
import sys


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


def override_names(argv) -> list:
  """The config fields a command line sets, in order: --config.a.b=v -> a.b."""
  return [a[len("--config."):].split("=", 1)[0] for a in argv if a.startswith("--config.")]


def repeated_sequence(argv, config):
  """ml_collections appends a tuple or list field given twice (--config.a.b="(8,16)" --config.a.b="(16,)" gives
  (8, 16, 16)) where a scalar's last value wins: name the first such field, or None."""
  names = override_names(argv)
  for name in dict.fromkeys(n for n in names if names.count(n) > 1):
    value = config
    for part in name.split("."):
      value = value[part]
    if isinstance(value, (tuple, list)):
      return (f"--config.{name} is given {names.count(name)} times: a tuple field given again is appended to, not "
              f"replaced (here {tuple(value)}); give it once")
  return None


def refuse_repeated_sequence(argv, config):
  """main.py's and the benchmarks' (config_flags) check of their parsed --config: one error line and exit."""
  repeated = repeated_sequence(argv, config)
  if repeated:
    sys.exit(f"error: {repeated}")
