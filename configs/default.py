"""Defaults for every field; experiment files override only what differs."""
import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.name = "default"
  c.experiment = "wsgm"          # which system runs: see wsgm/experiments.py
  c.seed = 0

  c.pyramid = ml_collections.ConfigDict()
  c.pyramid.wavelet = "haar"
  c.pyramid.levels = 2           # J

  c.sde = ml_collections.ConfigDict()
  c.sde.T = 5.0

  c.sampling = ml_collections.ConfigDict()
  # Samplers (wsgm/solvers.py): euler_maruyama, ancestral, ode_euler, ode_heun, ddim (eta), dpm_solver_pp_2m,
  # dpm_solver_pp_2m_sde (its stochastic form), dpm_solver_pp_3m_sde (the same, three-step).
  c.sampling.sampler = "euler_maruyama"
  c.sampling.steps = 16                   # per scale (network evaluations: steps x (1 + corrector_steps),
                                          # x 2 for ode_heun, + 1 when t_min > 0)
  c.sampling.eta = 0.0                    # ddim: 0 deterministic (= DPM-Solver++ 1st order), 1 = ancestral
  c.sampling.corrector_steps = 0          # predictor-corrector: Langevin steps before each predictor step
  c.sampling.snr = 0.16                   # ... at this signal-to-noise ratio (score_sde's default)
  # Time grids (wsgm/sde.py): quadratic (t = T u^2, the training distribution train.time_grid = "quadratic"):
  # small steps near t = 0. A uniform grid ends with an EM step of size T/N whose injected noise (std
  # sqrt(2T/N)) the sampler never removes: visibly noisy samples. "rho" (EDM, linear in sigma^(1/rho)) and
  # "logsnr" (uniform in log sigma) run on models trained with "quadratic", whose times cover all of (0, T];
  # "logsnr" is also a training distribution (train.time_grid = "logsnr" on [train.t_min, T]).
  c.sampling.time_grid = "quadratic"
  c.sampling.rho = 7.0                    # the "rho" grid's exponent (EDM's 7)
  c.sampling.t_min = 0.0                  # > 0: the grid ends at t_min and a Tweedie step gives x_0
  c.sampling.t_max = 0.0                  # the grid starts here, from N(0, I): 0 = sde.T; shorter is allowed
  c.sampling.per_scale = ()               # "model=spec" entries (coarse, scale_j; wsgm/sampling.per_scale_specs):
                                          # that model's own sampler and grid, the same sampling.steps
  c.sampling.num_samples = 64
  c.sampling.batch_size = 64              # global; sharded over all devices
  c.sampling.lowpass = ""                 # .npz with array "lowpass" (N, h, w, C): super-resolve it
  c.sampling.progress = True              # a log line per finished scale of each batch, with ETA (off: the
                                          # sampler can come from JAX's persistent compilation cache)

  c.data = ml_collections.ConfigDict()
  c.data.name = "faces"          # see lib/data.py: faces, textures, digits, gaussian, celeb_a, celeb_a_hq
  c.data.image_size = 32
  c.data.seed = 0
  c.data.num_examples = 4096     # textures / gaussian: how many training examples to make
  c.data.texture = "all"         # textures: grass, gravel, brick or all
  c.data.data_dir = ""           # tfds data_dir ("" = tfds default)
  c.data.crop = 140              # celeb_a: center crop side before resizing
  c.data.hq_resolution = 128     # celeb_a_hq: which prepared resolution
  c.data.grayscale = False       # celeb_a / celeb_a_hq: convert to one gray channel
  c.data.workers = 0             # grain worker processes (0 = in the main process)
  c.data.stats_examples = 1024   # examples used to fit the per-scale normalization
  c.data.symmetries = ()         # training images mapped by random symmetries of the data's law (lib/data.SYMMETRIES)
  c.data.phi4 = ml_collections.ConfigDict()   # phi4: lattice field theory data made by MCMC (lib/phi4.py)
  c.data.phi4.beta = 0.68
  c.data.phi4.lam = 1.0
  c.data.phi4.chains = 256
  c.data.phi4.test_chains = 0    # chains of the held-out run (its own seed); 0: a quarter of data.phi4.chains
  c.data.phi4.samples_per_chain = 16
  c.data.phi4.burn_in = 4000
  c.data.phi4.pilot = 4000
  c.data.phi4.cache_dir = "runs/phi4_data"

  c.model = ml_collections.ConfigDict()
  c.model.base_channels = 32
  c.model.channel_mult = (1, 2)
  c.model.num_res_blocks = 1
  c.model.attn_resolutions = ()
  c.model.dropout = 0.0
  c.model.norm_groups = 8
  c.model.padding = "SAME"       # the 3x3 convolutions' edges: "SAME" (zeros) or "CIRCULAR" (periodic fields)
  c.model.dtype = "float32"      # compute dtype: "bfloat16" runs the UNet in bf16 on float32 parameters, optimizer
                                 # state and losses (not part of what a checkpoint is: bf16 can sample f32 runs)
  c.model.param_dtype = "float32"  # "bfloat16" stores parameters, gradients, Adam moments and EMA in bf16
                                   # (half their memory, bf16 rounding on every update); part of a checkpoint

  c.train = ml_collections.ConfigDict()
  c.train.scale = "all"          # "all", "coarse" or a scale j ("1".."J"): scales can train as separate jobs
  c.train.steps = 2000           # per model
  c.train.batch_size = 64        # global; sharded over all devices
  c.train.learning_rate = 2e-4
  c.train.warmup_steps = 100
  c.train.schedule = "constant"  # after warmup: "constant", or a "cosine" / "linear" decay to the fraction below
  c.train.final_lr_fraction = 0.0   # ... of train.learning_rate at the decay's end,
  c.train.decay_steps = 0        # ... this step (0: train.steps); set it to continue a run on the same schedule
  c.train.decay_start = 0        # the decay begins here (0: at the end of warmup; > 0: the peak is held till then)
  c.train.accumulate = 1         # micro-batches per step (gradient accumulation): a batch larger than memory
  c.train.weight_decay = 0.0
  c.train.grad_clip = 1.0
  c.train.ema_decay = 0.999
  c.train.time_grid = "quadratic"   # training times t = T u^2 (or "uniform": t = T u; "logsnr": uniform in log sigma)
  c.train.t_min = 0.0            # ... on [train.t_min, sde.T] ("logsnr" needs > 0; sampling.t_min may not be below it)
  c.train.log_every = 100
  c.train.checkpoint_every = 500
  c.train.max_to_keep = 3
  c.train.sample_every = 1000    # TensorBoard: a grid drawn by the model in training (0: never; WSGM models)
  c.train.sample_count = 8       # ... of this many images (at most train.batch_size)
  c.train.sample_steps = 16      # ... with this many reverse-SDE steps (sampling.sampler, sampling.time_grid)

  c.eval = ml_collections.ConfigDict()
  c.eval.num_samples = 256         # samples scored, against as many held-out images; as many more held-out
                                  # images give the noise floor (the same metrics between two real sets)
  c.eval.bootstrap = 100          # resamples for every metric's standard error (over samples)
  c.eval.swd_directions = 128
  c.eval.swd_draws = 4            # the Laplacian SWD is averaged over this many draws of patches and directions
  c.eval.swd_patches = 2048       # patches per level and draw
  # Steps to quality: the smallest N at which every one of these metrics (names as in the eval JSON's
  # "metrics") is within its noise floor + 2 standard errors; also reported per metric.
  c.eval.quality_metrics = ("log_spectrum_error", "pixel_histogram_w1")
  c.eval.steps_sweep = ()         # e.g. (4, 8, 16, 32): eval at each N steps per scale (wsgm/evaluation.py)
  c.eval.samplers = ()            # ... for each of these sampler specs (e.g. "ddim", "dpm_solver_pp_2m:t_min=0.002";
                                  # wsgm/solvers.apply_spec: the fields a spec does not name take the defaults
                                  # of this file, not the config's); empty: config.sampling as it is
  c.eval.likelihood = False       # eval = bits/dim per scale through the probability-flow ODE (wsgm/likelihood.py)
  c.eval.likelihood_images = 64   # held-out images scored
  c.eval.likelihood_steps = 128   # Heun steps, log-spaced in t from likelihood_t_min to sde.T
  c.eval.likelihood_probes = 1    # Hutchinson (Rademacher) probes per image
  c.eval.likelihood_t_min = 1e-5
  c.eval.denoise_sigmas = (5, 10, 20, 40, 60, 100)   # LCM: pixel noise std in 1/255 of the image range
  c.eval.superres_draws = 4      # LCM: super-resolution draws per image (PSNR of one draw and of their mean)
  c.eval.images = ""             # LCM: .npz with array "images" (N, H, W, C) to evaluate on instead of data.*
  c.eval.data_range = 2.0        # LCM: width of the images' value range (2 for our [-1, 1]; 1 for [0, 1])
  c.eval.synthesis = True        # LCM: also synthesize (the slow part at large sizes on a CPU)

  # LCM (wsgm/methods/lcm.py): bias-free CNN denoisers; conditional (and flat, J = 0) models have a local receptive
  # field RF = 1 + 2 x (#3x3 layers); the global model of the coarsest low-pass has its own depth and RF.
  c.lcm = ml_collections.ConfigDict()
  c.lcm.width = 64
  c.lcm.depth = 21
  c.lcm.receptive_field = 43
  c.lcm.coarse_depth = 20
  c.lcm.coarse_receptive_field = 41
  c.lcm.sigma_max = 1.0          # local models: pixel noise std sigma_max u^2, u ~ U[0, 1] (/2^j at scale j)
  c.lcm.coarse_sigma_max = 1.0   # global low-pass model: its own range (its ascent starts there)
  c.lcm.noise_units = "pixel"    # "scale": each local model's range in its own scale's units (the authors')
  c.lcm.layout = "even"          # local models' 3x3 placement: "even" or "authors" (their BF_CNN_RF rule)
  c.lcm.first_linear = False     # no ReLU after the first layer (the authors' networks)
  c.lcm.weights_dir = ""         # the authors' released denoisers instead of our checkpoints (wsgm/methods/lcm_pretrained.py)

  # Stochastic ascent sampler (Kadkhodaie & Simoncelli; wsgm/solvers.stochastic_ascent) for LCM.
  c.ascent = ml_collections.ConfigDict()
  c.ascent.h0 = 0.01
  c.ascent.beta_coarse = 0.01    # global low-pass model: keep much noise, explore (authors' demo)
  c.ascent.beta_details = 0.5    # conditionals are nearly unimodal: closer to deterministic ascent
  c.ascent.sigma_final = 0.01
  c.ascent.max_iters = 20000
  c.ascent.max_iters_details = 20000   # the conditional models' own cap
  c.ascent.stop = "absolute"        # sigma_t <= sigma_final, or "relative": sigma_t <= sigma_final x std(y)
  c.ascent.fixed_step_coarse = False   # h_t = h0 throughout (else h0 t / (1 + h0 (t - 1)))
  c.ascent.fixed_step_details = False
  c.ascent.rescale_lowpass = 0.0    # > 0: min-max rescale each synthesized x_J to [0, this] (authors: 0.8)
  c.ascent.log_every = 1000         # progress line every this many ascent iterations (0 = none)

  # WMGM (wsgm/methods/wmgm.py): the coarse low-pass by WSGM's score model (model.*, sde.*), the details by a
  # generator (a UNet fed noise, conditioned on the low-pass) trained with adversarial + MSE + SSIM losses.
  c.wmgm = ml_collections.ConfigDict()
  c.wmgm.shared_generator = True       # one generator for every scale (authors), or one per scale
  c.wmgm.generator = ml_collections.ConfigDict()
  c.wmgm.generator.base_channels = 32
  c.wmgm.generator.channel_mult = (1, 2)
  c.wmgm.generator.num_res_blocks = 1
  c.wmgm.generator.attn_resolutions = ()
  c.wmgm.generator.norm_groups = 8
  c.wmgm.generator.padding = "SAME"
  c.wmgm.discriminator = ml_collections.ConfigDict()
  c.wmgm.discriminator.width = 32
  c.wmgm.discriminator.depth = 2
  c.wmgm.adversarial_weight = 0.1      # authors' weights
  c.wmgm.mse_weight = 20.0
  c.wmgm.ssim_weight = 0.5
  c.wmgm.g_learning_rate = 1e-4        # authors: AdamW, lr_G 1e-4, lr_D 1e-5, D every 4 G steps
  c.wmgm.d_learning_rate = 1e-5
  c.wmgm.d_every = 4
  c.wmgm.beta1 = 0.5
  c.wmgm.weight_decay = 0.0

  c.distributed = False          # multi-host: call jax.distributed.initialize() first

  # Exact-score Gaussian-field experiment (wsgm/methods/gaussian_theorem.py).
  c.gaussian = ml_collections.ConfigDict()
  c.gaussian.sizes = (16, 32, 64, 128)
  c.gaussian.steps = (4, 8, 16, 32, 64, 128, 256, 512, 1024)
  c.gaussian.T_values = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
  c.gaussian.lowpass_size = 8        # WSGM decomposes until the low-pass is this size
  c.gaussian.spectral_threshold = 0.1  # on the max relative spectral error
  c.gaussian.kl_threshold = 1e-3
  c.gaussian.mc_size = 16            # Monte-Carlo cross-check of the closed form with the real samplers
  c.gaussian.mc_steps = 16
  c.gaussian.mc_samples = 4000
  # Exact sampler ranking (configs/gaussian_samplers.py): sampler specs (wsgm/solvers.parse_spec), each searched
  # over T_values x time_grids x t_min_values (t_min > 0: a final Tweedie step) at every N in ranking_steps.
  c.gaussian.samplers = ()
  # Likelihood check: the ODE bits/dim of this many fresh fields per L (0: off), exact trace, eval.likelihood_*
  # steps and t_min, prior at likelihood_T.
  c.gaussian.likelihood_fields = 0
  c.gaussian.likelihood_sizes = (16, 32, 64)
  c.gaussian.likelihood_T = 8.0
  c.gaussian.ranking_steps = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
  c.gaussian.time_grids = ("uniform", "quadratic", "rho", "logsnr")
  c.gaussian.t_min_values = (0.0, 1e-3, 1e-2)
  c.gaussian.rho = 7.0
  return c
