r"""Inference engines behind the priors: OpenVINO or ONNX Runtime runs a prior's network on the CPU;
PyTorch stays the fallback and the only path for training and gradients.

A prior's network is exported once per weights file into the user cache folder (:func:`cache_dir`,
``$PNPLEAVES_CACHE_DIR``, else ``$XDG_CACHE_HOME/pnpleaves`` or ``~/.cache/pnpleaves``; never inside
the package), in a folder named by the weights' sha256, so a changed file is exported anew. The
exported graph has dynamic batch, height and width: one export serves every image size.

What is exported is the network's core only (DRUNet's U-Net on ``[x, sigma map]``, DnCNN's
convolution stack); the Python around it (noise map, padding to a multiple of 8) is the torch module's
own ``forward``, run on a shallow copy whose core calls the engine. So an engine prior takes the same inputs and follows the same code paths as the torch module,
and its outputs agree with the fp32 torch outputs to the engine's rounding.

Backends (``backend=``):

- ``"torch"``: eager PyTorch. For inference (:class:`TorchInference`) the weights and inputs are
  ``channels_last`` and calls run under :func:`torch.inference_mode` (1.7x faster at 2 threads,
  outputs within 1e-6).
- ``"openvino"``: OpenVINO (``pip install 'pnpleaves[engine]'``), measured the fastest
  (``docs/restoration.md``, "Inference engine").
- ``"onnxruntime"``: ONNX Runtime (``pip install 'pnpleaves[onnx]'``: onnxruntime, and onnx for the export).
- ``"auto"``: OpenVINO when installed, else ONNX Runtime, else PyTorch (with one log line), on the
  CPU; PyTorch on a GPU or for an architecture without an engine export.

Precision (``precision=``): ``"f32"``; ``"bf16"`` (OpenVINO on a CPU with native bf16, AMX or
AVX512-BF16; PyTorch by ``torch.autocast``); ``"auto"`` (the default) picks bf16 only for OpenVINO,
only where the CPU has native bf16, and only when the bf16 outputs measure at least
:data:`BF16_MIN_PSNR` dB to the fp32 PyTorch outputs on a probe (a photograph with noise at
σ = 5, 25 and 50 / 255), checked once per prior and machine and recorded in the cache; else f32.
Within 50 dB of fp32 is far below what a restoration changes (64–67 dB measured for the shipped
vl-drunet at 512², σ 2.55–50, on an AMX CPU).

An engine prior (:class:`EngineDenoiser`) keeps the fp32 torch module: a call that needs gradients
(input with ``requires_grad`` under grad mode) or a module put in train mode runs on it when the
backend was ``"auto"``, and raises a clear error when an engine was asked for by name.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib
import inspect
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from deepinv.models import DRUNet, Denoiser

from pnpleaves._checks import check_choice
from pnpleaves.errors import InputError
from pnpleaves.models import DnCNN

logger = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "BF16_MIN_PSNR",
    "CACHE_ENV",
    "ENGINE_MIN_PSNR",
    "EngineDenoiser",
    "PRECISIONS",
    "TorchInference",
    "cache_dir",
    "engine_installed",
    "make_engine_prior",
    "needs_torch",
    "select_backend",
]

BACKENDS = ("auto", "torch", "openvino", "onnxruntime")
PRECISIONS = ("auto", "f32", "bf16")
#: environment variable that overrides the cache folder
CACHE_ENV = "PNPLEAVES_CACHE_DIR"
#: "auto" precision takes bf16 only when its outputs are at least this close (PSNR, dB) to fp32 torch
BF16_MIN_PSNR = 55.0
#: an exported graph whose fp32 outputs are further than this from torch's is not used (a broken export)
ENGINE_MIN_PSNR = 50.0
#: bumped when the export format changes (old exports are then ignored)
EXPORT_FORMAT = 1
#: the Python packages each engine needs (ONNX Runtime's export needs ``onnx``), and how to install them
_PACKAGES = {"openvino": ("openvino",), "onnxruntime": ("onnxruntime", "onnx")}
_INSTALL = {"openvino": "pip install 'pnpleaves[engine]'", "onnxruntime": "pip install 'pnpleaves[onnx]'"}
#: noise levels of the bf16 probe (on the [0, 1] scale)
_PROBE_SIGMAS = (5 / 255, 25 / 255, 50 / 255)

_lock = threading.Lock()
_noted: set[str] = set()
_runners: OrderedDict[tuple, Callable[[torch.Tensor], torch.Tensor]] = OrderedDict()
_RUNNERS_MAX = 8
_code_digests: dict[type, str] = {}


def cache_dir() -> Path:
    """The folder of exported networks: ``$PNPLEAVES_CACHE_DIR``, else ``$XDG_CACHE_HOME/pnpleaves``,
    else ``~/.cache/pnpleaves``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "pnpleaves"


def engine_installed(backend: str) -> bool:
    """Whether the packages of ``backend`` ("openvino"; "onnxruntime" with "onnx") import; "torch" always does."""
    if backend == "torch":
        return True
    try:
        for package in _PACKAGES[backend]:
            importlib.import_module(package)
    except ImportError:
        return False
    return True


def _note_once(key: str, message: str, *args: Any) -> None:
    """Log ``message`` at WARNING level once per process and ``key``."""
    with _lock:
        if key in _noted:
            return
        _noted.add(key)
    logger.warning(message, *args)


def _core(module: torch.nn.Module) -> tuple[str, int] | None:
    """``(attribute, input channels)`` of the part of ``module`` that an engine runs, or None."""
    if isinstance(module, DRUNet):
        return "forward_unet", int(module.m_head.in_channels)
    if isinstance(module, DnCNN):
        return "body", int(module.body[0].in_channels)
    return None


def select_backend(backend: str, module: torch.nn.Module | None = None, device: Any = None) -> str:
    """The backend that will run: ``backend`` itself, or for ``"auto"`` OpenVINO, ONNX Runtime or torch.

    An engine runs on the CPU only and for the architectures it can export (DRUNet, DnCNN). A missing
    engine package falls back to torch with one log line per process (an engine asked for by name
    included); so does ``"auto"`` when no engine is installed.
    """
    check_choice(backend, "backend", BACKENDS,
                 hint="'auto' picks OpenVINO, then ONNX Runtime, then PyTorch; 'torch' for training and gradients.")
    if backend == "torch":
        return "torch"
    on_cpu = device is None or torch.device(device).type == "cpu"
    exportable = module is None or _core(module) is not None
    if backend != "auto":
        if not on_cpu:
            raise InputError(f"backend={backend!r} runs on the CPU only; got device {str(device)!r}. "
                             "Use backend='torch' (or 'auto') on a GPU.")
        if not exportable:
            raise InputError(f"backend={backend!r} cannot run {type(module).__name__} (only DRUNet and DnCNN are "
                             "exported); use backend='torch' or 'auto'.")
        if engine_installed(backend):
            return backend
        _note_once(f"missing:{backend}", "pnpleaves: backend %r is not installed (%s); "
                   "the prior runs on PyTorch instead", backend, _INSTALL[backend])
        return "torch"
    if not on_cpu or not exportable:
        return "torch"
    for name in ("openvino", "onnxruntime"):
        if engine_installed(name):
            return name
    _note_once("missing:auto", "pnpleaves: no inference engine installed (pip install 'pnpleaves[engine]' "
               "for OpenVINO, about 2x faster on a CPU, more with bf16); the prior runs on PyTorch")
    return "torch"


def needs_torch(module: torch.nn.Module, x: torch.Tensor) -> bool:
    """Whether a call must run on the torch module: train mode, or gradients wanted for ``x``."""
    return module.training or (torch.is_grad_enabled() and x.requires_grad)


def psnr_to(reference: torch.Tensor, other: torch.Tensor) -> float:
    """PSNR (dB, peak 1) of ``other`` to ``reference``; inf when they are equal."""
    mse = float(((other.double() - reference.double()) ** 2).mean())
    return float("inf") if mse == 0 else float(-10.0 * np.log10(mse))


# --------------------------------------------------------------------------- torch


class TorchInference(Denoiser):
    """A torch prior run for inference: ``channels_last`` weights and inputs, :func:`torch.inference_mode`,
    and with ``precision="bf16"`` :func:`torch.autocast` to bfloat16. Calls that need gradients, or a
    wrapper put in train mode, run the module as it is. The output is an ordinary (not inference) tensor.

    The module is converted to ``channels_last`` in place: pass a module of your own.
    """

    def __init__(self, module: torch.nn.Module, precision: str = "f32"):
        super().__init__()
        check_choice(precision, "precision", ("f32", "bf16"))
        self.module = module.to(memory_format=torch.channels_last)
        self.precision = precision
        self.backend = "torch"
        for attr in ("name", "arch", "arch_kwargs", "in_channels", "sigma_range", "card"):
            if hasattr(module, attr):
                setattr(self, attr, getattr(module, attr))
        self.eval()

    def forward(self, x: torch.Tensor, sigma: Any, **kwargs) -> torch.Tensor:  # noqa: D102
        if needs_torch(self, x):
            return self.module(x, sigma)
        autocast = (torch.autocast(x.device.type, dtype=torch.bfloat16) if self.precision == "bf16"
                    else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            y = self.module(x.contiguous(memory_format=torch.channels_last), sigma)
        return y.to(x.dtype).clone(memory_format=torch.contiguous_format)


# --------------------------------------------------------------------------- export and cache


class _Core(torch.nn.Module):
    """The exported part of a prior: ``getattr(module, attr)(z)`` on ``(B, C_in, H, W)``."""

    def __init__(self, module: torch.nn.Module, attr: str):
        super().__init__()
        self.module = module
        self.attr = attr

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return getattr(self.module, self.attr)(z)


def _engine_version(backend: str) -> str:
    return importlib.import_module(_PACKAGES[backend][0]).__version__.split("-")[0]


def _code_digest(module: torch.nn.Module) -> str:
    """sha256 of the source of the classes that define ``module``'s forward and exported core, so that an
    export made by other code (another pnpleaves or deepinv version, an edited tree) is not reused."""
    cached = _code_digests.get(type(module))
    if cached is not None:
        return cached
    h = hashlib.sha256()
    for cls in type(module).__mro__:
        if cls.__module__.startswith("torch."):
            break
        try:
            h.update(inspect.getsource(cls).encode())
        except (OSError, TypeError):
            h.update(f"{cls.__module__}.{cls.__qualname__}".encode())
    _code_digests[type(module)] = h.hexdigest()
    return _code_digests[type(module)]


def export_folder(digest: str, module: torch.nn.Module, backend: str) -> Path:
    """``cache_dir()/engine/<sha256>/<backend>-<version>-<architecture tag>``: where ``backend``'s export
    of the weights with this sha256 is kept (the tag also covers the source code of the network)."""
    attr, c_in = _core(module)
    arch = {"class": type(module).__name__, "attr": attr, "in": c_in, "format": EXPORT_FORMAT,
            "code": _code_digest(module), "torch": torch.__version__}
    tag = hashlib.sha256(json.dumps(arch, sort_keys=True).encode()).hexdigest()[:12]
    return cache_dir() / "engine" / digest / f"{backend}-{_engine_version(backend)}-{tag}"


def _export(module: torch.nn.Module, backend: str, folder: Path) -> None:
    """Export ``module``'s core to ``folder`` (written under a temporary name, then renamed)."""
    attr, c_in = _core(module)
    core = _Core(module, attr).eval()
    example = torch.rand(1, c_in, 64, 64, generator=torch.Generator().manual_seed(0))
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and exporter deprecation notices
            if backend == "openvino":
                import openvino as ov

                model = ov.convert_model(core, example_input=example, input=[ov.PartialShape([-1, c_in, -1, -1])])
                ov.save_model(model, str(tmp / "model.xml"), compress_to_fp16=False)
            else:
                axes = {0: "batch", 2: "height", 3: "width"}
                torch.onnx.export(core, (example,), str(tmp / "model.onnx"), dynamo=False, input_names=["z"],
                                  output_names=["out"], dynamic_axes={"z": axes, "out": axes}, opset_version=17)
        (tmp / "meta.json").write_text(json.dumps({"class": type(module).__name__, "attr": attr, "in": c_in,
                                                   "backend": backend, "format": EXPORT_FORMAT}, indent=1))
        try:
            os.rename(tmp, folder)
        except OSError:  # another process exported it meanwhile
            if not (folder / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _OpenVINORunner:
    """An OpenVINO model compiled for one precision, recompiled when torch's thread count changes."""

    def __init__(self, xml: Path, precision: str):
        import openvino as ov

        self.core = ov.Core()
        self.model = self.core.read_model(str(xml))
        self.precision = precision
        self.lock = threading.Lock()
        self.threads = 0
        self.request = None

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        with self.lock:
            threads = torch.get_num_threads()
            if self.request is None or threads != self.threads:
                compiled = self.core.compile_model(self.model, "CPU", {
                    "INFERENCE_PRECISION_HINT": self.precision, "INFERENCE_NUM_THREADS": threads,
                    "PERFORMANCE_HINT": "LATENCY"})
                self.request, self.threads = compiled.create_infer_request(), threads
            self.request.infer({0: z.detach().to("cpu", torch.float32).contiguous().numpy()})
            return torch.from_numpy(self.request.get_output_tensor(0).data.copy())


class _ONNXRuntimeRunner:
    """An ONNX Runtime session on the CPU, made anew when torch's thread count changes."""

    def __init__(self, path: Path, precision: str):
        if precision != "f32":
            raise InputError("backend='onnxruntime' runs f32 only; use precision='f32', or backend='openvino' for bf16.")
        self.path = path
        self.lock = threading.Lock()
        self.threads = 0
        self.session = None

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        import onnxruntime as ort

        with self.lock:
            threads = torch.get_num_threads()
            if self.session is None or threads != self.threads:
                opts = ort.SessionOptions()
                opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
                self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
                self.threads = threads
            out = self.session.run(None, {"z": z.detach().to("cpu", torch.float32).contiguous().numpy()})[0]
            return torch.from_numpy(out)


def _runner(folder: Path, backend: str, precision: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The (process-wide, shared) runner of an exported folder at ``precision``."""
    key = (str(folder), backend, precision)
    with _lock:
        if key in _runners:
            _runners.move_to_end(key)
            return _runners[key]
    run = (_OpenVINORunner(folder / "model.xml", precision) if backend == "openvino"
           else _ONNXRuntimeRunner(folder / "model.onnx", precision))
    with _lock:
        _runners[key] = run
        while len(_runners) > _RUNNERS_MAX:
            _runners.popitem(last=False)
    return run


def _shell(module: torch.nn.Module, run: Callable[[torch.Tensor], torch.Tensor]) -> torch.nn.Module:
    """A shallow copy of ``module`` (sharing its weights) whose core calls ``run``: its ``forward`` is the
    module's own, so the noise map, padding and tiling stay exactly the torch code."""
    attr, _ = _core(module)
    shell = copy.copy(module)
    shell.__dict__["_modules"] = OrderedDict(module._modules)  # its own table: the module is never changed
    shell.__dict__["training"] = False
    if attr in shell._modules:
        del shell._modules[attr]
    shell.__dict__[attr] = run
    return shell


def _native_bf16() -> bool:
    """Whether OpenVINO reports native bf16 on this CPU (AMX or AVX512-BF16)."""
    import openvino as ov

    try:
        return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - an engine that cannot tell has no bf16 for us
        return False


def _cpu_name() -> str:
    import openvino as ov

    try:
        return str(ov.Core().get_property("CPU", "FULL_DEVICE_NAME"))
    except Exception:  # noqa: BLE001
        return "unknown CPU"


def _probe(module: torch.nn.Module) -> list[tuple[torch.Tensor, float]]:
    """Noisy crops of a photograph (scikit-image's astronaut, 96x96) at :data:`_PROBE_SIGMAS`."""
    from skimage import data

    img = torch.from_numpy(data.astronaut()[200:296, 180:276].astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    channels = int(getattr(module, "in_channels", 3))
    if channels == 1:
        img = (img * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    g = torch.Generator().manual_seed(0)
    return [(img + s * torch.randn(img.shape, generator=g), s) for s in _PROBE_SIGMAS]


def _check(module: torch.nn.Module, folder: Path, backend: str, precision: str) -> float:
    """Worst PSNR (dB) of the engine's outputs at ``precision`` to the fp32 torch module's, on the probe;
    recorded in ``folder/checks.json`` per CPU, so it is measured once per prior and machine."""
    record = folder / "checks.json"
    key = f"{_cpu_name() if backend == 'openvino' else 'cpu'}|{precision}"
    try:
        checks = json.loads(record.read_text())
    except (OSError, ValueError):
        checks = {}
    if key in checks:
        return float(checks[key])
    shell = _shell(module, _runner(folder, backend, precision))
    worst = float("inf")
    with torch.no_grad():
        for x, s in _probe(module):
            worst = min(worst, psnr_to(module(x, s), shell(x, s)))
    checks[key] = worst if np.isfinite(worst) else 999.0
    tmp = record.with_name(f".checks.{os.getpid()}.json")
    tmp.write_text(json.dumps(checks, indent=1))
    os.replace(tmp, record)
    return worst


class EngineDenoiser(Denoiser):
    """A prior whose network runs on an inference engine: a deepinv Denoiser ``den(x, sigma)`` for inference.

    ``module`` (registered, so ``state_dict``, ``parameters`` and ``train`` reach it) is the fp32 torch
    prior; calls that need gradients, and calls in train mode, run on it when the backend was chosen by
    ``"auto"``, and raise an InputError when an engine was asked for by name. Build it with
    :func:`make_engine_prior`.
    """

    def __init__(self, module: torch.nn.Module, run: Callable[[torch.Tensor], torch.Tensor], backend: str,
                 precision: str, requested: str, psnr: float):
        super().__init__()
        self.module = module
        self.backend = backend
        self.precision = precision
        self.requested = requested
        #: worst PSNR (dB) of this engine's outputs to the fp32 torch outputs on the probe
        self.psnr_to_torch = psnr
        self.__dict__["_engine"] = _shell(module, run)
        for attr in ("name", "arch", "arch_kwargs", "in_channels", "sigma_range", "card"):
            if hasattr(module, attr):
                setattr(self, attr, getattr(module, attr))
        self.eval()

    def forward(self, x: torch.Tensor, sigma: Any, **kwargs) -> torch.Tensor:  # noqa: D102
        if needs_torch(self, x):
            if self.requested != "auto":
                raise InputError(
                    f"backend={self.requested!r} runs inference only, but this call needs gradients or train mode; "
                    "load the prior with backend='torch' (or 'auto', which then runs PyTorch) for training, "
                    "autograd, samplers and analyses that differentiate the denoiser.")
            return self.module(x, sigma)
        with torch.no_grad():
            y = self.__dict__["_engine"](x.detach().to("cpu", torch.float32), sigma)
        return y.to(device=x.device, dtype=x.dtype)

    def extra_repr(self) -> str:  # noqa: D102
        return f"backend={self.backend!r}, precision={self.precision!r}"


def make_engine_prior(module: torch.nn.Module, digest: str, backend: str, precision: str = "auto", *,
                      requested: str | None = None) -> Denoiser:
    """Run ``module`` (an fp32 torch prior on the CPU, eval mode) on ``backend`` ("openvino" or
    "onnxruntime"), exporting it to the cache on first use (:func:`export_folder`, keyed by ``digest``,
    the weights' sha256).

    ``precision="auto"`` resolves as the module docstring says. The export is checked once against the
    torch outputs: an engine further than :data:`ENGINE_MIN_PSNR` dB is not used (torch runs instead,
    with a log line, when the backend was ``"auto"``; an error otherwise).
    """
    requested = requested or backend
    check_choice(precision, "precision", PRECISIONS, hint="'auto' keeps outputs within 50 dB of fp32 PyTorch.")
    if backend == "onnxruntime" and precision == "bf16":
        raise InputError("backend='onnxruntime' runs f32 only; use precision='f32', or backend='openvino' for bf16.")
    folder = export_folder(digest, module, backend)
    if not (folder / "meta.json").is_file():
        logger.info("exporting %s for %s (once per weights file) to %s",
                    getattr(module, "name", type(module).__name__), backend, folder)
        _export(module, backend, folder)
    want = precision
    if precision == "auto":
        want = "bf16" if backend == "openvino" and _native_bf16() else "f32"
    psnr = _check(module, folder, backend, want)
    if want == "bf16" and precision == "auto" and psnr < BF16_MIN_PSNR:
        logger.info("bf16 measured %.1f dB to fp32 on the probe (< %.0f dB): using f32", psnr, BF16_MIN_PSNR)
        want = "f32"
        psnr = _check(module, folder, backend, want)
    if want == "f32" and psnr < ENGINE_MIN_PSNR:
        message = (f"the {backend} export of {getattr(module, 'name', type(module).__name__)} gives outputs "
                   f"{psnr:.1f} dB from PyTorch's (< {ENGINE_MIN_PSNR:.0f} dB)")
        if requested != "auto":
            raise RuntimeError(message + f"; delete {folder} to export it again, or use backend='torch'.")
        _note_once(f"bad:{folder}", "pnpleaves: %s; the prior runs on PyTorch", message)
        return TorchInference(module)
    logger.debug("%s on %s %s (%.1f dB to fp32 torch on the probe)", getattr(module, "name", "prior"), backend, want, psnr)
    return EngineDenoiser(module, _runner(folder, backend, want), backend, want, requested, psnr)
