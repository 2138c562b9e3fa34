"""LCM with the authors' released denoisers (Kadkhodaie, Guth, Mallat, Simoncelli, ICLR 2023): grayscale
CelebA 160x160, Haar, J = 2 (40x40 low-pass), conditional models of RF 5, 9, 13, 23 or 43.

The weights are the paper's: their repository LabForComputationalVision/local-probability-models-of-images
(MIT), folder `denoisers/`. Point lcm.weights_dir at `denoisers/multi_scale/celebA_160x160_gray` of a copy
(or `denoisers/flat/celebA_160x160_gray` with --config.pyramid.levels=0 for the flat pixel denoisers):

python main.py --config=configs/lcm_celeba160_pretrained.py --workdir=runs/lcm160 --mode=sample \
  --config.lcm.weights_dir=PATH/denoisers/multi_scale/celebA_160x160_gray
python main.py --config=configs/lcm_celeba160_pretrained.py --workdir=runs/lcm160 --mode=eval \
  --config.lcm.weights_dir=... --config.eval.images=IMAGES.npz   # gray images in [0, 1], sides divisible by 4

Every setting below is theirs unless it says otherwise; sources are their code/network.py, model_loader_func.py,
dataloader_func.py, algorithm_inv_prob.py (one_scale_synthesis, multi_scale_synthesis) and notebooks/demo.ipynb.
"""
from configs import default


def get_config():
  c = default.get_config()
  c.name = "lcm_celeba160_pretrained"
  c.experiment = "lcm"
  # Their data: CelebA crops im[29:-29, 9:-9] (160x160), RGB averaged to gray, in [0, 1]. Only the image size
  # and channel count matter here (nothing is trained); eval.images supplies test images.
  c.data.name = "celeb_a"
  c.data.image_size = 160
  c.data.crop = 160
  c.data.grayscale = True
  c.eval.data_range = 1.0            # images in [0, 1]: PSNR peak 1, noise sigma/255
  c.pyramid.wavelet = "haar"         # pywt.dwt2 Haar; on even sizes equal to our periodized orthonormal Haar
  c.pyramid.levels = 2
  c.lcm.weights_dir = ""             # must be set: no default location (see the docstring)
  c.lcm.width = 64                   # num_kernels
  c.lcm.depth = 21                   # BF_CNN_RF num_layers
  c.lcm.receptive_field = 13         # released: 5, 9, 13, 23, 43 (flat and J = 2 conditionals)
  c.lcm.layout = "authors"           # their 1x1 / 3x3 placement rule (RF 9 built with RF = 8)
  c.lcm.first_linear = True          # "first layer linear" in both BF_CNN_RF and BF_CNN
  c.lcm.coarse_depth = 20            # the 40x40 low-pass model: BF_CNN, 20 layers all 3x3 (RF 41)
  c.lcm.coarse_receptive_field = 41
  c.lcm.noise_units = "scale"        # trained on sigma in [0, 255]/255 in each scale's coefficient units
  c.lcm.sigma_max = 1.0              # = their sig_0: every ascent starts from N(0, 1)
  c.lcm.coarse_sigma_max = 1.0
  # one_scale_synthesis: y <- y - h f(y) + gamma z, stop when 20 log10(std(y) / sigma) >= 20 log10(1 / sig_L).
  c.ascent.h0 = 0.01
  c.ascent.sigma_final = 0.01        # sig_L
  c.ascent.stop = "relative"         # their SNR stopping rule
  c.ascent.beta_coarse = 0.1         # demo notebook's low-pass cells: beta 0.1 with fixed_h = True
  c.ascent.fixed_step_coarse = True
  c.ascent.beta_details = 0.5        # demo: 0.1..1 for the conditionals, adaptive h; 0.5 is our pick in that range
  c.ascent.fixed_step_details = False
  c.ascent.rescale_lowpass = 0.8     # multi_scale_synthesis: rescale_image_range(low, .8) before the details
  c.ascent.max_iters = 30000         # a fixed h0 = 0.01 needs ~ln(1/sig_L)/(beta h0) ~ 5,000-15,000 steps
  # Not theirs (their loop has no cap): conditional chains converge in 60-162 calls in their notebook; one that
  # has not after 1000 ends flagged with the diverged ones (counted, excluded), not after hours on a CPU.
  c.ascent.max_iters_details = 1000
  c.sampling.num_samples = 4
  c.sampling.batch_size = 4
  c.eval.num_samples = 8
  c.eval.denoise_sigmas = (5, 10, 20, 40, 60, 100)
  c.eval.superres_draws = 2
  return c
