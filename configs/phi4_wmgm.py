"""WMGM on the same data and coarse score model as configs/phi4_wsgm.py (periodic convolutions): the coarsest
low-pass by diffusion, the detail bands by one shared adversarial generator (see configs/faces_wmgm.py). The
generator keeps zero padding (wmgm.generator.padding): periodic padding for it has not been measured
(--config.wmgm.generator.padding=CIRCULAR)."""
from configs import faces_wmgm, phi4_wsgm


def get_config():
  return faces_wmgm.from_wsgm(phi4_wsgm.get_config(), "phi4_wmgm")
